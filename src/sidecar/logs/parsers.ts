// Line parsers: json (one object per line), logfmt (key=value pairs) and regex (named groups).
// Each returns the fields it found, or undefined when the line is not in its format; none throws.

export type ParsedFields = Record<string, unknown>;
export type LineParser = (text: string) => ParsedFields | undefined;

export function parseJsonLine(text: string): ParsedFields | undefined {
  const t = text.trimStart();
  if (t[0] !== '{') return undefined;
  try {
    const v: unknown = JSON.parse(t);
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as ParsedFields) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * logfmt: `key=value key2="quoted \" value" flag`. A bare key is `true`. Undefined unless at least
 * one key=value pair is present and the whole line is well-formed.
 */
export function parseLogfmt(text: string): ParsedFields | undefined {
  const out: ParsedFields = {};
  let pairs = 0;
  let i = 0;
  const n = text.length;
  while (i < n) {
    while (i < n && (text[i] === ' ' || text[i] === '\t')) i++;
    if (i >= n) break;
    const keyStart = i;
    while (i < n && text[i] !== '=' && text[i] !== ' ' && text[i] !== '\t' && text[i] !== '"') i++;
    const key = text.slice(keyStart, i);
    if (!key) return undefined;
    if (i >= n || text[i] !== '=') {
      if (text[i] === '"') return undefined;
      out[key] = true;
      continue;
    }
    i++; // '='
    if (text[i] === '"') {
      i++;
      let value = '';
      let closed = false;
      while (i < n) {
        const c = text[i];
        if (c === '\\' && i + 1 < n) {
          const e = text[i + 1];
          value += e === 'n' ? '\n' : e === 't' ? '\t' : e;
          i += 2;
          continue;
        }
        if (c === '"') {
          closed = true;
          i++;
          break;
        }
        value += c;
        i++;
      }
      if (!closed) return undefined;
      out[key] = value;
    } else {
      const vs = i;
      while (i < n && text[i] !== ' ' && text[i] !== '\t') i++;
      const raw = text.slice(vs, i);
      if (raw.includes('"')) return undefined;
      out[key] = raw;
    }
    pairs++;
  }
  return pairs > 0 ? out : undefined;
}

export function regexParser(pattern: string): LineParser {
  const re = new RegExp(pattern);
  return (text) => {
    const m = re.exec(text);
    if (!m || !m.groups) return undefined;
    const out: ParsedFields = {};
    for (const [k, v] of Object.entries(m.groups)) if (v !== undefined) out[k] = v;
    return out;
  };
}

export function makeParser(cfg: { type: 'json' | 'logfmt' | 'regex'; pattern?: string }): LineParser {
  if (cfg.type === 'json') return parseJsonLine;
  if (cfg.type === 'logfmt') return parseLogfmt;
  return regexParser(cfg.pattern ?? '(?<message>.*)');
}
