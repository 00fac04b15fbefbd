// Loading a spec: find the file, parse YAML with positions (or import berth.config.ts), apply
// the chosen environment overlay, validate with the schema and the semantic rules, and turn
// every problem into a located SpecError. Nothing here throws for bad user input.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve, extname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { AppSchema, type AppSpec } from './schema.js';
import { type SpecError, didYouMean, joinPath, listOr, sortErrors } from './errors.js';
import { SourceSearchLocator, YamlLocator, parseYaml, type Locator } from './positions.js';
import type { Problem } from './problem.js';
import { issueToProblems } from './issues.js';
import { isPlainObject, unknownKeys } from './shape.js';
import { mergeOverlay } from './overlay.js';
import { checkSemantics } from './semantic.js';
import { fastYaml } from './fast-yaml.js';
import { readLightYaml } from './light-yaml.js';
import { LightLocator, LightPositions } from './light-locator.js';
import { readComponentResources } from './components.js';
import { resolveDaprServices } from './dapr-services.js';
import { interpolate, specVariables, type VariableSource } from './interpolate.js';

export type LoadResult =
  | { ok: true; spec: AppSpec; file: string; dir: string; warnings: SpecError[]; /** Positions in the spec (for policy violations): with the overlay, and without it. */ locator: Locator; baseLocator: Locator }
  | { ok: false; errors: SpecError[] };

export interface LoadOptions {
  /** Apply `environments.<env>` before validating. */
  env?: string;
  /** Where `${VAR}` in a YAML spec's values comes from (default: the environment, then `.env` beside the spec). */
  variables?: VariableSource;
}

export const SPEC_FILE_NAMES = ['berth.yaml', 'berth.yml', 'berth.config.ts'] as const;
const MODULE_EXTENSIONS = new Set(['.ts', '.mts', '.cts', '.js', '.mjs', '.cjs']);

/** The overlay's own schema: a partial spec without `environments` (only its unknown keys are checked). */
const OverlaySchema = AppSchema.omit({ environments: true });

/** The spec file in `cwd`: ./berth.yaml, ./berth.yml or ./berth.config.ts, in that order. */
export function findSpecFile(cwd: string): string | undefined {
  for (const name of SPEC_FILE_NAMES) {
    const p = resolve(cwd, name);
    if (existsSync(p)) return p;
  }
  return undefined;
}

type LocatorFactory = (overlay?: string) => Locator;

function toSpecError(file: string, locator: Locator, p: Problem): SpecError {
  const pos = locator.locate(p.path, p.mode ?? 'value');
  const message = pos.overlay !== undefined ? `${p.message} (set in environments.${pos.overlay})` : p.message;
  const e: SpecError = { file, line: pos.line, col: pos.col, path: joinPath(p.path), message };
  if (p.hint !== undefined) e.hint = p.hint;
  return e;
}

