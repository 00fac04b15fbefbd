// The rules the lean path keeps (lean-server.ts), kept for connections node:http serves instead (an
// unusual request — `Expect`, a transfer coding before chunked, a head split over reads — hands the
// connection over). node:http parses every request pipelined in what it has read and emits them all
// at once: forwarded as they came, a burst behind one slow request reached the app by the hundreds
// and grew the proxy's memory. Here a connection's requests are served one at a time, and the
// connection is not read while many wait (so what is queued stays bounded). And node:http
// has no timeout for a body that stops coming (its requestTimeout cuts slow uploads that progress
// too): a body with no progress for a whole period is answered 408 and its connection closed, as on
// the lean path. An Upgrade or CONNECT request is handed over by node:http at once, whatever is
// still being answered on its connection: it too waits until every earlier answer went out
// (afterTurns), or its answer would be written into theirs.
import type http from 'node:http';
import type net from 'node:net';
import { rawAnswer } from './http-syntax.js';

/** What inTurn knows of one connection's requests. */
interface Turns {
  /** Requests whose response node:http has not given the connection yet. */
  waiting: number;
  /** Requests whose response has not closed yet (waiting, or being answered). */
  open: number;
  /** The hand-over of an Upgrade or CONNECT, waiting for every earlier response (afterTurns). */
  then?: () => void;
}

const turnsOf = new WeakMap<net.Socket, Turns>();

/**
 * Requests of one connection that may wait for their turn before the socket is no longer read. The
 * socket keeps being read below it so that a client who leaves is seen (node:http then aborts what
 * waits); beyond it, what waits is bounded by one read's worth of requests.
 */
const MAX_WAITING = 16;

/**
 * Runs `serve` when node:http gives `res` the connection: at once for a request with nothing before
 * it, otherwise once every earlier response on the connection finished ('socket'). A connection that
 * closes first, or whose earlier response was its last (`connection: close`), never gives it: such a
 * request is never served (forwarded to an app nobody could answer for).
 */
export function inTurn(req: http.IncomingMessage, res: http.ServerResponse, serve: () => void): void {
  if (res.socket) return serve();
  const socket = req.socket;
  const t = turnsFor(socket);
  t.open++;
  res.once('close', () => {
    if (--t.open === 0 && t.then) t.then();
  });
  // node:http stops reading the socket's handle on 'pause'; what it already read is parsed and waits here.
  if (++t.waiting >= MAX_WAITING) socket.pause();
  res.once('socket', () => {
    // (Not while an Upgrade or CONNECT waits: the socket is then left unread for it, afterTurns.)
    if (t.waiting-- === MAX_WAITING && !t.then) socket.resume();
    // node:http also hands the connection on after the client left (its requests were aborted) or
    // after the connection was ended: an answer could not reach anyone, so the request is not served.
    if (req.destroyed || socket.destroyed || !socket.writable) return;
    serve();
  });
}

function turnsFor(socket: net.Socket): Turns {
  let turns = turnsOf.get(socket);
  if (!turns) {
    const t: Turns = { waiting: 0, open: 0 };
    turnsOf.set(socket, (turns = t));
    // node:http resumes a socket it paused itself (its writes backed up) when they drain: not while too many wait here.
    socket.on('resume', () => {
      if (t.waiting >= MAX_WAITING || t.then) socket.pause();
    });
  }
  return turns;
}

/** The response node:http is writing on `socket` (its own field: set while one owns the connection). */
function responseOn(socket: net.Socket): http.ServerResponse | null | undefined {
  return (socket as net.Socket & { _httpMessage?: http.ServerResponse | null })._httpMessage;
}

/**
 * Runs `handOver` once every response to the requests before an Upgrade or CONNECT on `socket` has
 * gone out (at once when none is open), the socket then still open: node:http hands the connection
 * over as soon as it parses such a request, while earlier ones may still wait for, or be in, their
 * answer. If the connection closes first — the client left, or an earlier answer was its last —
 * `handOver` never runs. node:http no longer listens to the socket after the hand-over, so until
 * then this stands in for it: an error closes the socket; its 'drain' is passed on to the response
 * writing (node's own relay is gone, and a large answer would wait for it forever); and the socket
 * is not read (what the client sends after the upgrade's head stays buffered for the tunnel).
 */
