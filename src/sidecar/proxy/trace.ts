// W3C Trace Context: every request leaves the proxy with a `traceparent`. An incoming one keeps its
// trace id and gets this hop's span id as parent; a missing or malformed one starts a new trace.
// Ids are random, not secret: like OpenTelemetry's JS id generator, Math.random is enough (and spares
// the proxy node:crypto's memory: filling the pool with randomFillSync saved ~1 % of the outbound
// proxy's instructions but added ~1 MB of RSS, which is at its limit).

/**
 * Random bytes hex-encoded ahead, 1 KiB at a time: an id is a slice of this text. Encoding 16 bytes
 * per id natively cost a binding call per id (~5 % of the outbound proxy's JavaScript time, three
 * ids per request); one call per 64 ids does not show.
 */
const POOL_BYTES = 1024;
/** The pool as 32-bit words (filled a word at a time, no Buffer method per word) and as bytes (hex-encoded). */
const poolWords = new Uint32Array(POOL_BYTES / 4);
const pool = Buffer.from(poolWords.buffer);
let poolHex = '';
let poolAt = POOL_BYTES * 2;

/**
 * `bytes` random bytes (8 or 16) as lower-case hex, never all zeros (W3C: an all-zero id is
 * invalid). Ids are cut at 8-byte boundaries of the pool and the pool never holds an all-zero
 * 8-byte group (one is redrawn: a 2^-64 event), so no id needs checking — reading its 16–32
 * characters back one by one cost more than the rest of making it.
 */
export function randomHex(bytes: 8 | 16): string {
  const chars = bytes * 2;
  if (poolAt + chars > poolHex.length) refill();
  const id = poolHex.slice(poolAt, poolAt + chars);
  poolAt += chars;
  return id;
}

/** A random source filling `n` words of `words` from `at` (all of it without them). */
export type FillWords = (words: Uint32Array, at?: number, n?: number) => void;

/** Math.random's 32 bits per word. */
function mathRandomWords(words: Uint32Array, at = 0, n = words.length - at): void {
  for (let i = at; i < at + n; i++) words[i] = (Math.random() * 0x100000000) >>> 0;
}

/** Fills `words` from `fill`, redrawing every all-zero pair of words (an 8-byte group: a 2^-64 event). */
export function fillIdWords(words: Uint32Array, fill: FillWords): void {
  fill(words);
  for (let i = 0; i < words.length; i += 2) {
    while (words[i] === 0 && words[i + 1] === 0) fill(words, i, 2);
  }
}

function refill(): void {
  fillIdWords(poolWords, mathRandomWords);
  poolHex = pool.toString('hex');
  poolAt = 0;
}

/** W3C Trace Context §3.2's `traceparent` shape: version, trace id, parent id, flags, and (a later version) more fields. */
const TRACEPARENT = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}(?:-.*)?$/;

/**
 * W3C Trace Context §3.2 (as OpenTelemetry's propagator reads it): version, trace id, parent id and
 * flags in lower-case hex. Version ff is invalid; version 00 is exactly these 55 characters; a later
 * version may carry more fields after a '-', of which only the first four are read. A regular
 * expression's test() (no match array, no captures: no garbage), which also beats a hand loop here:
 * the value is a slice of the request head's text, and reading a sliced string character by
 * character costs more than the compiled expression's scan (test/unit/proxy/trace-w3c.test.ts
 * checks it against the spec's rules on random input).
 */
export function validTraceparent(tp: string): boolean {
  if (tp.length < 55 || !TRACEPARENT.test(tp)) return false;
  const v0 = tp.charCodeAt(0);
  const v1 = tp.charCodeAt(1);
  if (v0 === 102 && v1 === 102) return false; // version ff
  if (v0 === 48 && v1 === 48 && tp.length !== 55) return false; // version 00 has no more fields
  return !allZero(tp, 3, 35) && !allZero(tp, 36, 52);
}

function allZero(s: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (s.charCodeAt(i) !== 48) return false;
  return true;
}

/**
 * Sets `traceparent` on the (upstream-bound) headers; returns the trace id for the access log. A
 * valid incoming one keeps its trace id and flags; otherwise a new trace starts and `tracestate`,
 * which belongs to the invalid parent, is dropped (W3C §3.3.1.1).
 */
export function propagateTrace(headers: Record<string, string | string[] | undefined>): string {
  const cur = headers.traceparent;
  if (typeof cur === 'string' && validTraceparent(cur)) {
    const traceId = cur.slice(3, 35);
    headers.traceparent = `00-${traceId}-${randomHex(8)}-${cur.slice(53, 55)}`;
    return traceId;
  }
  if (headers.tracestate !== undefined) delete headers.tracestate;
  const traceId = randomHex(16);
  headers.traceparent = `00-${traceId}-${randomHex(8)}-01`;
  return traceId;
}
