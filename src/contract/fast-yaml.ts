// A fast reading of a spec's YAML (js-yaml, an order of magnitude faster than the `yaml` library on
// large files) for large specs the light reader (light-yaml.ts) declines, in the common case of a
// plain spec that turns out valid: then no positions are needed at all. It resolves scalars exactly as the YAML 1.2 core schema the `yaml`
// library uses (no timestamps, no `1_000`, no `0b1`), and it declines — returns undefined, so the
// caller takes the positioned path — whenever the text uses what the two libraries could treat
// differently or what needs the `yaml` library's guards: anchors and aliases (alias-count limit),
// tags, merge keys, directives, several documents, or anything js-yaml refuses (duplicate keys,
// syntax errors: the positioned path reports those with file:line:col).
import jsyaml from 'js-yaml';

const INT_DEC = /^[-+]?[0-9]+$/;
const INT_OCT = /^0o[0-7]+$/;
const INT_HEX = /^0x[0-9a-fA-F]+$/;
const FLOAT = /^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$/;
const INF = /^[-+]?\.(?:inf|Inf|INF)$/;
const NAN = /^\.(?:nan|NaN|NAN)$/;

/** Whether a plain scalar can be a number at all (most are words: skip the regexes). */
const mayBeNumber = (s: string): boolean => {
  const c = s.charCodeAt(0);
  return (c >= 48 && c <= 57) || c === 43 || c === 45 || c === 46; // 0-9 + - .
};

const coreInt = new jsyaml.Type('tag:yaml.org,2002:int', {
  kind: 'scalar',
  resolve: (s: unknown) => typeof s === 'string' && mayBeNumber(s) && (INT_DEC.test(s) || INT_OCT.test(s) || INT_HEX.test(s)),
  construct: (s: string) => (INT_OCT.test(s) ? parseInt(s.slice(2), 8) : INT_HEX.test(s) ? parseInt(s.slice(2), 16) : parseInt(s, 10)),
});

const coreFloat = new jsyaml.Type('tag:yaml.org,2002:float', {
  kind: 'scalar',
  resolve: (s: unknown) => typeof s === 'string' && mayBeNumber(s) && !INT_DEC.test(s) && (FLOAT.test(s) || INF.test(s) || NAN.test(s)),
  construct: (s: string) => (NAN.test(s) ? NaN : INF.test(s) ? (s.startsWith('-') ? -Infinity : Infinity) : parseFloat(s)),
});

const NULLS = new Set(['', '~', 'null', 'Null', 'NULL']);
const coreNull = new jsyaml.Type('tag:yaml.org,2002:null', {
  kind: 'scalar',
  resolve: (s: unknown) => s === null || (typeof s === 'string' && NULLS.has(s)),
  construct: () => null,
});

const TRUE = new Set(['true', 'True', 'TRUE']);
const FALSE = new Set(['false', 'False', 'FALSE']);
const coreBool = new jsyaml.Type('tag:yaml.org,2002:bool', {
  kind: 'scalar',
  resolve: (s: unknown) => typeof s === 'string' && (TRUE.has(s) || FALSE.has(s)),
  construct: (s: string) => TRUE.has(s),
});

/** The YAML 1.2 core schema as the `yaml` library resolves it: null, bool, int, float; nothing else. */
const CORE = new jsyaml.Schema({ implicit: [coreNull, coreBool, coreInt, coreFloat], explicit: [] });

/**
 * Anchors (&a), aliases (*a) and tags (!x) at the start of a token, merge keys, directives and
 * document markers. Over-matching only costs speed (the positioned path is taken), never results.
 */
const DECLINE = /(?:^|[\s,[{])[&*!]|<<|^%|^---|^\.\.\./m;

/**
 * Whether every flow collection (`{…}`, `[…]`) and quoted string closes on the line it opens.
 * js-yaml is more lenient than the `yaml` library with flow collections spread over lines (it
 * accepts an unclosed `{` followed by more block lines), so such texts go the positioned way.
 */
function flowClosesOnEachLine(text: string): boolean {
  let depth = 0;
  let quote = 0; // 0, or the char code of the open quote
  let prev = 10;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 10) {
      if (depth !== 0 || quote !== 0) return false;
      prev = c;
      continue;
    }
    if (quote === 34) {
      if (c === 92) i++; // backslash escape in "…"
      else if (c === 34) quote = 0;
    } else if (quote === 39) {
      if (c === 39) {
        if (text.charCodeAt(i + 1) === 39) i++; // '' inside '…'
        else quote = 0;
      }
    } else if (c === 35 && (prev === 32 || prev === 9 || prev === 10)) {
      while (i + 1 < text.length && text.charCodeAt(i + 1) !== 10) i++; // comment
    } else if (c === 34 || c === 39) quote = c;
    else if (c === 123 || c === 91) depth++;
    else if (c === 125 || c === 93) {
      if (--depth < 0) return false;
    }
    prev = c;
  }
  return depth === 0 && quote === 0;
}

/** The spec's data, or undefined when the positioned path must read it. */
export function fastYaml(text: string): { value: unknown } | undefined {
  if (DECLINE.test(text) || !flowClosesOnEachLine(text)) return undefined;
  try {
    return { value: jsyaml.load(text, { schema: CORE, json: false }) };
  } catch {
    // Safe: any refusal (syntax, duplicate key) is reported with positions by the `yaml` path.
    return undefined;
  }
}
