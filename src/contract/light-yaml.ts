// A small, fast reader for the plain YAML that large specs are made of: block mappings and
// sequences, one-line flow collections, plain and quoted one-line scalars, comments. It reads the
// text once into plain data and, only when asked (a problem must be located), a second time into
// a light tree of offsets. It declines — returns undefined, and the caller falls back to js-yaml
// and the `yaml` library — on anything outside that subset or anything the `yaml` library could read
// differently or refuse: anchors, aliases, tags, block scalars, multi-line scalars, directives,
// document markers, duplicate or non-string keys, tabs, CR, control characters, trailing commas…
// Declining only costs speed, so the rules err on that side. Scalars resolve as the YAML 1.2 core
// schema of the `yaml` library (null, bool, int, float; no timestamps, no `1_000`).
import { LightTree, MAP, SCALAR, SEQ } from './light-tree.js';

export interface LightYaml {
  value: Record<string, unknown>;
  /** Set when read with positions (then `value` is left empty). */
  tree?: LightTree;
}

/** Thrown inside the reader to give up; caught at the top. */
const DECLINE = new Error('declined');

/** Characters the reader never takes: tabs, CR, C0/C1 controls, BOM, Unicode line separators. */
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const FORBIDDEN = /[\t\r\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff]/;
/** Directives and document markers at the start of a line. */
const MARKERS = /^(?:---|\.\.\.|%)/m;

const NL = 10;
const SP = 32;
const HASH = 35;
const COLON = 58;
const DASH = 45;
const SQ = 39;
const DQ = 34;
const LBRACE = 123;
const RBRACE = 125;
const LBRACKET = 91;
const RBRACKET = 93;
const COMMA = 44;

/** Characters that may not start a plain scalar here (YAML indicators), `-` handled apart. */
function isIndicator(c: number): boolean {
  switch (c) {
    case 63: // ?
    case COLON:
    case COMMA:
    case LBRACKET:
    case RBRACKET:
    case LBRACE:
    case RBRACE:
    case HASH:
    case 38: // &
    case 42: // *
    case 33: // !
    case 124: // |
    case 62: // >
    case SQ:
    case DQ:
    case 37: // %
    case 64: // @
    case 96: // `
      return true;
    default:
      return false;
  }
}

function isFlowIndicator(c: number): boolean {
  return c === COMMA || c === LBRACKET || c === RBRACKET || c === LBRACE || c === RBRACE;
}

const INT_OCT = /^0o[0-7]+$/;
const INT_DEC = /^[-+]?[0-9]+$/;
const INT_HEX = /^0x[0-9a-fA-F]+$/;
const FLOAT_NAN = /^(?:[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN)$/;
const FLOAT_EXP = /^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)[eE][-+]?[0-9]+$/;
const FLOAT = /^[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*)$/;

/** A plain scalar's value under the core schema, tried in the `yaml` library's order. */
export function resolvePlain(s: string): unknown {
  const c = s.charCodeAt(0);
  if ((c >= 48 && c <= 57) || c === 43 || c === DASH || c === 46) {
    if (INT_OCT.test(s)) return parseInt(s.substring(2), 8);
    if (INT_DEC.test(s)) return parseInt(s, 10);
    if (INT_HEX.test(s)) return parseInt(s.substring(2), 16);
    if (FLOAT_NAN.test(s)) return s.slice(-3).toLowerCase() === 'nan' ? NaN : s[0] === '-' ? -Infinity : Infinity;
    if (FLOAT_EXP.test(s) || FLOAT.test(s)) return parseFloat(s);
    return s;
  }
  switch (s) {
    case '~':
    case 'null':
    case 'Null':
    case 'NULL':
      return null;
    case 'true':
    case 'True':
    case 'TRUE':
      return true;
    case 'false':
    case 'False':
    case 'FALSE':
      return false;
    default:
      return s;
  }
}

const ESCAPES: Record<string, string> = {
  '0': '\0',
  a: '\x07',
  b: '\b',
  e: '\x1b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
  v: '\v',
  N: '\u0085',
  _: '\u00a0',
  L: '\u2028',
  P: '\u2029',
  ' ': ' ',
  '"': '"',
  '/': '/',
  '\\': '\\',
};
const HEX_LENGTH: Record<string, number> = { x: 2, u: 4, U: 8 };
const HEX = /^[0-9a-fA-F]+$/;

