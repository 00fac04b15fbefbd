// A validating scanner for one JSON log line, for the json parser's fast path: instead of building
// the parsed object, it finds the top-level members and proves that the line is already in the exact
// form JSON.stringify would give its parsed value (no whitespace, canonical strings and numbers,
// keys in an order JSON.parse keeps, no duplicate keys). Then the line's own text can be spliced into
// outgoing documents unchanged. Anything else — and anything it is not sure about — is answered with
// FALLBACK, and the caller takes the JSON.parse path; the scanner itself never throws.

/** Top-level members found by the last successful scan (offsets into the scanned text). */
export interface ScannedMembers {
  count: number;
  /** Key text (between its quotes; keys never hold escapes on the fast path). */
  keyStart: Int32Array;
  keyEnd: Int32Array;
  /** Value token [start, end). */
  valueStart: Int32Array;
  valueEnd: Int32Array;
  /** Per value: STRING, STRING_ESCAPED, NUMBER or OTHER. */
  valueKind: Uint8Array;
}

export const STRING = 1;
export const STRING_ESCAPED = 2;
export const NUMBER = 3;
export const OTHER = 4;

export const SCANNED = 0;
/** The text cannot take the fast path: use JSON.parse (which decides whether it is JSON at all). */
export const FALLBACK = 1;

const MAX_MEMBERS = 256;
const MAX_DEPTH = 32;

export const members: ScannedMembers = {
  count: 0,
  keyStart: new Int32Array(MAX_MEMBERS),
  keyEnd: new Int32Array(MAX_MEMBERS),
  valueStart: new Int32Array(MAX_MEMBERS),
  valueEnd: new Int32Array(MAX_MEMBERS),
  valueKind: new Uint8Array(MAX_MEMBERS),
};

// Set by scanString: the string held at least one escape.
let escaped = false;

/** `t` starts with `{` (leading whitespace already trimmed). Fills `members` and returns SCANNED, or FALLBACK. */
export function scanJsonObject(t: string): number {
  const n = t.length;
  if (t.charCodeAt(0) !== 0x7b) return FALLBACK;
  let i = 1;
  let count = 0;
  if (t.charCodeAt(i) === 0x7d) {
    i++;
  } else {
    for (;;) {
      if (count === MAX_MEMBERS || t.charCodeAt(i) !== 0x22) return FALLBACK;
      const ks = i + 1;
      const ke = scanKey(t, ks);
      if (ke < 0) return FALLBACK;
      // Duplicate keys: JSON.parse keeps the last value at the first one's place; not spliceable.
      const klen = ke - ks;
      for (let m = 0; m < count; m++) {
        if (members.keyEnd[m] - members.keyStart[m] === klen && sameText(t, members.keyStart[m], ks, klen)) return FALLBACK;
      }
      i = ke + 1;
      if (t.charCodeAt(i) !== 0x3a) return FALLBACK;
      i++;
      const vs = i;
      const c = t.charCodeAt(i);
      let kind = OTHER;
      if (c === 0x22) {
        i = scanString(t, i + 1);
        kind = escaped ? STRING_ESCAPED : STRING;
      } else if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
        i = scanNumber(t, i);
        kind = NUMBER;
      } else i = scanValue(t, i, 1);
      if (i < 0) return FALLBACK;
      members.keyStart[count] = ks;
      members.keyEnd[count] = ke;
      members.valueStart[count] = vs;
      members.valueEnd[count] = i;
      members.valueKind[count] = kind;
      count++;
      const d = t.charCodeAt(i);
      if (d === 0x2c) {
        i++;
        continue;
      }
      if (d === 0x7d) {
        i++;
        break;
      }
      return FALLBACK;
    }
  }
  // JSON.parse accepts trailing JSON whitespace only.
  for (; i < n; i++) {
    const c = t.charCodeAt(i);
    if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) return FALLBACK;
  }
  members.count = count;
  return SCANNED;
}

/**
 * A key: no escapes, not an array index candidate (JSON.parse would move those first), not
 * `__proto__`. Returns the index of its closing quote, or -1.
 */
function scanKey(t: string, i: number): number {
  const first = t.charCodeAt(i);
  if (first >= 0x30 && first <= 0x39) return -1;
  const end = scanString(t, i);
  if (end < 0 || escaped) return -1;
  if (end - i === 10 && t.startsWith('__proto__"', i)) return -1;
  return end - 1;
}

