// Header names recognised four bytes at a time. V8 reads a typed array's byte for ~20 instructions
// in a loop here (the element's map, base pointer and bounds are checked again on every read), so
// finding a name's colon byte by byte and then comparing the name with a known one cost ~40
// instructions per name byte. A DataView word costs about as much as one byte: a known name and
// its colon are compared as a few 32-bit words, which also proves them valid token characters.

/** Slots of the first-word index (a power of two). */
const SLOT_BITS = 6;

/**
 * A fixed set of lower-case header names (or tokens). match() says which of them, followed by its
 * terminator (a colon after a name; a CR after a whole value), is at a place in a head, comparing letters without case and every other byte exactly: for a letter,
 * `byte | 0x20` equals it only for its two cases; other bytes of a name (`-`, digits) are compared
 * as they are, because `| 0x20` would also turn a CR into `-`.
 */
export class NameTable {
  /** The names, in the order given; match() answers an index into this. */
  readonly names: readonly string[];
  /** Per name: the name and its colon as little-endian words; what is OR-ed into each word (0x20 on letters); the bytes that count (the last word may be partial). */
  private readonly words: Int32Array[] = [];
  private readonly masks: Int32Array[] = [];
  private readonly keeps: Int32Array[] = [];
  /** Per slot of the first word's hash: the indexes of the names that start with such a word. */
  private readonly slots: number[][] = Array.from({ length: 1 << SLOT_BITS }, () => []);

  /** `terminator`: the byte that must follow a name (its colon by default). */
  constructor(names: readonly string[], terminator = ':') {
    this.names = names;
    names.forEach((name, i) => {
      // Three bytes at least, so that the first word is all name (and colon).
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
      this.words.push(words);
      this.masks.push(masks);
      this.keeps.push(keeps);
      this.slots[slotOf(words[0] | 0x20202020)].push(i);
    });
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
    const list = this.slots[slotOf(dv.getInt32(at, true) | 0x20202020)];
    for (let j = 0; j < list.length; j++) {
      const i = list[j];
      const words = this.words[i];
      if (at + this.names[i].length + 1 > limit || at + words.length * 4 > bound) continue;
      const masks = this.masks[i];
      const keeps = this.keeps[i];
      let same = true;
      for (let w = 0; w < words.length; w++) {
        if (((dv.getInt32(at + w * 4, true) | masks[w]) & keeps[w]) !== words[w]) {
          same = false;
          break;
        }
      }
      if (same) return i;
    }
    return -1;
  }
}

/** A first word's slot (Fibonacci hashing). */
function slotOf(word: number): number {
  return Math.imul(word, 0x9e3779b1) >>> (32 - SLOT_BITS);
}