class Reader {
  /** Where reading stopped: the end of the value just read. */
  private p = 0;
  /** With positions: the tree, the mapping or list being read, and the key of the value about to be read. */
  private readonly tree: LightTree | undefined;
  private parent = -1;
  private keyStartAt = -1;
  private keyEndAt = -1;
  private quotedKey: string | undefined;
  /** Set by plainBlockEnd/plainFlowEnd: the end of the scalar, where the scan stopped, and whether a key's `: ` stopped it. */
  private end = 0;
  private stop = 0;
  private isKey = false;
  private readonly len: number;

  constructor(
    private readonly text: string,
    private readonly positions: boolean,
  ) {
    this.len = text.length;
    this.tree = positions ? new LightTree(text) : undefined;
  }

  /** With positions: a node for the value starting at `start`, under the current parent and key. */
  private open(kind: number, start: number): number {
    if (this.tree === undefined) return -1;
    const id = this.tree.add(kind, start, this.parent, this.keyStartAt, this.keyEndAt, this.quotedKey);
    this.keyStartAt = -1;
    this.keyEndAt = -1;
    this.quotedKey = undefined;
    return id;
  }

  /** Offset of the '\n' ending the line that holds `p` (or the text's length). */
  private lineEnd(p: number): number {
    const e = this.text.indexOf('\n', p);
    return e < 0 ? this.len : e;
  }

  /** The start of the next line holding content (not blank, not only a comment), from line start `p`. */
  private nextContent(p: number): number {
    const t = this.text;
    while (p < this.len) {
      let q = p;
      while (t.charCodeAt(q) === SP) q++;
      const c = t.charCodeAt(q);
      if (q < this.len && c !== NL && c !== HASH) return p;
      p = this.lineEnd(q) + 1;
    }
    return this.len;
  }

  private indentAt(lineStart: number): number {
    let q = lineStart;
    while (this.text.charCodeAt(q) === SP) q++;
    return q - lineStart;
  }

  /** Whether a block sequence entry starts at `q` ("- …" or a lone "-"). */
  private isSeqEntry(q: number): boolean {
    if (this.text.charCodeAt(q) !== DASH) return false;
    const n = this.text.charCodeAt(q + 1);
    return q + 1 >= this.len || n === SP || n === NL;
  }

  private skipSpaces(q: number): number {
    while (this.text.charCodeAt(q) === SP) q++;
    return q;
  }

  /** After a value on its line: only spaces, then a comment (after a space) or the line's end. Returns the next line's start. */
  private endOfLine(q: number): number {
    const s = this.skipSpaces(q);
    if (s >= this.len) return this.len;
    const c = this.text.charCodeAt(s);
    if (c === NL) return s + 1;
    if (c === HASH && s > q) return this.lineEnd(s) + 1;
    throw DECLINE;
  }

  /**
   * A plain scalar in block context from `q` on its line: sets `end` (after its last non-space
   * character) and `isKey` (a `: ` or a final `:` ended it, so it is a mapping key). It stops at
   * " #" and at the line's end.
   */
  private plainBlockEnd(q: number): void {
    const t = this.text;
    let i = q;
    let end = q;
    this.isKey = false;
    while (i < this.len) {
      const c = t.charCodeAt(i);
      if (c === NL) break;
      if (c === HASH && t.charCodeAt(i - 1) === SP) break;
      if (c === COLON) {
        const n = t.charCodeAt(i + 1);
        if (i + 1 >= this.len || n === SP || n === NL) {
          this.isKey = true;
          break;
        }
      }
      if (c !== SP) end = i + 1;
      i++;
    }
    this.end = end;
  }

