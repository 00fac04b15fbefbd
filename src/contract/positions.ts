// YAML parsing that keeps source positions, and locators that map a spec path
// (["services", "web", "port"]) back to a 1-based line and column — in the base document, or in
// the environment overlay the value came from.
import { LineCounter, parseDocument, isAlias, isMap, isScalar, isSeq, isNode, visit, type Document, type Pair, type YAMLMap } from 'yaml';

export type PathSeg = string | number;
export interface Position {
  line: number;
  col: number;
  /** Set when the position is inside `environments.<overlay>`. */
  overlay?: string;
}

/** Maps spec paths to positions. `key` asks for the position of the last segment's key instead of its value. */
export interface Locator {
  locate(path: readonly PathSeg[], mode?: 'value' | 'key'): Position;
}

export interface YamlProblem {
  line: number;
  col: number;
  message: string;
  code: string;
}

export interface ParsedYaml {
  doc: Document;
  lineCounter: LineCounter;
  errors: YamlProblem[];
  warnings: YamlProblem[];
}

export function parseYaml(text: string): ParsedYaml {
  const lineCounter = new LineCounter();
  // The library's own duplicate-key check compares each key with every earlier one (quadratic in
  // the size of a map: minutes for tens of thousands of services); duplicateKeys() does it in one pass.
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: false, merge: true });
  const conv = (e: { pos: [number, number]; message: string; code: string }): YamlProblem => {
    const p = lineCounter.linePos(e.pos[0]);
    return { line: p.line, col: p.col, message: e.message.split('\n')[0], code: e.code };
  };
  const errors = [...doc.errors.map((e) => ({ at: e.pos[0], problem: conv(e) })), ...duplicateKeys(doc).map((at) => ({ at, problem: conv({ pos: [at, at], message: 'Map keys must be unique', code: 'DUPLICATE_KEY' }) }))];
  errors.sort((a, b) => a.at - b.at);
  return { doc, lineCounter, errors: errors.map((e) => e.problem), warnings: doc.warnings.map(conv) };
}

/** Offsets of keys that repeat an earlier scalar key of the same mapping (as the library's uniqueKeys check). */
function duplicateKeys(doc: Document): number[] {
  const out: number[] = [];
  visit(doc, {
    Map(_key, map) {
      const seen = new Set<unknown>();
      for (const pair of map.items) {
        if (!isScalar(pair.key)) continue;
        const k = pair.key.value;
        if (seen.has(k) && pair.key.range) out.push(pair.key.range[0]);
        seen.add(k);
      }
    },
  });
  return out;
}

/** Each mapping's pairs by key text, built on first use: a path lookup costs O(depth), not O(size). */
const pairIndex = new WeakMap<YAMLMap, Map<string, Pair>>();

function pairOf(map: YAMLMap, key: string): Pair | undefined {
  let index = pairIndex.get(map);
  if (!index) {
    index = new Map();
    for (const p of map.items) {
      const k = keyText(p.key);
      if (k !== undefined && !index.has(k)) index.set(k, p);
    }
    pairIndex.set(map, index);
  }
  return index.get(key);
}

interface Found {
  node: unknown;
  keyNode: unknown;
  depth: number;
  /** The last node reached that exists in the document (the value, or the nearest parent). */
  last: unknown;
}

function keyText(key: unknown): string | undefined {
  if (isScalar(key)) return String(key.value);
  if (key === null || key === undefined) return undefined;
  return typeof key === 'object' ? undefined : String(key);
}

function find(doc: Document, root: unknown, path: readonly PathSeg[]): Found {
  let node: unknown = root;
  let keyNode: unknown = undefined;
  let last: unknown = root;
  let depth = 0;
  for (const seg of path) {
    let n = node;
    for (let guard = 0; isAlias(n) && guard < 16; guard++) n = n.resolve(doc);
    if (isMap(n)) {
      const pair = pairOf(n, String(seg));
      if (!pair) break;
      keyNode = pair.key;
      node = pair.value;
    } else if (isSeq(n)) {
      const idx = typeof seg === 'number' ? seg : /^\d+$/.test(seg) ? Number(seg) : -1;
      if (idx < 0 || idx >= n.items.length) break;
      keyNode = n.items[idx];
      node = n.items[idx];
    } else {
      break;
    }
    depth++;
    if (isNode(node)) last = node;
    else if (isNode(keyNode)) last = keyNode;
  }
  return { node, keyNode, depth, last };
}

