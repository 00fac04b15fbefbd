// W3C Trace Context: every request leaves the proxy with a `traceparent`. An incoming one keeps its
// trace id and gets this hop's span id as parent; a missing or malformed one starts a new trace.
// Ids are random, not secret: like OpenTelemetry's JS id generator, a Math.random-grade generator is
// enough (and spares the proxy node:crypto's memory: filling the pool with randomFillSync saved ~1 %
// of the outbound proxy's instructions but added ~1 MB of RSS, which is at its limit).

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

/**
 * Ids formatted ahead, 32 at a time, into a text whose fixed characters (dashes, version, flags)
 * are written once: a refill only puts hex digits in, four at a time (hexGroup: a V8 typed-array
 * store costs ~20 instructions here, a digit computed in a register ~1), and an id is one slice of
 * the text — no pieces to concatenate, nothing for V8 to flatten when the header is written.
 */
const IDS_PER_FILL = 32;

/** The 4 lower-case hex digits of the 16-bit `v` as a little-endian word (the first digit in the low byte). */
export function hexGroup(v: number): number {
  // One nibble per byte (first digit lowest), then '0' added to each and 'a' − '9' − 1 more to those >= 10.
  const nibbles = ((v >>> 12) & 0xf) | (v & 0xf00) | ((v << 12) & 0xf0000) | ((v << 24) & 0xf000000);
  const letters = ((nibbles + 0x06060606) >>> 4) & 0x01010101;
  return (nibbles + 0x30303030 + letters * 0x27) | 0;
}

/** A text of IDS_PER_FILL ids shaped as `template` (its fixed characters written once); `fill` puts the digits of all of them into the bytes' view. */
class IdTexts {
  private readonly bytes: Buffer;
  private readonly view: DataView;
  private text = '';
  private at = 0;

  constructor(
    private readonly template: string,
    private readonly fill: (view: DataView) => void,
  ) {
    this.bytes = Buffer.from(template.repeat(IDS_PER_FILL), 'latin1');
    this.view = new DataView(this.bytes.buffer, this.bytes.byteOffset, this.bytes.length);
  }

  next(): string {
    const n = this.template.length;
    if (this.at === this.text.length) {
      this.fill(this.view);
      this.text = this.bytes.toString('latin1');
      this.at = 0;
    }
    const id = this.text.slice(this.at, this.at + n);
    this.at += n;
    return id;
  }
}

const uuidWords = new Uint32Array(4 * IDS_PER_FILL);
const uuids = new IdTexts('xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx', (view) => {
  poolSource(uuidWords);
  for (let u = 0, at = 0; u < IDS_PER_FILL; u++, at += 36) {
    const w0 = uuidWords[u * 4];
    const w1 = uuidWords[u * 4 + 1];
    const w2 = uuidWords[u * 4 + 2];
    const w3 = uuidWords[u * 4 + 3];
    view.setInt32(at, hexGroup(w0 >>> 16), true);
    view.setInt32(at + 4, hexGroup(w0 & 0xffff), true);
    view.setInt32(at + 9, hexGroup(w1 >>> 16), true);
    view.setInt32(at + 14, hexGroup((w1 & 0x0fff) | 0x4000), true); // version 4
    view.setInt32(at + 19, hexGroup(((w2 >>> 16) & 0x3fff) | 0x8000), true); // variant 10xx
    view.setInt32(at + 24, hexGroup(w2 & 0xffff), true);
    view.setInt32(at + 28, hexGroup(w3 >>> 16), true);
    view.setInt32(at + 32, hexGroup(w3 & 0xffff), true);
  }
});

/** A random (version 4) UUID. */
export function randomUuid(): string {
  return uuids.next();
}