  /** A quoted scalar starting at `q`, closed on the same line; this.p is left after the closing quote. */
  private quoted(q: number): string {
    const t = this.text;
    const quote = t.charCodeAt(q);
    let i = q + 1;
    let out = '';
    let from = i;
    if (quote === SQ) {
      for (;;) {
        const e = t.indexOf("'", i);
        const nl = t.indexOf('\n', i);
        if (e < 0 || (nl >= 0 && nl < e)) throw DECLINE;
        if (t.charCodeAt(e + 1) === SQ) {
          out += t.slice(from, e + 1);
          i = from = e + 2;
          continue;
        }
        out += t.slice(from, e);
        this.p = e + 1;
        return out;
      }
    }
    for (;;) {
      if (i >= this.len) throw DECLINE;
      const c = t.charCodeAt(i);
      if (c === DQ) {
        out += t.slice(from, i);
        this.p = i + 1;
        return out;
      }
      if (c === NL) throw DECLINE;
      if (c === 92) {
        out += t.slice(from, i);
        const e = t[i + 1];
        const simple = ESCAPES[e];
        if (simple !== undefined) {
          out += simple;
          i += 2;
        } else {
          const n = HEX_LENGTH[e];
          if (n === undefined) throw DECLINE;
          const hex = t.substr(i + 2, n);
          if (hex.length !== n || !HEX.test(hex)) throw DECLINE;
          const code = parseInt(hex, 16);
          if (code > 0x10ffff) throw DECLINE;
          out += String.fromCodePoint(code);
          i += 2 + n;
        }
        from = i;
        continue;
      }
      i++;
    }
  }

  /** A mapping key at `q`: its text; this.p is left after the `:` that follows it. */
  private key(q: number): string {
    const t = this.text;
    const c = t.charCodeAt(q);
    let k: string;
    this.keyStartAt = q;
    if (c === SQ || c === DQ) {
      k = this.quoted(q);
      if (t.charCodeAt(this.p) !== COLON) throw DECLINE;
      if (this.positions) this.quotedKey = k;
    } else {
      if (isIndicator(c) || c === DASH || c === SP || c === NL || q >= this.len) throw DECLINE;
      this.plainBlockEnd(q);
      if (!this.isKey) throw DECLINE;
      if (this.positions) {
        k = ''; // with positions, keys are read from the text only when looked up
        this.keyEndAt = this.end;
      } else {
        k = t.slice(q, this.end);
        if (k === '<<' || typeof resolvePlain(k) !== 'string') throw DECLINE;
      }
      // The colon after the key (possibly after spaces).
      this.p = this.skipSpaces(this.end);
    }
    if (this.p - q > 1000 || k === '__proto__') throw DECLINE;
    const n = t.charCodeAt(this.p + 1);
    if (this.p + 1 < this.len && n !== SP && n !== NL) throw DECLINE;
    this.p++;
    return k;
  }

  /**
   * The value after an indicator (`:` or `-`) that ends just before `q`, at indentation `n` (that of
   * its key or dash). Leaves this.p at the start of the next content line.
   * `sameIndentSeq`: a block sequence may sit at the key's own indentation (mapping values).
   */
  private blockValue(n: number, q: number, sameIndentSeq: boolean): unknown {
    const t = this.text;
    q = this.skipSpaces(q);
    const c = t.charCodeAt(q);
    if (q >= this.len || c === NL || c === HASH) {
      // Nothing on this line: a nested block below, or null.
      const ls = this.nextContent(c === NL || c === HASH ? this.lineEnd(q) + 1 : this.len);
      if (ls < this.len) {
        const m = this.indentAt(ls);
        if (m > n) return this.isSeqEntry(ls + m) ? this.blockSeq(m, ls + m) : this.blockMap(m, ls + m);
        if (m === n && sameIndentSeq && this.isSeqEntry(ls + m)) return this.blockSeq(n, ls + m);
      }
      this.open(SCALAR, q);
      this.p = ls;
      return null;
    }
    let value: unknown;
    if (c === LBRACE || c === LBRACKET) {
      value = this.flowNode(q);
    } else if (c === SQ || c === DQ) {
      this.open(SCALAR, q);
      value = this.quoted(q);
    } else {
      if (isIndicator(c) || (c === DASH && this.isSeqEntry(q))) throw DECLINE;
      this.plainBlockEnd(q);
      if (this.isKey) throw DECLINE; // a mapping on the line of a key
      value = this.positions ? null : resolvePlain(t.slice(q, this.end));
      this.open(SCALAR, q);
      this.p = this.end;
    }
    const ls = this.nextContent(this.endOfLine(this.p));
    // A more indented line after a scalar would continue it (or be an error): not ours.
    if (ls < this.len && this.indentAt(ls) > n) throw DECLINE;
    this.p = ls;
    return value;
  }