export function afterTurns(socket: net.Socket, handOver: () => void): void {
  if (!socket.listenerCount('error')) socket.on('error', () => socket.destroy());
  const t = turnsFor(socket);
  if (t.open === 0 && !responseOn(socket)) return handOver();
  const relayDrain = (): void => {
    const res = responseOn(socket);
    if (!res?.writableNeedDrain) return;
    needDrainKey ??= Object.getOwnPropertySymbols(res).find((k) => k.description === 'kNeedDrain');
    if (needDrainKey) (res as unknown as Record<symbol, boolean>)[needDrainKey] = false;
    res.emit('drain');
  };
  const run = (): void => {
    t.then = undefined;
    if (socket.destroyed || !socket.writable) return void socket.destroy();
    // A response node:http made itself (a 417 to an unknown Expect, a 400 for a missing Host) may
    // own the connection still: written at once, it is not done until its 'finish' ran (and closed
    // the connection if it was the last).
    const other = responseOn(socket);
    if (other) {
      t.then = run;
      return void other.once('close', run);
    }
    socket.off('drain', relayDrain);
    // node:http armed its keep-alive timeout after the last answer; it no longer listens for it.
    socket.setTimeout(0);
    // As node:http left it at the hand-over: read once the handler listens.
    (socket as { readableFlowing: boolean | null }).readableFlowing = null;
    handOver();
  };
  t.then = run;
  socket.on('drain', relayDrain);
  socket.pause();
  if (t.open === 0) run();
}

/** OutgoingMessage's own flag for "a write returned false" (what 'drain' answers), found on first use. */
let needDrainKey: symbol | undefined;

/** Whether requests of `socket` wait for their turn (its reading may have been stopped by inTurn, not by the client). */
export function waitingForTurn(socket: net.Socket): boolean {
  return (turnsOf.get(socket)?.waiting ?? 0) > 0;
}

/**
 * Gives a request node:http serves the lean path's `bodyLimit` (LeanRequest.bodyLimit: a handler's
 * limit on a body of no declared length, Infinity until one sets it): node:http's parser hands each
 * piece to `push`, counted here; past the limit the connection is answered 413 and closed (written on
 * the socket, as the 408 below), so whoever forwards the body sees its client gone — a chunked
 * invocation sent with `Expect: 100-continue` (curl does for bodies over 1 MiB) streamed past it.
 */
export function limitBody(req: http.IncomingMessage, res: http.ServerResponse): void {
  const limited = req as http.IncomingMessage & { bodyLimit: number };
  limited.bodyLimit = Infinity;
  let bytes = 0;
  const push = req.push.bind(req);
  req.push = (chunk: unknown, encoding?: BufferEncoding): boolean => {
    if (chunk === null || (bytes += (chunk as Buffer).length) <= limited.bodyLimit) return push(chunk, encoding);
    const socket = req.socket;
    if (res.headersSent || !socket.writable) socket.destroy();
    else socket.end(rawAnswer('413 Payload Too Large'), () => socket.destroy());
    return false;
  };
}

/**
 * Answers 408 and closes the connection when `req`'s body makes no progress for a whole period of
 * `ms` while node:http would take more of it: it reads the socket until the body's buffer is full,
 * whether or not anyone consumes it yet, so a full buffer (back-pressure from the upstream, a
 * request waiting for an instance) is the only way a body is held back without the client's doing.
 */
export function watchBodyProgress(req: http.IncomingMessage, res: http.ServerResponse, ms: number): void {
  const socket = req.socket;
  let seen = socket.bytesRead;
  // Decided a turn after the timer (as the lean path's bodyCheck): what came while this process was not running is read first.
  let over = false;
  const check = (): void => {
    if (over || req.complete || socket.destroyed) return clearInterval(timer);
    const now = socket.bytesRead;
    const held = req.readableLength >= req.readableHighWaterMark;
    if (now !== seen || held) {
      seen = now;
      return;
    }
    clearInterval(timer);
    // Written on the socket, not through `res`: the response stays unfinished, so whoever forwards
    // the request sees its client gone and gives up the upstream call.
    if (res.headersSent || !socket.writable) return void socket.destroy();
    socket.end(rawAnswer('408 Request Timeout'), () => socket.destroy());
  };
  const timer = setInterval(() => setImmediate(check), ms);
  timer.unref();
  res.once('close', () => {
    over = true;
    clearInterval(timer);
  });
}
