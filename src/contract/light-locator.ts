// Positions for a spec read by light-yaml: the same answers as YamlLocator (positions.ts), from
// the light tree of offsets. The tree is read only when the first position is asked for, so a
// spec without problems never builds it; base and overlay locators share that one reading.
import type { Locator, PathSeg, Position } from './positions.js';
import { readLightYaml } from './light-yaml.js';
import { MAP, SEQ, type LightTree } from './light-tree.js';

interface Found {
  node: number;
  /** Offset of the last segment's key (a list item is its own key); -1 when no segment was found. */
  key: number;
  depth: number;
}

const INDEX = /^\d+$/;

/** Walks `path` from node `root` as YamlLocator's find() does (list indexes as numbers or digit strings). */
function find(tree: LightTree, root: number, path: readonly PathSeg[]): Found {
  let node = root;
  let key = -1;
  let depth = 0;
  for (const seg of path) {
    const kind = tree.kindOf(node);
    let next: number;
    if (kind === MAP) {
      next = tree.child(node, String(seg));
      if (next < 0) break;
      key = tree.keyStart(next);
    } else if (kind === SEQ) {
      const idx = typeof seg === 'number' ? seg : INDEX.test(seg) ? Number(seg) : -1;
      next = idx < 0 ? -1 : tree.item(node, idx);
      if (next < 0) break;
      key = tree.start(next);
    } else {
      break;
    }
    node = next;
    depth++;
  }
  // Every node found is in the document, so the last one reached is `node` itself.
  return { node, key, depth };
}

/** The shared, lazily built part: the tree and the line starts of the text. */
export class LightPositions {
  private tree: LightTree | undefined;
  private lineStarts: number[] | undefined;
  constructor(private readonly text: string) {}

  /** The tree; throws if the text no longer reads (it was read once already, so it cannot happen). */
  root(): LightTree {
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
  private overlayRoot = -1;
  private overlayLooked = false;
  constructor(
    private readonly positions: LightPositions,
    private readonly overlay?: string,
  ) {}

  private fromFound(tree: LightTree, f: Found, path: readonly PathSeg[], mode: 'value' | 'key'): Position {
    if (f.depth === path.length && mode === 'key' && f.key >= 0) return this.positions.linePos(f.key);
    return this.positions.linePos(tree.start(f.node));
  }

  locate(path: readonly PathSeg[], mode: 'value' | 'key' = 'value'): Position {
    const tree = this.positions.root();
    const base = find(tree, 0, path);
    if (this.overlay !== undefined && !this.overlayLooked) {
      this.overlayRoot = find(tree, 0, ['environments', this.overlay]).node;
      this.overlayLooked = true;
    }
    if (this.overlay !== undefined && path.length > 0) {
      const ov = find(tree, this.overlayRoot, path);
      // As YamlLocator: the merged value comes from the overlay when the overlay has the whole
      // path, when it replaced a list or scalar on the way, or when it reaches deeper than the base.
      const fromOverlay = ov.depth === path.length || (ov.depth > 0 && tree.kindOf(ov.node) !== MAP) || ov.depth > base.depth;
      if (fromOverlay) return { ...this.fromFound(tree, ov, path, mode), overlay: this.overlay };
    }
    return this.fromFound(tree, base, path, mode);
  }
}