function dedupe(problems: Problem[]): Problem[] {
  const seen = new Set<string>();
  return problems.filter((p) => {
    const k = `${joinPath(p.path)}\u0000${p.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/**
 * Validates already-parsed spec data (from YAML or a config module). `interpolated`: YAML text holds
 * `$`, so its values are interpolated first (a config module reads its environment itself).
 */
function validateData(input: unknown, file: string, locators: LocatorFactory, opts: LoadOptions, interpolated = false): LoadResult {
  const dir = dirname(file);
  const baseLocator = locators();
  let raw = input;
  const interpolation = interpolated ? interpolate(input, opts.variables ?? specVariables(dir)) : undefined;
  if (interpolation) raw = interpolation.value;
  if (!isPlainObject(raw)) {
    return {
      ok: false,
      errors: [
        {
          file,
          ...pick(baseLocator.locate([])),
          path: '',
          message: `the spec must be a mapping with \`app\` and \`services\`, but this is ${raw === null || raw === undefined ? 'empty' : Array.isArray(raw) ? 'a list' : 'a single value'}`,
          hint: 'start from `berth init`, or see docs/spec.md',
        },
      ],
    };
  }
  const baseProblems: Problem[] = [...(interpolation?.errors ?? [])];
  let data: unknown = raw;
  let locator = baseLocator;
  const envs = isPlainObject(raw.environments) ? raw.environments : {};

  // Overlays that are not applied are still checked for unknown keys (typos surface early).
  for (const [name, overlay] of Object.entries(envs)) {
    if (name === opts.env) continue;
    unknownKeys(OverlaySchema, overlay, ['environments', name], baseProblems);
  }

  if (opts.env !== undefined) {
    if (!Object.prototype.hasOwnProperty.call(envs, opts.env)) {
      const known = Object.keys(envs);
      const close = didYouMean(opts.env, known);
      baseProblems.push({
        path: ['environments'],
        mode: 'key',
        message: `unknown environment \`${opts.env}\``,
        hint:
          close !== undefined
            ? `did you mean \`${close}\`? (known: ${listOr(known)})`
            : known.length > 0
              ? `known environments: ${listOr(known)}`
              : 'the spec declares no environments; add one under `environments:`',
      });
    } else {
      const overlay = envs[opts.env];
      if (isPlainObject(overlay)) {
        const { environments: _ignored, ...rest } = overlay;
        if (_ignored !== undefined) {
          baseProblems.push({ path: ['environments', opts.env, 'environments'], mode: 'key', message: 'an environment overlay cannot declare environments' });
        }
        data = mergeOverlay(raw, rest);
        locator = locators(opts.env);
      }
    }
  }

  const problems: Problem[] = [];
  const parsed = AppSchema.safeParse(data);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) problems.push(...issueToProblems(issue, { data, schema: AppSchema }));
  }
  const sem = checkSemantics(data, dir);
  problems.push(...sem.errors);

  // Components are read once the spec itself is valid: their files are located in those files.
  const componentErrors: SpecError[] = [];
  const componentWarnings: SpecError[] = [];
  if (parsed.success && problems.length === 0) {
    const res = readComponentResources(parsed.data, dir);
    const dapr = resolveDaprServices(parsed.data, res, join(dir, '.berth'));
    problems.push(...res.problems, ...dapr.problems);
    componentErrors.push(...res.errors);
    componentWarnings.push(...res.warnings, ...dapr.warnings.map((p) => toSpecError(file, locator, p)));
  }
  const errors = [
    ...dedupe(baseProblems).map((p) => toSpecError(file, baseLocator, p)),
    ...dedupe(problems).map((p) => toSpecError(file, locator, p)),
    ...componentErrors,
  ];
  if (errors.length > 0 || !parsed.success) return { ok: false, errors: sortErrors(errors) };
  const ok = { ok: true as const, spec: parsed.data, file, dir, warnings: sortErrors([...(interpolation?.warnings ?? []).map((p) => toSpecError(file, baseLocator, p)), ...sem.warnings.map((p) => toSpecError(file, locator, p)), ...componentWarnings]) };
  // Positions are a view of the text, not data: kept out of enumeration (JSON, deep comparisons).
  Object.defineProperty(ok, 'locator', { value: locator, enumerable: false });
  Object.defineProperty(ok, 'baseLocator', { value: baseLocator, enumerable: false });
  return ok as Extract<LoadResult, { ok: true }>;
}

function pick(p: { line: number; col: number }): { line: number; col: number } {
  return { line: p.line, col: p.col };
}

/**
 * From this size on, a spec is first read by the fast readers (light-yaml, then js-yaml). Below it,
 * the positioned parse costs milliseconds, so every spec people write by hand takes the one,
 * positioned way.
 */
export const FAST_PATH_MIN_BYTES = 64 * 1024;

/** A locator for the fast path: the text is parsed with positions only if one is asked for (a policy violation). */
function lazyPositions(text: string): LocatorFactory {
  let parsed: ReturnType<typeof parseYaml> | undefined;
  return (overlay) => ({ locate: (path, mode) => new YamlLocator((parsed ??= parseYaml(text)), overlay).locate(path, mode) });
}

/**
 * Validates YAML text as a spec (synchronously; `file` names it in errors and anchors relative paths).
 * A large spec is first read by the light reader (light-yaml.ts), whose positions are read only when
 * a problem must be located; a text outside its subset is read quickly without positions by js-yaml,
 * and only when that reading declines or finds any problem is the text parsed again by the `yaml`
 * library, with positions (so every problem has its file:line:col).
 */
