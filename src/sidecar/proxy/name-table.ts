// Header names recognised four bytes at a time. V8 reads a typed array's byte for ~20 instructions
// in a loop here (the element's map, base pointer and bounds are checked again on every read), so
// finding a name's colon byte by byte and then comparing the name with a known one cost ~40
// instructions per name byte. A DataView word costs about as much as one byte: a known name and
// its colon are compared as a few 32-bit words, which also proves them valid token characters.

/** Slots of the first-word index (a power of two), and names a slot can hold (names sharing their first 4 bytes share a slot: content-*, accept-*). */
const SLOT_BITS = 6;
const PER_SLOT = 8;

/**
 * A fixed set of lower-case header names (or tokens). match() says which of them, followed by its
 * terminator (a colon after a name; a CR after a whole value), is at a place in a head, comparing
 * letters without case and every other byte exactly: for a letter, `byte | 0x20` equals it only for
 * its two cases; other bytes of a name (`-`, digits) are compared as they are, because `| 0x20`
 * would also turn a CR into `-`. Everything match() reads is in three typed arrays (one element
 * load each, no array of arrays to walk).
 */
export class NameTable {
  /** The names, in the order given; match() answers an index into this. */
  readonly names: readonly string[];
  /** Per name, from offsets[i]: its word count, then per word of the name and terminator (little-endian): the word, what is OR-ed into it (0x20 on letters), the bytes that count. */
  private readonly data: Int32Array;
  private readonly offsets: Int32Array;
  /** Per name: its length with the terminator. */
  private readonly lengths: Int32Array;
  /** PER_SLOT entries per slot of the first word's hash: name index + 1, 0 after the last. */
  private readonly slots = new Int32Array(PER_SLOT << SLOT_BITS);

  /** `terminator`: the byte that must follow a name (its colon by default). */
  constructor(names: readonly string[], terminator = ':') {
    this.names = names;
    const data: number[] = [];
    this.offsets = new Int32Array(names.length);
    this.lengths = new Int32Array(names.length);
    names.forEach((name, i) => {
      // Three bytes at least, so that the first word is all name (and terminator).
      if (name.length < 3 || !/^[a-z0-9-]+$/.test(name)) throw new Error(`NameTable: ${JSON.stringify(name)} is not a lower-case name of 3 characters or more`);
      const pattern = name + terminator;
      const n = Math.ceil(pattern.length / 4);
      const words = new Int32Array(n);
      const masks = new Int32Array(n);
      const keeps = new Int32Array(n);
      for (let k = 0; k < pattern.length; k++) {
        const c = pattern.charCodeAt(k);
        const shift = (k & 3) * 8;
        words[k >> 2] |= c << shift;
        keeps[k >> 2] |= 0xff << shift;
        if (c >= 97 && c <= 122) masks[k >> 2] |= 0x20 << shift;
      }
      this.offsets[i] = data.length;
      this.lengths[i] = pattern.length;
      data.push(n);
      for (let w = 0; w < n; w++) data.push(words[w], masks[w], keeps[w]);
      const slot = slotOf(words[0] | 0x20202020) * PER_SLOT;
      let j = 0;
      while (j < PER_SLOT && this.slots[slot + j] !== 0) j++;
      if (j === PER_SLOT) throw new Error(`NameTable: too many names share a slot with ${JSON.stringify(name)}`);
      this.slots[slot + j] = i + 1;
    });
    this.data = Int32Array.from(data);
  }

  /**
   * The index of the name whose bytes, and its terminator right after them, are at `at` of `dv`,
   * all before `limit`; -1 when none is (an unknown name, or too near the end to tell: the caller reads
   * byte by byte then). Reads whole words, possibly past `limit` but never past `bound`: bytes
   * [0, bound) of `dv` may be read (the caller's typed array over them gives it: a DataView's own
   * byteLength getter is a builtin call, not inlined).
   */
  match(dv: DataView, at: number, limit: number, bound: number): number {
    if (at + 4 > bound) return -1;
    const first = dv.getInt32(at, true);
    const slot = slotOf(first | 0x20202020) * PER_SLOT;
    const { data, slots } = this;
    for (let j = 0; j < PER_SLOT; j++) {
      const i = slots[slot + j] - 1;
      if (i < 0) return -1;
      const o = this.offsets[i];
      const n = data[o];
      if (at + this.lengths[i] > limit || at + n * 4 > bound) continue;
      if (((first | data[o + 2]) & data[o + 3]) !== data[o + 1]) continue;
      let w = 1;
      for (; w < n; w++) {
        const p = o + 1 + w * 3;
        if (((dv.getInt32(at + w * 4, true) | data[p + 1]) & data[p + 2]) !== data[p]) break;
      }
      if (w === n) return i;
    }
    return -1;
  }
}

/** A first word's slot (Fibonacci hashing). */
function slotOf(word: number): number {
  return Math.imul(word, 0x9e3779b1) >>> (32 - SLOT_BITS);
}