  /** A block mapping whose first key starts at `q`, column `n`; this.p ends at the next line outside it. */
  private blockMap(n: number, q: number): Record<string, unknown> | null {
    // With positions, the data is not built again (it was read before, with the same checks).
    const obj: Record<string, unknown> | null = this.positions ? null : {};
    const outer = this.parent;
    this.parent = this.open(MAP, q);
    for (;;) {
      const k = this.key(q);
      if (obj !== null) {
        if (Object.prototype.hasOwnProperty.call(obj, k)) throw DECLINE;
        obj[k] = this.blockValue(n, this.p, true);
      } else this.blockValue(n, this.p, true);
      const ls = this.p;
      if (ls >= this.len) break;
      const m = this.indentAt(ls);
      if (m < n) break;
      if (m > n || this.isSeqEntry(ls + m)) throw DECLINE;
      q = ls + m;
    }
    this.parent = outer;
    return obj;
  }

  /** A block sequence whose first `-` is at `q`, column `n`. */
  private blockSeq(n: number, q: number): unknown[] | null {
    const t = this.text;
    const arr: unknown[] | null = this.positions ? null : [];
    const outer = this.parent;
    this.parent = this.open(SEQ, q);
    for (;;) {
      const s = this.skipSpaces(q + 1);
      const c = t.charCodeAt(s);
      if (s < this.len && c !== NL && c !== HASH && c !== LBRACE && c !== LBRACKET && this.startsCompactMap(s)) {
        // `- key: value`: a mapping whose keys sit at the column of this first key.
        const item = this.blockMap(s - (t.lastIndexOf('\n', s - 1) + 1), s);
        if (arr !== null) arr.push(item);
      } else {
        if (c === DASH && this.isSeqEntry(s)) throw DECLINE; // `- - x`
        const item = this.blockValue(n, q + 1, false);
        if (arr !== null) arr.push(item);
      }
      const ls = this.p;
      if (ls >= this.len) break;
      const m = this.indentAt(ls);
      if (m < n) break;
      if (m > n) throw DECLINE;
      if (!this.isSeqEntry(ls + m)) break; // the parent mapping continues at this column (or refuses it)
      q = ls + m;
    }
    this.parent = outer;
    return arr;
  }

  /** Whether the entry at `s` (after `- `) is a key of a compact mapping. */
  private startsCompactMap(s: number): boolean {
    const t = this.text;
    const c = t.charCodeAt(s);
    if (c === SQ || c === DQ) {
      const save = this.p;
      this.quoted(s);
      const after = this.p;
      this.p = save;
      return t.charCodeAt(after) === COLON;
    }
    if (isIndicator(c) || (c === DASH && this.isSeqEntry(s))) return false;
    this.plainBlockEnd(s);
    return this.isKey;
  }

  /** A flow collection or scalar at `q`, on one line; this.p is left after it. */
  private flowNode(q: number): unknown {
    const t = this.text;
    const c = t.charCodeAt(q);
    if (c === LBRACE) {
      const obj: Record<string, unknown> | null = this.positions ? null : {};
      const outer = this.parent;
      this.parent = this.open(MAP, q);
      let i = this.skipSpaces(q + 1);
      if (t.charCodeAt(i) === RBRACE) {
        this.p = i + 1;
      } else {
        for (;;) {
          const k = this.flowKey(i);
          if (obj !== null && Object.prototype.hasOwnProperty.call(obj, k)) throw DECLINE;
          i = this.skipSpaces(this.p);
          const v = t.charCodeAt(i);
          if (v === COMMA || v === RBRACE || v === NL || i >= this.len) throw DECLINE; // an empty value
          const value = this.flowNode(i);
          if (obj !== null) obj[k] = value;
          i = this.skipSpaces(this.p);
          const d = t.charCodeAt(i);
          if (d === RBRACE) {
            this.p = i + 1;
            break;
          }
          if (d !== COMMA) throw DECLINE;
          i = this.skipSpaces(i + 1);
          if (t.charCodeAt(i) === RBRACE) throw DECLINE; // a trailing comma
        }
      }
      this.parent = outer;
      return obj;
    }
    if (c === LBRACKET) {
      const arr: unknown[] | null = this.positions ? null : [];
      const outer = this.parent;
      this.parent = this.open(SEQ, q);
      let i = this.skipSpaces(q + 1);
      if (t.charCodeAt(i) === RBRACKET) {
        this.p = i + 1;
      } else {
        for (;;) {
          const v = t.charCodeAt(i);
          if (v === COMMA || v === RBRACKET || v === NL || i >= this.len) throw DECLINE;
          const item = this.flowNode(i);
          if (arr !== null) arr.push(item);
          i = this.skipSpaces(this.p);
          const d = t.charCodeAt(i);
          if (d === RBRACKET) {
            this.p = i + 1;
            break;
          }
          if (d !== COMMA) throw DECLINE; // includes `[a: b]`, a pair inside a list
          i = this.skipSpaces(i + 1);
          if (t.charCodeAt(i) === RBRACKET) throw DECLINE;
        }
      }
      this.parent = outer;
      return arr;
    }
    this.open(SCALAR, q);
    if (c === SQ || c === DQ) return this.quoted(q);
    this.plainFlowEnd(q);
    if (t.charCodeAt(this.stop) === COLON) throw DECLINE; // a pair where a value belongs
    this.p = this.end;
    return this.positions ? null : resolvePlain(t.slice(q, this.end));
  }

