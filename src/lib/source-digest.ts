// The files a service's `watch:` covers, and one digest of their contents: folded into the service's
// revision, so a saved source file makes a new revision (`berth up --watch`, `berth apply`). Ignored:
// .git, node_modules, .berth, the spec's `ignore:` patterns and those of the .gitignore files from the
// watched folder up to the spec's folder (each relative to its own folder, as git reads them).
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import ignoreLib, { type Ignore } from 'ignore';

const DEFAULT_IGNORE = ['.git', 'node_modules', '.berth'];
/** Beside the spec, the spec itself and its .env are not code: their changes reach the revision through the template. */
const SPEC_FILES = new Set(['berth.yaml', 'berth.yml', 'berth.config.ts', 'berth.config.mjs', 'berth.config.js', '.env']);
/** Files larger than this count by size and mtime, not content (a stray dump must not stall every apply). */
const MAX_HASHED_BYTES = 8 * 1024 * 1024;
/** A watched tree larger than this is refused: it is almost certainly a missing `ignore:`. */
export const MAX_WATCHED_FILES = 50_000;

export interface WatchInput {
  /** Absolute paths (files or folders). */
  paths: string[];
  /** Spec `ignore:` patterns. */
  ignore: string[];
  /** The spec's folder: .gitignore files are read from each watched folder up to here. */
  specDir: string;
}

/** Decides whether an absolute path (a folder when `dir`) is ignored. */
export type IgnoreTest = (abs: string, dir: boolean) => boolean;

const makeIgnore = (ignoreLib as unknown as { default?: () => Ignore }).default ?? (ignoreLib as unknown as () => Ignore);

function gitignoreAt(dir: string): Ignore | undefined {
  const f = join(dir, '.gitignore');
  if (!existsSync(f)) return undefined;
  try {
    return makeIgnore().add(readFileSync(f, 'utf8'));
  } catch {
    return undefined; // unreadable: nothing extra ignored
  }
}

/** The ignore test for one watched root: defaults and spec patterns relative to the root, each .gitignore relative to its folder. */
export function ignoreTest(root: string, input: WatchInput): IgnoreTest {
  const base = makeIgnore().add(DEFAULT_IGNORE).add(input.ignore);
  const layers: { dir: string; ig: Ignore }[] = [];
  const stop = resolve(input.specDir);
  for (let d = resolve(root); ; d = dirname(d)) {
    const ig = gitignoreAt(d);
    if (ig) layers.push({ dir: d, ig });
    if (d === stop || dirname(d) === d || !(d + sep).startsWith(stop + sep)) break;
  }
  const rel = (from: string, abs: string, dir: boolean) => {
    const r = relative(from, abs).split(sep).join('/');
    return r === '' || r.startsWith('..') || isAbsolute(r) ? undefined : dir ? `${r}/` : r;
  };
  return (abs, dir) => {
    if (!dir && SPEC_FILES.has(basename(abs)) && dirname(abs) === stop) return true;
    const r = rel(root, abs, dir);
    if (r !== undefined && base.ignores(r)) return true;
    for (const l of layers) {
      const lr = rel(l.dir, abs, dir);
      if (lr !== undefined && l.ig.ignores(lr)) return true;
    }
    return false;
  };
}

/** Every watched file (absolute, sorted) and every watched folder, skipping ignored ones. */
export function listWatched(input: WatchInput, ignoredOverride?: IgnoreTest): { files: string[]; dirs: string[] } {
  const files: string[] = [];
  const dirs: string[] = [];
  for (const root of input.paths) {
    if (!existsSync(root)) continue;
    const ignored = ignoredOverride ?? ignoreTest(root, input);
    const walk = (d: string) => {
      dirs.push(d);
      let entries;
      try {
        entries = readdirSync(d, { withFileTypes: true });
      } catch {
        return; // unreadable or gone since: nothing to watch there
      }
      for (const e of entries) {
        const abs = join(d, e.name);
        if (e.isDirectory()) {
          if (!ignored(abs, true)) walk(abs);
        } else if ((e.isFile() || e.isSymbolicLink()) && !ignored(abs, false)) {
          files.push(abs);
          if (files.length > MAX_WATCHED_FILES) throw new Error(`more than ${MAX_WATCHED_FILES} files under ${root}: narrow watch.paths or add watch.ignore patterns`);
        }
      }
    };
    if (statSync(root).isDirectory()) walk(root);
    else files.push(root);
  }
  return { files: [...new Set(files)].sort(), dirs: [...new Set(dirs)] };
}

/** One hash of the watched files' paths and contents (same files, same digest, on any machine and run). */
export function sourceDigest(input: WatchInput): string {
  const h = createHash('sha256');
  for (const f of listWatched(input).files) {
    let st;
    try {
      st = statSync(f);
    } catch {
      continue; // removed while walking
    }
    h.update(relative(input.specDir, f).split(sep).join('/')).update('\0');
    if (!st.isFile()) h.update('?');
    else if (st.size > MAX_HASHED_BYTES) h.update(`${st.size}:${st.mtimeMs}`);
    else {
      try {
        h.update(readFileSync(f));
      } catch {
        h.update('!'); // unreadable: its presence still counts
      }
    }
    h.update('\0');
  }
  return h.digest('hex').slice(0, 16);
}
