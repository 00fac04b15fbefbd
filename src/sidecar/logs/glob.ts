// Minimal file globbing for `logs.files` (Node 20 has no fs.glob): `*`, `?`, `[…]` within a path
// segment and `**` across directories. Returns regular files only, sorted.
import { readdirSync, statSync } from 'node:fs';
import { isAbsolute, join, resolve, sep } from 'node:path';

const MAGIC = /[*?[]/;

function segmentRegex(seg: string): RegExp {
  let re = '';
  for (let i = 0; i < seg.length; i++) {
    const c = seg[i];
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const close = seg.indexOf(']', i + 1);
      if (close < 0) re += '\\[';
      else {
        let body = seg.slice(i + 1, close);
        if (body.startsWith('!')) body = '^' + body.slice(1);
        re += `[${body.replace(/\\/g, '\\\\')}]`;
        i = close;
      }
    } else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** The directory part of a pattern before its first wildcard (what to watch). */
export function globBase(pattern: string, cwd: string): string {
  const abs = isAbsolute(pattern) ? pattern : resolve(cwd, pattern);
  const segs = abs.split(sep);
  const fixed: string[] = [];
  for (const s of segs.slice(0, -1)) {
    if (MAGIC.test(s)) break;
    fixed.push(s);
  }
  return fixed.join(sep) || sep;
}

export function expandGlob(pattern: string, cwd: string, limit = 10_000): string[] {
  const abs = isAbsolute(pattern) ? pattern : resolve(cwd, pattern);
  const segs = abs.split(sep).filter((s, i) => s !== '' || i === 0);
  const out = new Set<string>();
  const walk = (dir: string, i: number): void => {
    if (out.size >= limit) return;
    if (i === segs.length) {
      try {
        if (statSync(dir).isFile()) out.add(dir);
      } catch {
        // the path does not exist (yet): it simply does not match
      }
      return;
    }
    const seg = segs[i];
    if (seg === '**') {
      walk(dir, i + 1);
      for (const d of listDir(dir)) if (d.dir) walk(join(dir, d.name), i);
      return;
    }
    if (!MAGIC.test(seg)) {
      walk(i === 0 && seg === '' ? sep : join(dir, seg), i + 1);
      return;
    }
    const re = segmentRegex(seg);
    for (const d of listDir(dir)) if (re.test(d.name)) walk(join(dir, d.name), i + 1);
  };
  walk(segs[0] === '' ? sep : segs[0], 1);
  return [...out].sort();
}

function listDir(dir: string): { name: string; dir: boolean }[] {
  try {
    return readdirSync(dir, { withFileTypes: true }).map((d) => ({ name: d.name, dir: d.isDirectory() }));
  } catch {
    return [];
  }
}
