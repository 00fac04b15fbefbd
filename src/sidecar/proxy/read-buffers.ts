// Read buffers for connections, reused once a connection closed. Each connection reads into a
// buffer of its own (client-reads.ts, upstream-client.ts). Allocated one by one, a closed
// connection's buffer lingered as garbage until a full GC (an upstream pool reconnecting 50 sockets
// left 12.5 MB of 256 KiB buffers behind each time), and long-lived small buffers scattered over
// the malloc heap kept it from shrinking (the sidecar's RSS crept up by a few MB under wrk). Small
// buffers are therefore cut from slabs of SLAB_REGIONS, and every buffer goes back to its size's
// spares when its connection closes. A buffer is given back only once nothing reads into it (its
// socket closed) and no reader holds a view of it: readers copy what they keep, or make the socket
// take a fresh buffer first.
// copyBytes, the data path's copy between such buffers, is here too.

/** Buffers up to this size come from slabs. */
const SLAB_MAX_SIZE = 64 * 1024;
const SLAB_REGIONS = 32;
/** Spare buffers kept per size: slab regions are all kept, large buffers up to this many bytes (32 of 256 KiB, 8 of 1 MiB). */
const LARGE_SPARE_BYTES = 8 * 1024 * 1024;
const spares = new Map<number, Buffer[]>();

/** An unzeroed buffer of `size` bytes: a spare one if there is one. */
export function takeReadBuffer(size: number): Buffer {
  const spare = spares.get(size)?.pop();
  if (spare) return spare;
  if (size > SLAB_MAX_SIZE) return Buffer.allocUnsafeSlow(size);
  const slab = Buffer.allocUnsafeSlow(size * SLAB_REGIONS);
  const list = sparesOf(size);
  for (let i = SLAB_REGIONS - 1; i > 0; i--) list.push(slab.subarray(i * size, (i + 1) * size));
  return slab.subarray(0, size);
}

/** Gives back a buffer nothing reads into and nobody holds a view of any more. */
export function giveBackReadBuffer(buf: Buffer): void {
  const list = sparesOf(buf.length);
  if (buf.length <= SLAB_MAX_SIZE || (list.length + 1) * buf.length <= LARGE_SPARE_BYTES) list.push(buf);
}

/**
 * The size of a connection's next read buffer, one of `sizes` (ascending), after a read of `n` bytes
 * into one of `size`. A read that fills its buffer says more is waiting: the next goes into the next
 * size up (a 1 MiB body then crosses a hop in ~4 reads and writes instead of ~16: −15 % CPU per MiB
 * in bench/proxy-body's downloads at 1 MiB against 256 KiB). A read under a sixteenth of a larger
 * buffer (the small requests and answers that follow) brings the connection back to the first size,
 * so an idle or chatty connection holds only that.
 */
export function nextReadSize(sizes: readonly number[], size: number, n: number): number {
  if (n === size) {
    const i = sizes.indexOf(size);
    return i >= 0 && i < sizes.length - 1 ? sizes[i + 1] : size;
  }
  return size > sizes[0] && n < size / 16 ? sizes[0] : size;
}

/** Whether `view` lies within `buf`'s bytes. */
export function isViewOf(view: Buffer, buf: Buffer): boolean {
  return view.buffer === buf.buffer && view.byteOffset >= buf.byteOffset && view.byteOffset < buf.byteOffset + buf.length;
}

function sparesOf(size: number): Buffer[] {
  let list = spares.get(size);
  if (!list) spares.set(size, (list = []));
  return list;
}

/**
 * A view of the `n` bytes net read into `b` for a socket whose read buffer is `own`: subarray() of
 * that buffer when it is the one (the cheapest way to a view, ~800 instructions against ~1,100 for
 * Buffer.from over its ArrayBuffer).
 */
export function readView(own: Buffer, b: Uint8Array, n: number): Buffer {
  return b === own ? own.subarray(0, n) : Buffer.from(b.buffer, b.byteOffset, n);
}

/** Where a connection keeps the DataView over its read buffer (wordsOver). */
export interface WordsCache {
  wordsOf?: Uint8Array;
  words?: DataView;
}

/**
 * A DataView over `buf`'s bytes (the head parsers read header values 4 bytes at a time), made once
 * per read buffer and kept on `holder`: making one per head cost ~900 instructions.
 */
export function wordsOver(holder: WordsCache, buf: Uint8Array): DataView {
  if (holder.wordsOf !== buf || holder.words === undefined) {
    holder.wordsOf = buf;
    holder.words = new DataView(buf.buffer, buf.byteOffset, buf.length);
  }
  return holder.words;
}

/**
 * Copies bytes [from, to) of `src` into `dst` at `at`; returns where the copy ends. The cheapest way
 * depends on the case (measured here, callgrind and wall time): a whole buffer by TypedArray#set
 * (~33 ns), a few bytes by a loop (~2.5 ns a byte), a part of a buffer by set() of a view (~110 ns,
 * the view's making most of it). Buffer.copy makes that view even for a whole buffer's copy.
 */
export function copyBytes(src: Uint8Array, from: number, to: number, dst: Uint8Array, at: number): number {
  const n = to - from;
  if (from === 0 && n === src.length) dst.set(src, at);
  else if (n > 40) dst.set(src.subarray(from, to), at);
  else for (let i = from; i < to; i++) dst[at + i - from] = src[i];
  return at + n;
}

/**
 * A head gathered from several reads (a slow or hostile peer's 60 KiB, a byte at a time): each read
 * is added to a store that grows by doubling, so a read copies only its own bytes. A new buffer per
 * read (Buffer.concat) copied everything gathered so far, every time, and left as much garbage.
 */
export class GatheredBytes {
  private store: Buffer | undefined;

  /**
   * `held` (what was gathered, or any other bytes) followed by `d`, as a view of the store; `cap`:
   * the store grows to at most this (more only when the bytes need it). Writes only past the end of
   * `held` when `held` is the store's own front, so views handed out earlier keep their bytes.
   */
  append(held: Buffer, d: Uint8Array, cap: number): Buffer {
    const had = held.length;
    const length = had + d.length;
    let store = this.store;
    if (store === undefined || held.buffer !== store.buffer || held.byteOffset !== store.byteOffset || store.length < length) {
      store = Buffer.allocUnsafe(Math.max(length, Math.min(2 * length, cap), 1024));
      copyBytes(held, 0, had, store, 0);
      this.store = store;
    }
    copyBytes(d, 0, d.length, store, had);
    return store.subarray(0, length);
  }
}

/**
 * Whether bytes from `from` on hold the end of a head: an LF followed by CRLF or by another LF (the
 * blank line, or what a strict parser refuses as one). A head read in parts is searched only in its
 * new bytes, from 2 before them.
 */
export function blankLineFrom(buf: Uint8Array, from: number): boolean {
  for (let i = from; i < buf.length - 1; i++) {
    if (buf[i] !== 10) continue;
    if (buf[i + 1] === 10 || (buf[i + 1] === 13 && (i + 2 >= buf.length || buf[i + 2] === 10))) return true;
  }
  return false;
}
