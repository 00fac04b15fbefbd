// A socket that reads into a buffer of its own (net's `onread` option) gets each read through net's
// onStreamRead: the socket looked up on the handle by a symbol, its timeout refreshed, three more
// symbol-keyed loads for the buffer and the callbacks, the next buffer asked for and type-checked.
// At two reads per request and hop that was ~1,200 instructions per request, most of it property
// loads that see many shapes (megamorphic). readDirectly() puts a handle callback of its own in
// front: a read of n > 0 bytes goes to the callback at once (what net does for it, without the
// lookups); everything else — the end of the stream, an error, a zero-byte read — goes on to net's
// onStreamRead, which handles it as ever.
import type net from 'node:net';
import { getSystemErrorName } from 'node:util';
import { streamBinding } from './stream-binding.js';

interface ReadingHandle {
  onread: (this: ReadingHandle, arrayBuffer?: ArrayBuffer) => unknown;
  reading: boolean;
  readStop(): number;
}

/**
 * Routes `socket`'s reads of n > 0 bytes to `callback(n, buffer)` (the buffer read into: the one
 * `nextBuffer()` last gave; false stops reading until socket.resume(), as net's onread callback),
 * and takes the buffer of the next read from `nextBuffer()` after each. `nextBuffer()` must give
 * the buffer the socket was made with when this is called. `onEnd(n)` sees the end of the stream
 * and read errors (n < 0, a libuv error code) first: true when it handled them (net does not see
 * them then). False, and nothing changed, where this Node's handle is not what it expects.
 */
export function readDirectly(socket: net.Socket, callback: (n: number, buffer: Uint8Array) => boolean, nextBuffer: () => Uint8Array, onEnd?: (n: number) => boolean): boolean {
  const handle = (socket as unknown as { _handle?: Partial<ReadingHandle> | null })._handle;
  if (!streamBinding || !handle || typeof handle.onread !== 'function' || typeof handle.readStop !== 'function') return false;
  const { streamBaseState, kReadBytesOrError } = streamBinding.stream;
  const netOnread = handle.onread;
  const timed = socket as unknown as { timeout?: number; _unrefTimer(): void };
  let current = nextBuffer();
  handle.onread = function (this: ReadingHandle, arrayBuffer?: ArrayBuffer): unknown {
    const n = streamBaseState[kReadBytesOrError];
    if (n <= 0) {
      if (n < 0 && onEnd?.(n)) return undefined;
      return netOnread.call(this, arrayBuffer);
    }
    // As net: a destroyed socket's bytes are dropped; a socket timeout is refreshed by every read.
    if (socket.destroyed) return undefined;
    if (timed.timeout) timed._unrefTimer();
    const more = callback(n, current);
    current = nextBuffer();
    if (!more) {
      this.reading = false;
      if (!socket.destroyed) {
        const err = this.readStop();
        if (err) socket.destroy(Object.assign(new Error(`read ${getSystemErrorName(err)}`), { code: getSystemErrorName(err), errno: err, syscall: 'read' }));
      }
    }
    // The handle reads into the buffer returned here next.
    return current;
  };
  return true;
}