  /**
   * A plain scalar in a flow collection from `q`: sets `end` (after its last non-space character)
   * and `stop` (where the scan stopped: a flow indicator, or a `: ` that ends a key).
   */
  private plainFlowEnd(q: number): void {
    const t = this.text;
    const c0 = t.charCodeAt(q);
    if (isIndicator(c0)) throw DECLINE;
    if (c0 === DASH) {
      const n = t.charCodeAt(q + 1);
      if (q + 1 >= this.len || n === SP || n === NL || isFlowIndicator(n)) throw DECLINE;
    }
    let i = q;
    let end = q;
    while (i < this.len) {
      const c = t.charCodeAt(i);
      if (c === NL) throw DECLINE; // a flow collection runs over lines
      if (c === COMMA || c === RBRACKET || c === RBRACE) break;
      if (c === LBRACKET || c === LBRACE) throw DECLINE;
      if (c === HASH && t.charCodeAt(i - 1) === SP) throw DECLINE; // a comment inside a flow collection
      if (c === COLON) {
        const n = t.charCodeAt(i + 1);
        if (n === SP) break;
        if (i + 1 >= this.len || n === NL || isFlowIndicator(n)) throw DECLINE;
      }
      if (c !== SP) end = i + 1;
      i++;
    }
    if (i >= this.len) throw DECLINE;
    this.end = end;
    this.stop = i;
  }

  /** A key in a flow mapping at `q`; this.p is left after its `: `. */
  private flowKey(q: number): string {
    const t = this.text;
    const c = t.charCodeAt(q);
    let k: string;
    let colon: number;
    this.keyStartAt = q;
    if (c === SQ || c === DQ) {
      k = this.quoted(q);
      colon = this.p;
      if (this.positions) this.quotedKey = k;
    } else {
      this.plainFlowEnd(q);
      if (this.positions) {
        k = '';
        this.keyEndAt = this.end;
      } else {
        k = t.slice(q, this.end);
        if (k === '<<' || typeof resolvePlain(k) !== 'string') throw DECLINE;
      }
      colon = this.stop;
    }
    if (t.charCodeAt(colon) !== COLON || t.charCodeAt(colon + 1) !== SP) throw DECLINE;
    if (colon - q > 1000 || k === '__proto__') throw DECLINE;
    this.p = colon + 2;
    return k;
  }

  /** The whole document: one block mapping, then nothing but blank lines and comments. */
  document(): LightYaml {
    const ls = this.nextContent(0);
    if (ls >= this.len) throw DECLINE;
    const m = this.indentAt(ls);
    if (this.isSeqEntry(ls + m)) throw DECLINE;
    const value = this.blockMap(m, ls + m);
    if (this.p < this.len) throw DECLINE;
    return this.tree !== undefined ? { value: {}, tree: this.tree } : { value: value ?? {} };
  }
}

/**
 * The spec's data, or undefined when the text is not in the subset this reader takes (then the
 * `yaml` library must read it). With `positions`, the light tree instead (its scalar values are
 * left null: the tree is read only to locate problems in data read before).
 */
export function readLightYaml(text: string, positions = false): LightYaml | undefined {
  if (FORBIDDEN.test(text) || MARKERS.test(text)) return undefined;
  try {
    return new Reader(text, positions).document();
  } catch (e) {
    if (e === DECLINE) return undefined;
    throw e;
  }
}