/** Six words per traceparent: a trace id (two 8-byte groups) and a span id (one), none all zero (fillIdWords). */
const traceWords = new Uint32Array(6 * IDS_PER_FILL);
const traceparents = new IdTexts('00-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx-xxxxxxxxxxxxxxxx-01', (view) => {
  fillIdWords(traceWords, poolSource);
  for (let t = 0, at = 0; t < IDS_PER_FILL; t++, at += 55) {
    // The trace id's 32 digits from 3, the span id's 16 from 36: 8 digits per word.
    for (let w = 0; w < 4; w++) put8(view, at + 3 + w * 8, traceWords[t * 6 + w]);
    put8(view, at + 36, traceWords[t * 6 + 4]);
    put8(view, at + 44, traceWords[t * 6 + 5]);
  }
});

/** A word's 8 hex digits at `at`. */
function put8(view: DataView, at: number, word: number): void {
  view.setInt32(at, hexGroup(word >>> 16), true);
  view.setInt32(at + 4, hexGroup(word & 0xffff), true);
}

/** A new trace's `traceparent` (version 00, sampled). */
export function freshTraceparent(): string {
  return traceparents.next();
}

/** A random source filling `n` words of `words` from `at` (all of it without them). */
export type FillWords = (words: Uint32Array, at?: number, n?: number) => void;

/**
 * A xoshiro128** generator (Blackman and Vigna: 128 bits of state, period 2^128 − 1, 32-bit
 * words): the same family as V8's Math.random (xorshift128+), but a word costs a few integer
 * operations here where a Math.random call cost ~190 instructions (~1,800 per request, 4 % of the
 * outbound proxy's). `seed` is four 32-bit words, not all zero.
 */
export function xoshiroWords(seed: readonly [number, number, number, number]): FillWords {
  // The state lives in a typed array and in locals while a fill runs: kept in closure variables,
  // every update of a value past 2^30 boxed a new heap number (~90 instructions per word, not ~15).
  const state = Int32Array.from(seed);
  if ((state[0] | state[1] | state[2] | state[3]) === 0) throw new Error('xoshiro128** needs a seed that is not all zeros');
  return (words, at = 0, n = words.length - at) => {
    let s0 = state[0];
    let s1 = state[1];
    let s2 = state[2];
    let s3 = state[3];
    for (let i = at; i < at + n; i++) {
      const x = Math.imul(s1, 5);
      words[i] = Math.imul((x << 7) | (x >>> 25), 9);
      const t = s1 << 9;
      s2 ^= s0;
      s3 ^= s1;
      s1 ^= s2;
      s0 ^= s3;
      s2 ^= t;
      s3 = (s3 << 11) | (s3 >>> 21);
    }
    state[0] = s0;
    state[1] = s1;
    state[2] = s2;
    state[3] = s3;
  };
}

/** Math.random seeds the generator (V8 seeds it from the system's entropy): four words, redrawn in the 2^-128 case of all zeros. */
function mathRandomSeed(): [number, number, number, number] {
  const word = (): number => (Math.random() * 0x100000000) >>> 0;
  for (;;) {
    const seed: [number, number, number, number] = [word(), word(), word(), word()];
    if ((seed[0] | seed[1] | seed[2] | seed[3]) !== 0) return seed;
  }
}

const poolSource = xoshiroWords(mathRandomSeed());

/** Fills `words` from `fill`, redrawing every all-zero pair of words (an 8-byte group: a 2^-64 event). */
export function fillIdWords(words: Uint32Array, fill: FillWords): void {
  fill(words);
  for (let i = 0; i < words.length; i += 2) {
    while (words[i] === 0 && words[i + 1] === 0) fill(words, i, 2);
  }
}

function refill(): void {
  fillIdWords(poolWords, poolSource);
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
  if (tp === checkedTraceparent) return true;
  if (tp.length < 55 || !TRACEPARENT.test(tp)) return false;
  const v0 = tp.charCodeAt(0);
  const v1 = tp.charCodeAt(1);
  if (v0 === 102 && v1 === 102) return false; // version ff
  if (v0 === 48 && v1 === 48 && tp.length !== 55) return false; // version 00 has no more fields
  return !allZero(tp, 3, 35) && !allZero(tp, 36, 52);
}