/** From just after an opening quote: index just after the closing quote, or -1 when not canonical. */
function scanString(t: string, i: number): number {
  escaped = false;
  for (;;) {
    const c = t.charCodeAt(i);
    if (c === 0x22) return i + 1;
    if (c === 0x5c) {
      escaped = true;
      const e = t.charCodeAt(i + 1);
      // The escapes JSON.stringify itself writes: \" \\ \b \f \n \r \t and \u00XX (lower-case hex) for other controls.
      if (e === 0x22 || e === 0x5c || e === 0x62 || e === 0x66 || e === 0x6e || e === 0x72 || e === 0x74) {
        i += 2;
        continue;
      }
      if (e === 0x75 && t.charCodeAt(i + 2) === 0x30 && t.charCodeAt(i + 3) === 0x30) {
        const h = t.charCodeAt(i + 4);
        const l = t.charCodeAt(i + 5);
        const lo = l >= 0x30 && l <= 0x39 ? l - 0x30 : l >= 0x61 && l <= 0x66 ? l - 0x57 : -1;
        if ((h === 0x30 || h === 0x31) && lo >= 0) {
          const code = (h - 0x30) * 16 + lo;
          if (code !== 8 && code !== 9 && code !== 10 && code !== 12 && code !== 13) {
            i += 6;
            continue;
          }
        }
      }
      return -1;
    }
    if (c < 0x20 || Number.isNaN(c)) return -1; // raw control character (invalid JSON) or end of text
    if (c >= 0xd800 && c <= 0xdfff) {
      // Only whole surrogate pairs (a lone surrogate is written escaped by JSON.stringify).
      if (c > 0xdbff) return -1;
      const d = t.charCodeAt(i + 1);
      if (!(d >= 0xdc00 && d <= 0xdfff)) return -1;
      i += 2;
      continue;
    }
    i++;
  }
}

/** A JSON number that JSON.stringify would write the same way; index after it, or -1. */
function scanNumber(t: string, start: number): number {
  let i = start;
  if (t.charCodeAt(i) === 0x2d) i++;
  const d0 = t.charCodeAt(i);
  if (d0 === 0x30) i++;
  else if (d0 >= 0x31 && d0 <= 0x39) {
    i++;
    while (isDigit(t.charCodeAt(i))) i++;
  } else return -1;
  let simple = true;
  if (t.charCodeAt(i) === 0x2e) {
    simple = false;
    i++;
    if (!isDigit(t.charCodeAt(i))) return -1;
    while (isDigit(t.charCodeAt(i))) i++;
  }
  const e = t.charCodeAt(i);
  if (e === 0x65 || e === 0x45) {
    simple = false;
    i++;
    const s = t.charCodeAt(i);
    if (s === 0x2b || s === 0x2d) i++;
    if (!isDigit(t.charCodeAt(i))) return -1;
    while (isDigit(t.charCodeAt(i))) i++;
  }
  const len = i - start;
  if (simple && len <= 15) {
    // An integer below 2^53 without a leading zero is written back as is; "-0" becomes "0".
    if (len === 2 && t.charCodeAt(start) === 0x2d && d0 === 0x30) return -1;
    return i;
  }
  const tok = t.slice(start, i);
  const v = Number(tok);
  return Number.isFinite(v) && !Object.is(v, -0) && String(v) === tok ? i : -1;
}

function sameText(t: string, a: number, b: number, len: number): boolean {
  for (let k = 0; k < len; k++) if (t.charCodeAt(a + k) !== t.charCodeAt(b + k)) return false;
  return true;
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/** Any canonical JSON value at `i`; index after it, or -1. */
function scanValue(t: string, i: number, depth: number): number {
  const c = t.charCodeAt(i);
  if (c === 0x22) return scanString(t, i + 1);
  if (c === 0x2d || (c >= 0x30 && c <= 0x39)) return scanNumber(t, i);
  if (c === 0x74) return t.startsWith('true', i) ? i + 4 : -1;
  if (c === 0x66) return t.startsWith('false', i) ? i + 5 : -1;
  if (c === 0x6e) return t.startsWith('null', i) ? i + 4 : -1;
  if (depth >= MAX_DEPTH) return -1;
  if (c === 0x5b) {
    i++;
    if (t.charCodeAt(i) === 0x5d) return i + 1;
    for (;;) {
      i = scanValue(t, i, depth + 1);
      if (i < 0) return -1;
      const d = t.charCodeAt(i);
      if (d === 0x2c) i++;
      else if (d === 0x5d) return i + 1;
      else return -1;
    }
  }
  if (c === 0x7b) {
    i++;
    if (t.charCodeAt(i) === 0x7d) return i + 1;
    let keys: string[] | undefined;
    for (;;) {
      if (t.charCodeAt(i) !== 0x22) return -1;
      const ks = i + 1;
      const ke = scanKey(t, ks);
      if (ke < 0) return -1;
      const key = t.slice(ks, ke);
      if (keys === undefined) keys = [key];
      else if (keys.includes(key)) return -1;
      else keys.push(key);
      i = ke + 1;
      if (t.charCodeAt(i) !== 0x3a) return -1;
      i = scanValue(t, i + 1, depth + 1);
      if (i < 0) return -1;
      const d = t.charCodeAt(i);
      if (d === 0x2c) i++;
      else if (d === 0x7d) return i + 1;
      else return -1;
    }
  }
  return -1;
}
