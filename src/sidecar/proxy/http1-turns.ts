// The rules the lean path keeps (lean-server.ts), kept for connections node:http serves instead (an
// unusual request — `Expect`, a transfer coding before chunked, a head split over reads — hands the
// connection over). node:http parses every request pipelined in what it has read and emits them all
// at once: forwarded as they came, a burst behind one slow request reached the app by the hundreds
// and grew the proxy's memory. Here a connection's requests are served one at a time, the
// connection not read while one waits (so what is queued is at most one read's worth). And node:http
// has no timeout for a body that stops coming (its requestTimeout cuts slow uploads that progress
// too): a body with no progress for a whole period is answered 408 and its connection closed, as on
// the lean path.
import type http from 'node:http';
import type net from 'node:net';
import { rawAnswer } from './http-syntax.js';

interface Turns {
  busy: boolean;
  waiting: (() => void)[];
}

const turnsOf = new WeakMap<net.Socket, Turns>();

/** Runs `serve` once every earlier request of the same connection was answered (or its connection closed). */
export function inTurn(req: http.IncomingMessage, res: http.ServerResponse, serve: () => void): void {
  const socket = req.socket;
  let turns = turnsOf.get(socket);
  if (!turns) turnsOf.set(socket, (turns = { busy: false, waiting: [] }));
  const t = turns;
  const go = (): void => {
    t.busy = true;
    // 'close' comes after the response finished, or when the connection went first.
    res.once('close', () => {
      t.busy = false;
      const next = t.waiting.shift();
      if (next) next();
      else if (!socket.destroyed) socket.resume();
    });
    serve();
  };
  if (!t.busy) return go();
  t.waiting.push(go);
  // node:http stops reading the socket's handle on 'pause'; what it already read is parsed and queued here.
  socket.pause();
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
  const timer = setInterval(() => {
    if (req.complete || socket.destroyed) return clearInterval(timer);
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
  }, ms);
  timer.unref();
  res.once('close', () => clearInterval(timer));
}
