// Writes a request or response head straight to a TCP socket's libuv handle, past net.Socket's
// Writable, when nothing is queued in front of it. A Writable write of a small piece costs about
// 3,000 instructions (write → writeOrBuffer → a WriteWrap built → the handle's write → an
// after-write tick on the next turn); the handle's own write about 1,400, most of it the system
// call (callgrind, Node 20). Each proxied request writes twice per hop, so this is ~6 % of a hop's
// user-space work.
//
// Why it is safe: libuv keeps one write queue per stream, and a write that finds it non-empty joins
// its tail, so the order of bytes is the order of calls whichever way they were written; shutdown
// (socket.end()) waits for that queue. A write the kernel did not take at once stays owned by its
// request object, which holds the Buffer until libuv wrote it (a string is copied), and a failure
// destroys the socket, as net does. What the Writable does not see is that write's size: callers use this only for a head
// and a small body (≤ DIRECT_LIMIT), so back-pressure is off by at most that much, once.
//
// The handle API is Node's internal stream binding (stream-binding.ts). Where it is missing or has
// another shape, every write goes through socket.write as before; test/unit/proxy/direct-write.test.ts
// checks the bytes, their order with queued writes, a write the kernel takes in parts, and an error.
import type net from 'node:net';
import { getSystemErrorName } from 'node:util';
import { streamBinding as loaded, type WriteReq } from './stream-binding.js';

/** Larger writes go through the Writable (its back-pressure accounting sees them). */
export const DIRECT_LIMIT = 64 * 1024;

interface TcpHandle {
  writeBuffer(req: WriteReq, data: Uint8Array): number;
  writeLatin1String(req: WriteReq, data: string): number;
}

/** What of net's Writable state the check reads (fields and state-bit getters of WritableState). */
interface WritableStateView {
  length: number;
  corked: number;
  destroyed: boolean;
  ending: boolean;
}

type HandleSocket = net.Socket & { _handle?: unknown; _writableState?: WritableStateView };

/** The request object of the next write; replaced when a write stays pending (that one then belongs to it). */
let req: WriteReq | undefined = loaded ? new loaded.stream.WriteWrap() : undefined;

/** True when writes to this socket can go to its handle now: a connected TCP socket with nothing queued or corked. */
function directHandle(socket: HandleSocket): TcpHandle | undefined {
  if (!loaded) return undefined;
  const handle = socket._handle;
  if (!(handle instanceof loaded.TCP) || socket.connecting) return undefined;
  // Read off the Writable's state itself: the Duplex getters (destroyed, writableEnded,
  // writableLength, writableCorked) cost ~70 instructions each, four per write.
  const ws = socket._writableState;
  if (ws === undefined) {
    if (socket.destroyed || socket.writableEnded || socket.writableLength !== 0 || socket.writableCorked !== 0) return undefined;
  } else if (ws.destroyed || ws.ending || ws.length !== 0 || ws.corked !== 0) return undefined;
  return handle as unknown as TcpHandle;
}

/**
 * Writes `data` (a Buffer, or a string as latin1) to `socket`, straight to its handle when it can.
 * Returns what socket.write would: false only when the Writable path queued past its mark.
 */
export function writeNow(socket: net.Socket, data: Buffer | string): boolean {
  const handle = data.length <= DIRECT_LIMIT ? directHandle(socket) : undefined;
  if (!handle || !req) return typeof data === 'string' ? socket.write(data, 'latin1') : socket.write(data);
  const r = req;
  r.handle = handle;
  const err = typeof data === 'string' ? handle.writeLatin1String(r, data) : handle.writeBuffer(r, data);
  if (err !== 0) {
    // Nothing was written (a closed or reset connection): net's own write reports it the usual way.
    return typeof data === 'string' ? socket.write(data, 'latin1') : socket.write(data);
  }
  if (loaded!.stream.streamBaseState[loaded!.stream.kLastWriteWasAsync] !== 0) {
    // The kernel took part of it: the rest is queued in libuv under `r`, which is now that write's.
    // libuv reads a Buffer's bytes where they are when the socket can take them: the request holds
    // the Buffer until then (as net's own writes do), or a GC could free that memory first and the
    // peer would get whatever is there by then. (A string was copied by the handle.)
    if (typeof data !== 'string') r.buffer = data;
    r.oncomplete = (status: number) => {
      if (status < 0) socket.destroy(Object.assign(new Error(`write ${getSystemErrorName(status)}`), { code: getSystemErrorName(status), errno: status, syscall: 'write' }));
    };
    req = new loaded!.stream.WriteWrap();
  }
  return true;
}