/**
 * The last `traceparent` value the request parser found valid in the head's bytes
 * (validTraceparentBytes): validTraceparent() answers for it without reading it again. Its string
 * comparison is a pointer check for that very value, and compares the text for any other (a
 * rewritten header), so a stale entry can only answer for an equal, thus valid, value.
 */
let checkedTraceparent: string | undefined;

/** Notes a `traceparent` value the parser found valid (see checkedTraceparent). */
export function noteValidTraceparent(tp: string): void {
  checkedTraceparent = tp;
}

/**
 * validTraceparent over bytes [from, to) of a head (`b` a typed array over them, `dv` a view of at
 * least the same bytes, at the same offsets): the hex of the two ids read 4 bytes at a time (the expression cost ~2,000
 * instructions per request on a sliced string; this ~300).
 */
export function validTraceparentBytes(dv: DataView, b: Uint8Array, from: number, to: number): boolean {
  const n = to - from;
  if (n < 55 || (n > 55 && b[from + 55] !== 45)) return false;
  if (!hexByte(b[from]) || !hexByte(b[from + 1]) || b[from + 2] !== 45 || b[from + 35] !== 45 || b[from + 52] !== 45) return false;
  if (!hexByte(b[from + 53]) || !hexByte(b[from + 54])) return false;
  const v0 = b[from];
  const v1 = b[from + 1];
  if (v0 === 102 && v1 === 102) return false; // version ff
  if (v0 === 48 && v1 === 48 && n !== 55) return false; // version 00 has no more fields
  let zeros = 0;
  for (let at = from + 3; at < from + 35; at += 4) {
    const x = dv.getInt32(at, true);
    if (!hexWord4(x)) return false;
    if (x === ZERO_DIGITS) zeros++;
  }
  if (zeros === 8) return false;
  zeros = 0;
  for (let at = from + 36; at < from + 52; at += 4) {
    const x = dv.getInt32(at, true);
    if (!hexWord4(x)) return false;
    if (x === ZERO_DIGITS) zeros++;
  }
  return zeros !== 4;
}

/** Four '0' digits as a word. */
const ZERO_DIGITS = 0x30303030;

function hexByte(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 97 && c <= 102);
}

/**
 * Whether all four bytes of `x` are lower-case hex digits. For a byte below 0x80, adding 0x80 − k
 * sets its top bit exactly when it is >= k, with no carry into the next byte: a digit is >= '0' and
 * not >= ':', a letter >= 'a' and not >= 'g'. A byte of 0x80 or more passes neither test, with or
 * without a carry from below (its sums land outside both windows), so the word fails whatever its
 * carries did to the bytes above it.
 */
function hexWord4(x: number): boolean {
  const digit = ((x + 0x50505050) | 0) & ~((x + 0x46464646) | 0);
  const letter = ((x + 0x1f1f1f1f) | 0) & ~((x + 0x19191919) | 0);
  return ((digit | letter) & 0x80808080) === (0x80808080 | 0);
}

function allZero(s: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (s.charCodeAt(i) !== 48) return false;
  return true;
}

/**
 * The trace-flags this hop sends on, from a valid incoming traceparent's: sampled (0x01) and, of
 * W3C Trace Context Level 2, random (0x02, the trace id is kept, so it still holds); the bits the
 * spec reserves go out as zero, as it requires of every participant.
 */
export function forwardedFlags(flags: string): string {
  if (flags === '01' || flags === '00') return flags;
  return `0${(parseInt(flags, 16) & 0x03).toString(16)}`;
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
    headers.traceparent = `00-${traceId}-${randomHex(8)}-${forwardedFlags(cur.slice(53, 55))}`;
    return traceId;
  }
  if (headers.tracestate !== undefined) delete headers.tracestate;
  const tp = freshTraceparent();
  headers.traceparent = tp;
  return tp.slice(3, 35);
}