export class YamlLocator implements Locator {
  private readonly overlayRoot: unknown;
  constructor(
    private readonly parsed: ParsedYaml,
    private readonly overlay?: string,
  ) {
    if (overlay !== undefined) {
      this.overlayRoot = find(parsed.doc, parsed.doc.contents, ['environments', overlay]).node;
    }
  }

  private pos(node: unknown): Position | undefined {
    if (isNode(node) && node.range) {
      const p = this.parsed.lineCounter.linePos(node.range[0]);
      return { line: p.line, col: p.col };
    }
    return undefined;
  }

  private fromFound(f: Found, path: readonly PathSeg[], mode: 'value' | 'key'): Position {
    const complete = f.depth === path.length;
    if (complete && mode === 'key') {
      const p = this.pos(f.keyNode);
      if (p) return p;
    }
    if (complete) {
      const p = this.pos(f.node) ?? this.pos(f.keyNode);
      if (p) return p;
    }
    return this.pos(f.last) ?? { line: 1, col: 1 };
  }

  locate(path: readonly PathSeg[], mode: 'value' | 'key' = 'value'): Position {
    const doc = this.parsed.doc;
    const base = find(doc, doc.contents, path);
    if (this.overlay !== undefined && this.overlayRoot !== undefined && path.length > 0) {
      const ov = find(doc, this.overlayRoot, path);
      let ovNode: unknown = ov.node;
      for (let guard = 0; isAlias(ovNode) && guard < 16; guard++) ovNode = ovNode.resolve(doc);
      // The merged value comes from the overlay when the overlay has the whole path, when it
      // replaced a list or scalar on the way, or when it reaches deeper than the base does.
      const fromOverlay =
        ov.depth === path.length || (ov.depth > 0 && !isMap(ovNode)) || ov.depth > base.depth;
      if (fromOverlay) return { ...this.fromFound(ov, path, mode), overlay: this.overlay };
    }
    return this.fromFound(base, path, mode);
  }
}

/**
 * Best-effort positions for specs written as code (berth.config.ts): finds the path's keys in
 * the source text one after another (`services` … `web:` … `port:`). Computed or spread values
 * cannot be found; then the nearest key found, or line 1, column 1, is used.
 */
export class SourceSearchLocator implements Locator {
  private readonly lineStarts: number[] = [0];
  constructor(private readonly text: string) {
    for (let i = 0; i < text.length; i++) if (text[i] === '\n') this.lineStarts.push(i + 1);
  }

  private pos(offset: number): Position {
    let lo = 0;
    let hi = this.lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.lineStarts[mid] <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, col: offset - this.lineStarts[lo] + 1 };
  }

  locate(path: readonly PathSeg[], mode: 'value' | 'key' = 'value'): Position {
    let from = 0;
    let key = -1;
    let value = -1;
    let complete = true;
    for (const seg of path) {
      if (typeof seg === 'number' || /^\d+$/.test(seg)) continue;
      const esc = seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      const re = new RegExp(`(^|[^\\w$])(["'\`]?)${esc}\\2\\s*:`, 'g');
      re.lastIndex = from;
      const m = re.exec(this.text);
      if (!m) {
        complete = false;
        break;
      }
      key = m.index + m[1].length;
      value = m.index + m[0].length;
      while (value < this.text.length && /\s/.test(this.text[value])) value++;
      from = value;
    }
    if (key < 0) return { line: 1, col: 1 };
    return this.pos(mode === 'key' && complete ? key : value);
  }
}
