// Positions for a spec read by light-yaml: the same answers as YamlLocator (positions.ts), from
// the light tree of offsets. The tree is read only when the first position is asked for, so a
// spec without problems never builds it; base and overlay locators share that one reading.
import type { Locator, PathSeg, Position } from './positions.js';
import { readLightYaml, type LightMap, type LightNode } from './light-yaml.js';

interface Found {
  node: LightNode | undefined;
  /** Offset of the last segment's key (a list item is its own key). */
  key: number | undefined;
  depth: number;
  last: LightNode;
}

const INDEX = /^\d+$/;

function startOf(node: LightNode): number {
  return typeof node === 'number' ? node : node.start;
}

/** The index of `key` in a mapping; the key → index map is built on the first lookup, so a lookup costs O(1). */
function indexOf(map: LightMap, key: string): number | undefined {
  let index = map.index;
  if (index === undefined) {
    index = new Map();
    for (let i = 0; i < map.keys.length; i++) if (!index.has(map.keys[i])) index.set(map.keys[i], i);
    map.index = index;
  }
  return index.get(key);
}

/** Walks `path` from `root` as YamlLocator's find() does (first key wins; list indexes as numbers or digit strings). */
function find(root: LightNode, path: readonly PathSeg[]): Found {
  let node: LightNode | undefined = root;
  let key: number | undefined;
  let last: LightNode = root;
  let depth = 0;
  for (const seg of path) {
    const n: LightNode | undefined = node;
    if (typeof n === 'object' && n.kind === 'map') {
      const i = indexOf(n, String(seg));
      if (i === undefined) break;
      key = n.keyStarts[i];
      node = n.values[i];
    } else if (typeof n === 'object' && n.kind === 'seq') {
      const idx = typeof seg === 'number' ? seg : INDEX.test(seg) ? Number(seg) : -1;
      if (idx < 0 || idx >= n.items.length) break;
      node = n.items[idx];
      key = startOf(node);
    } else {
      break;
    }
    depth++;
    last = node;
  }
  return { node, key, depth, last };
}

/** The shared, lazily built part: the tree and the line starts of the text. */
export class LightPositions {
  private tree: LightMap | undefined;
  private lineStarts: number[] | undefined;
  constructor(private readonly text: string) {}

  /** The tree; throws if the text no longer reads (it was read once already, so it cannot happen). */
  root(): LightMap {
    if (this.tree === undefined) {
      const read = readLightYaml(this.text, true);
      if (read?.tree === undefined) throw new Error('the spec text could not be read again with positions');
      this.tree = read.tree;
    }
    return this.tree;
  }

  /** 1-based line and column of an offset (as the `yaml` library's LineCounter). */
  linePos(offset: number): Position {
    if (this.lineStarts === undefined) {
      const starts = [0];
      const t = this.text;
      for (let i = t.indexOf('\n'); i >= 0; i = t.indexOf('\n', i + 1)) starts.push(i + 1);
      this.lineStarts = starts;
    }
    const s = this.lineStarts;
    let lo = 0;
    let hi = s.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (s[mid] <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, col: offset - s[lo] + 1 };
  }
}

export class LightLocator implements Locator {
  private overlayRoot: LightNode | undefined;
  private overlayLooked = false;
  constructor(
    private readonly positions: LightPositions,
    private readonly overlay?: string,
  ) {}

  private fromFound(f: Found, path: readonly PathSeg[], mode: 'value' | 'key'): Position {
    const complete = f.depth === path.length;
    if (complete && mode === 'key' && f.key !== undefined) return this.positions.linePos(f.key);
    if (complete && f.node !== undefined) return this.positions.linePos(startOf(f.node));
    return this.positions.linePos(startOf(f.last));
  }

  locate(path: readonly PathSeg[], mode: 'value' | 'key' = 'value'): Position {
    const root = this.positions.root();
    const base = find(root, path);
    if (this.overlay !== undefined && !this.overlayLooked) {
      this.overlayRoot = find(root, ['environments', this.overlay]).node;
      this.overlayLooked = true;
    }
    if (this.overlay !== undefined && this.overlayRoot !== undefined && path.length > 0) {
      const ov = find(this.overlayRoot, path);
      // As YamlLocator: the merged value comes from the overlay when the overlay has the whole
      // path, when it replaced a list or scalar on the way, or when it reaches deeper than the base.
      const fromOverlay = ov.depth === path.length || (ov.depth > 0 && (typeof ov.node !== 'object' || ov.node.kind !== 'map')) || ov.depth > base.depth;
      if (fromOverlay) return { ...this.fromFound(ov, path, mode), overlay: this.overlay };
    }
    return this.fromFound(base, path, mode);
  }
}