export function validateSpecText(text: string, file: string, opts: LoadOptions = {}): LoadResult {
  const abs = resolve(file);
  if (text.length >= FAST_PATH_MIN_BYTES) {
    const light = readLightYaml(text);
    if (light !== undefined) {
      try {
        const positions = new LightPositions(text);
        return validateData(light.value, abs, (overlay) => new LightLocator(positions, overlay), opts, text.includes('$'));
      } catch {
        // Safe: the paths below validate the same text again and report what is wrong.
      }
    }
  }
  try {
    const fast = text.length >= FAST_PATH_MIN_BYTES ? fastYaml(text) : undefined;
    if (fast !== undefined && fast.value !== null && fast.value !== undefined) {
      const result = validateData(fast.value, abs, lazyPositions(text), opts, text.includes('$'));
      if (result.ok && result.warnings.length === 0) return result;
    }
  } catch {
    // Safe: the positioned path below validates the same text again and reports what is wrong.
  }
  return validateWithPositions(text, abs, opts);
}

/** Validates with the `yaml` library's positions whatever the size (the reference the fast readings must agree with). */
export function validateSpecTextPositioned(text: string, file: string, opts: LoadOptions = {}): LoadResult {
  return validateWithPositions(text, resolve(file), opts);
}

function validateWithPositions(text: string, abs: string, opts: LoadOptions): LoadResult {
  try {
    const parsed = parseYaml(text);
    if (parsed.errors.length > 0) {
      return {
        ok: false,
        errors: parsed.errors.map((e) => ({ file: abs, line: e.line, col: e.col, path: '', message: `YAML syntax error: ${e.message}`, hint: yamlHint(e.code) })),
      };
    }
    if (parsed.doc.contents === null) {
      return {
        ok: false,
        errors: [{ file: abs, line: 1, col: 1, path: '', message: 'the spec is empty', hint: 'a spec needs at least `app` and `services`; `berth init` writes a starter one' }],
      };
    }
    let raw: unknown;
    try {
      raw = parsed.doc.toJS({ maxAliasCount: 1000 });
    } catch (e) {
      return { ok: false, errors: [{ file: abs, line: 1, col: 1, path: '', message: `cannot read the YAML: ${errorMessage(e)}` }] };
    }
    const result = validateData(raw, abs, (overlay) => new YamlLocator(parsed, overlay), opts, text.includes('$'));
    if (result.ok) {
      const yamlWarnings = parsed.warnings.map((w) => ({ file: abs, line: w.line, col: w.col, path: '', message: w.message }));
      result.warnings = sortErrors([...yamlWarnings, ...result.warnings]); // in place: a copy would lose the locators
      return result;
    }
    return result;
  } catch (e) {
    // A bug in Berth, not in the spec; still reported rather than thrown.
    return { ok: false, errors: [{ file: abs, line: 0, col: 0, path: '', message: `internal error while validating: ${errorMessage(e)}` }] };
  }
}

function yamlHint(code: string): string | undefined {
  switch (code) {
    case 'DUPLICATE_KEY':
      return 'each key may appear only once in a mapping';
    case 'TAB_AS_INDENT':
      return 'indent with spaces, not tabs';
    case 'BAD_INDENT':
    case 'MISSING_CHAR':
      return 'check the indentation and brackets around this line';
    case 'MULTIPLE_DOCS':
      return 'a spec is a single YAML document: remove the extra `---`';
    default:
      return undefined;
  }
}

function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function notFound(abs: string): LoadResult {
  return {
    ok: false,
    errors: [
      {
        file: abs,
        line: 0,
        col: 0,
        path: '',
        message: 'spec file not found',
        hint: 'run `berth init` to create a berth.yaml, or pass the path of an existing spec',
      },
    ],
  };
}

/**
 * Where an import error points inside the config, and a one-line message: esbuild's
 * "file:line:col: ERROR: …" (0-based column) or a stack frame in that file; else line 1, col 1.
 */
