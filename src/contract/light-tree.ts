// The positions of a spec read by light-yaml, kept compact: one row per node (mapping, list or
// scalar) in typed arrays — its kind, start offset, first and last child, next sibling and, under a
// mapping, its key's offsets — instead of an object per node. A 10 MB spec has about 620,000
// nodes: 18 MB here, where a tree of objects took over a hundred. Lookups by key build an index for
// a mapping only when it is first searched, so locating each of thousands of problems costs O(depth).

export const SCALAR = 0;
export const MAP = 1;
export const SEQ = 2;

/** Mappings and lists with more children than this get an index on first lookup; smaller ones are scanned. */
const SCAN_LIMIT = 8;

export class LightTree {
  count = 0;
  private kind: Uint8Array;
  private startAt: Int32Array;
  private firstChild: Int32Array;
  private lastChild: Int32Array;
  private nextSibling: Int32Array;
  /** Key offsets of a mapping's child: [start, end) of a plain key; start only for a quoted key. */
  private keyStartAt: Int32Array;
  private keyEndAt: Int32Array;
  /** Decoded quoted keys by node (plain keys are read from the text). */
  private readonly quotedKeys = new Map<number, string>();
  private readonly keyIndex = new Map<number, Map<string, number>>();
  private readonly itemIndex = new Map<number, number[]>();

  constructor(private readonly text: string) {
    // Specs have about one node per 16 to 20 characters: sized so that most never grow.
    const n = Math.max(1024, text.length >> 4);
    this.kind = new Uint8Array(n);
    this.startAt = new Int32Array(n);
    this.firstChild = new Int32Array(n);
    this.lastChild = new Int32Array(n);
    this.nextSibling = new Int32Array(n);
    this.keyStartAt = new Int32Array(n);
    this.keyEndAt = new Int32Array(n);
  }

  private grow(): void {
    const n = this.kind.length * 2;
    const kind = new Uint8Array(n);
    kind.set(this.kind);
    this.kind = kind;
    const g = (a: Int32Array): Int32Array => {
      const b = new Int32Array(n);
      b.set(a);
      return b;
    };
    this.startAt = g(this.startAt);
    this.firstChild = g(this.firstChild);
    this.lastChild = g(this.lastChild);
    this.nextSibling = g(this.nextSibling);
    this.keyStartAt = g(this.keyStartAt);
    this.keyEndAt = g(this.keyEndAt);
  }

  /** Adds a node under `parent` (-1 for the root); `keyStart` is -1 when it is not a mapping's value. */
  add(kind: number, start: number, parent: number, keyStart: number, keyEnd: number, quotedKey: string | undefined): number {
    if (this.count === this.kind.length) this.grow();
    const id = this.count++;
    this.kind[id] = kind;
    this.startAt[id] = start;
    this.firstChild[id] = -1;
    this.lastChild[id] = -1;
    this.nextSibling[id] = -1;
    this.keyStartAt[id] = keyStart;
    this.keyEndAt[id] = keyEnd;
    if (quotedKey !== undefined) this.quotedKeys.set(id, quotedKey);
    if (parent >= 0) {
      const last = this.lastChild[parent];
      if (last < 0) this.firstChild[parent] = id;
      else this.nextSibling[last] = id;
      this.lastChild[parent] = id;
    }
    return id;
  }

  kindOf(id: number): number {
    return this.kind[id];
  }

  start(id: number): number {
    return this.startAt[id];
  }

  keyStart(id: number): number {
    return this.keyStartAt[id];
  }

  private keyOf(id: number): string {
    return this.quotedKeys.get(id) ?? this.text.slice(this.keyStartAt[id], this.keyEndAt[id]);
  }

  private keyIs(id: number, key: string): boolean {
    const quoted = this.quotedKeys.get(id);
    if (quoted !== undefined) return quoted === key;
    const s = this.keyStartAt[id];
    return this.keyEndAt[id] - s === key.length && this.text.startsWith(key, s);
  }

  private childCount(id: number): number {
    let n = 0;
    for (let c = this.firstChild[id]; c >= 0; c = this.nextSibling[c]) n++;
    return n;
  }

  /** The child of mapping `id` under `key` (the first, as the `yaml` library's lookups), or -1. */
  child(id: number, key: string): number {
    let index = this.keyIndex.get(id);
    if (index === undefined) {
      if (this.childCount(id) <= SCAN_LIMIT) {
        for (let c = this.firstChild[id]; c >= 0; c = this.nextSibling[c]) if (this.keyIs(c, key)) return c;
        return -1;
      }
      index = new Map();
      for (let c = this.firstChild[id]; c >= 0; c = this.nextSibling[c]) {
        const k = this.keyOf(c);
        if (!index.has(k)) index.set(k, c);
      }
      this.keyIndex.set(id, index);
    }
    return index.get(key) ?? -1;
  }

  /** Item `i` of list `id`, or -1. */
  item(id: number, i: number): number {
    let items = this.itemIndex.get(id);
    if (items === undefined) {
      if (this.childCount(id) <= SCAN_LIMIT) {
        let c = this.firstChild[id];
        for (let k = 0; k < i && c >= 0; k++) c = this.nextSibling[c];
        return c;
      }
      items = [];
      for (let c = this.firstChild[id]; c >= 0; c = this.nextSibling[c]) items.push(c);
      this.itemIndex.set(id, items);
    }
    return i < items.length ? items[i] : -1;
  }
}
