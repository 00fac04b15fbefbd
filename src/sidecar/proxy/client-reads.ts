// How the proxy reads a client's connection. node:net reads an accepted socket through the stream
// machinery: a fresh 64 KiB allocation per read (malloc'd, then shrunk to the bytes read), a Buffer
// built around it, Readable.push and a nextTick per read. That was a tenth of a sidecar's CPU per
// small request (bench/proxy-cpu; a bare relay pair measured 20.5 → 17.7 µs per request per hop
// the same way). Client sockets opened by the proxy already read through net's `onread` into a
// buffer of their own (upstream-client.ts); this gives accepted connections the same: the server
// accepts paused, and the connection's handle is taken over by a socket created with `onread`.
//
// A read is handed over as a view into the connection's buffer, valid during the call: whoever
// keeps bytes beyond it calls `retain()`, which copies a small piece (pooled, cheap) or, for a large
// one, lets the piece keep the buffer and gives the socket a fresh one for its next read. A read
// that fills the buffer grows it (16 KiB → 256 KiB → 1 MiB, nextReadSize): a connection of small
// requests holds 16 KiB, an upload reads up to 1 MiB at a time (Node reads 64 KiB).
//
// Without a receiver (`detach()`: the connection went to node:http, an HTTP/2 session or a tunnel)
// the socket is an ordinary Readable again: each read is pushed as its own Buffer and 'data' flows.
import net from 'node:net';
import { readDirectly } from './direct-read.js';
import { giveBackReadBuffer, isViewOf, nextReadSize, readView, takeReadBuffer, wordsOver, type WordsCache } from './read-buffers.js';

const FIRST_SIZE = 16 * 1024;
const READ_SIZES = [FIRST_SIZE, 256 * 1024, 1024 * 1024] as const;
/** Retained pieces up to this size are copied; larger ones keep the read buffer. */
const COPY_LIMIT = 16 * 1024;

/** The bytes of a connection, read by read. */
export interface ReadSource {
  /** Each read goes to `receive` from now on (a view valid during the call: see retain()). */
  attach(receive: (bytes: Buffer) => void): void;
  /** Reads go to the socket's 'data' events again. */
  detach(): void;
  /** What to keep of a view beyond the call that received it. */
  retain(view: Buffer): Buffer;
  /** The view itself stays referenced beyond the call (never copied: the socket reads into a fresh buffer next). */
  keep(view: Buffer): void;
  /** A DataView over the bytes of `view` when it is the read being received (undefined otherwise: the caller makes one). */
  wordsFor(view: Buffer): DataView | undefined;
}

/**
 * A request body stream whose consumer can take read-buffer views as they are (lean-server.ts): it
 * sets `passThrough` while it writes each piece out at once and keeps nothing else of it, and
 * `keptLast` when the piece it was just given is still referenced (a write still queued). A piece it
 * consumed at once leaves the read buffer free for the next read: an upload's reads then need no
 * fresh 256 KiB buffer each.
 */
export interface PassThroughBody {
  passThrough: boolean;
  keptLast: boolean;
}

/** Whether `body` offers PassThroughBody. */
export function isPassThroughBody(body: object): body is PassThroughBody {
  return 'passThrough' in body && 'keptLast' in body;
}

/** A plain socket's 'data' events (each chunk is the reader's to keep). */
export class DataEvents implements ReadSource {
  private receive: ((bytes: Buffer) => void) | undefined;

  constructor(private readonly socket: net.Socket) {}

  attach(receive: (bytes: Buffer) => void): void {
    if (this.receive) this.socket.off('data', this.receive);
    this.receive = receive;
    this.socket.on('data', receive);
  }

  detach(): void {
    if (this.receive) this.socket.off('data', this.receive);
    this.receive = undefined;
  }

  retain(view: Buffer): Buffer {
    return view;
  }

  keep(): void {}

  wordsFor(): undefined {
    return undefined;
  }
}

/** An accepted connection read into a buffer of its own (see the file comment). */
export class ClientReads implements ReadSource, WordsCache {
  private buf = takeReadBuffer(FIRST_SIZE);
  private kept = false;
  /** The read being received (set during the receive call only), and the DataView over its buffer. */
  private view: Buffer | undefined;
  wordsOf?: Uint8Array;
  words?: DataView;
  private receive: ((bytes: Buffer) => void) | undefined;
  readonly socket: net.Socket;

  /**
   * Takes over `accepted` (a socket of `server`, accepted paused: `server.pauseOnConnect`), which
   * is not to be used any more: `socket` is the connection from here on.
   */
  constructor(accepted: net.Socket, server: net.Server) {
    const old = accepted as unknown as { _handle: unknown };
    const handle = old._handle;
    old._handle = null;
    const { allowHalfOpen } = server as unknown as { allowHalfOpen: boolean };
    const opts = { handle, allowHalfOpen, readable: true, writable: true, onread: { buffer: () => this.buf, callback: (n: number, b: Uint8Array) => this.read(n, b) } };
    this.socket = new net.Socket(opts as net.SocketConstructorOpts);
    // The server counts its connections down when this socket closes (as it would have for `accepted`).
    Object.assign(this.socket, { server, _server: server });
    // Once the handle is closed nothing reads into the buffer, and no reader holds a view of it
    // (what they keep was copied, or took a buffer of its own).
    this.socket.once('close', () => giveBackReadBuffer(this.buf));
    readDirectly(this.socket, opts.onread.callback, opts.onread.buffer);
  }

  attach(receive: (bytes: Buffer) => void): void {
    this.receive = receive;
  }

  detach(): void {
    this.receive = undefined;
  }

  retain(view: Buffer): Buffer {
    if (!isViewOf(view, this.buf)) return view;
    if (view.length <= COPY_LIMIT) return Buffer.from(view);
    this.kept = true;
    return view;
  }

  keep(view: Buffer): void {
    if (isViewOf(view, this.buf)) this.kept = true;
  }

  wordsFor(view: Buffer): DataView | undefined {
    // The view starts where the read buffer does: a DataView over the buffer reads the view's bytes at the same offsets.
    return view === this.view ? wordsOver(this, this.buf) : undefined;
  }

  /** net's onread callback: false stops reading (a Readable that wants no more for now). */
  private read(n: number, b: Uint8Array): boolean {
    const view = readView(this.buf, b, n);
    let more = true;
    this.view = b === this.buf ? view : undefined;
    if (this.receive) this.receive(view);
    else more = this.socket.push(this.retain(view));
    this.view = undefined;
    // net asks for the next read's buffer after this returns.
    const size = nextReadSize(READ_SIZES, this.buf.length, n);
    if (this.kept || size !== this.buf.length) {
      if (!this.kept) giveBackReadBuffer(this.buf);
      this.buf = takeReadBuffer(size);
      this.kept = false;
    }
    return more;
  }
}