function importFailure(e: unknown, abs: string): { line: number; col: number; message: string } {
  const raw = errorMessage(e);
  const esc = abs.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const m = new RegExp(`${esc}:(\\d+):(\\d+): (?:ERROR: )?(.*)`).exec(raw);
  if (m) return { line: Number(m[1]), col: Number(m[2]) + 1, message: m[3] };
  const message = raw.split('\n')[0].replace(/\?namespace=[\w-]+/g, '');
  const stack = e instanceof Error && typeof e.stack === 'string' ? e.stack : '';
  for (const l of stack.split('\n')) {
    const f = new RegExp(`(?:file://)?${esc}(?:\\?[^:]*)?:(\\d+):(\\d+)`).exec(l);
    if (f) return { line: Number(f[1]), col: Number(f[2]), message };
  }
  return { line: 1, col: 1, message };
}

let selfResolveRegistered = false;
/** `import … from 'berth'` in a config falls back to this installation (see self-resolve-hook.ts). */
async function registerSelfResolve(): Promise<void> {
  if (selfResolveRegistered) return;
  selfResolveRegistered = true;
  const mod = await import('node:module');
  // ES module configs (.mts, or "type": "module"): a resolve hook; CommonJS ones (tsx compiles a plain
  // .ts so): the require resolver, patched before tsx wraps it.
  mod.register(new URL('./self-resolve-hook.js', import.meta.url).href, import.meta.url, { data: { url: new URL('../index.js', import.meta.url).href } });
  const shim = fileURLToPath(new URL('./define-app-shim.cjs', import.meta.url));
  const M = mod.default as unknown as { _resolveFilename: (request: string, ...rest: unknown[]) => string };
  const original = M._resolveFilename;
  M._resolveFilename = function (this: unknown, request: string, ...rest: unknown[]): string {
    try {
      return original.call(this, request, ...rest);
    } catch (err) {
      if (request === 'berth') return shim;
      throw err;
    }
  };
}

async function loadModuleSpec(abs: string, opts: LoadOptions): Promise<LoadResult> {
  let value: unknown;
  try {
    await registerSelfResolve();
    const { tsImport } = await import('tsx/esm/api');
    const mod = (await tsImport(pathToFileURL(abs).href, import.meta.url)) as Record<string, unknown>;
    value = mod.default;
    // A config compiled as CommonJS arrives as its exports object, marked __esModule.
    if (isPlainObject(value) && value.__esModule === true) value = value.default;
    if (typeof value === 'function') value = await (value as () => unknown)();
  } catch (e) {
    const f = importFailure(e, abs);
    return { ok: false, errors: [{ file: abs, line: f.line, col: f.col, path: '', message: `the config failed to load: ${f.message}` }] };
  }
  if (value === undefined) {
    return {
      ok: false,
      errors: [{ file: abs, line: 1, col: 1, path: '', message: 'the config has no default export', hint: 'end it with `export default defineApp({ app: …, services: { … } })`' }],
    };
  }
  let text = '';
  try {
    text = readFileSync(abs, 'utf8');
  } catch {
    // an unreadable file is reported by the loader below with its path and reason
  }
  try {
    return validateData(value, abs, () => new SourceSearchLocator(text), opts);
  } catch (e) {
    return { ok: false, errors: [{ file: abs, line: 0, col: 0, path: '', message: `internal error while validating: ${errorMessage(e)}` }] };
  }
}

/**
 * Loads and validates a spec: berth.yaml / .yml, or berth.config.ts (.mts/.js/.mjs). `file` may
 * be relative or a directory (then its spec file is looked for). Never throws for user input.
 */
export async function loadSpec(file: string, opts: LoadOptions = {}): Promise<LoadResult> {
  let abs = resolve(file);
  let st;
  try {
    st = statSync(abs);
  } catch {
    return notFound(abs);
  }
  if (st.isDirectory()) {
    const found = findSpecFile(abs);
    if (found === undefined) return notFound(join(abs, SPEC_FILE_NAMES[0]));
    abs = found;
  }
  if (MODULE_EXTENSIONS.has(extname(abs))) return loadModuleSpec(abs, opts);
  let text: string;
  try {
    text = readFileSync(abs, 'utf8');
  } catch (e) {
    return { ok: false, errors: [{ file: abs, line: 0, col: 0, path: '', message: `cannot read the spec: ${errorMessage(e)}` }] };
  }
  return validateSpecText(text, abs, opts);
}
