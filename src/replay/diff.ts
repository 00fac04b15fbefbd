// Response differ: compares an expected response (recorded, or a primary's) with an actual one —
// status, chosen headers, JSON per field (`$.items[3].price`), text by line — and aggregates the
// differences per endpoint. Noise is learnt, not configured: fields that differ between two runs
// of the same code (a baseline) are dropped from the report for that endpoint, as Diffy does.
import { createHash } from 'node:crypto';
import { endpointKey } from './route-pattern.js';

export interface ComparableResponse {
  status: number;
  /** Header names in lower case. */
  headers: ReadonlyArray<readonly [string, string]>;
  /** undefined: the body is not known (a browser HAR without content text); it is then not compared. */
  body: Buffer | undefined;
  /** Only a prefix of the body was kept (recorded at maxBodyBytes): compare that prefix only. */
  truncated?: boolean;
}

export interface FieldDiff {
  /** `status`, `header:<name>`, a JSON path (`$.items[3].price`), `line <n>`, or `body`. */
  path: string;
  expected: string;
  actual: string;
}

export interface DiffOptions {
  /** Headers compared (lower case). Default: content-type, location. */
  readonly headers?: readonly string[];
  /** JSON paths (`$.meta.now`, `$.items[*].id`; a path also covers what is under it) and header names never compared. */
  readonly ignore?: readonly string[];
}

export const DEFAULT_COMPARED_HEADERS: readonly string[] = ['content-type', 'location'];
const MISSING = '<missing>';
const MAX_FIELD_DIFFS = 200; // per response: a wholly different body reports its first fields, not thousands
const EXAMPLE_CHARS = 200;

/** `$.items[3].price` → `$.items[*].price`: the form noise and ignore rules are kept in. */
export const generalizePath = (path: string): string => path.replace(/\[\d+\]/g, '[*]');

const show = (v: unknown): string => {
  const s = v === undefined ? MISSING : typeof v === 'string' ? JSON.stringify(v) : JSON.stringify(v) ?? String(v);
  return s.length > EXAMPLE_CHARS ? `${s.slice(0, EXAMPLE_CHARS)}…` : s;
};

const keyPath = (base: string, key: string): string => (/^[A-Za-z_$][\w$]*$/.test(key) ? `${base}.${key}` : `${base}[${JSON.stringify(key)}]`);

function diffJson(a: unknown, b: unknown, path: string, out: FieldDiff[]): void {
  if (out.length >= MAX_FIELD_DIFFS) return;
  if (a === b) return;
  const aArr = Array.isArray(a);
  const bArr = Array.isArray(b);
  if (aArr && bArr) {
    const n = Math.max(a.length, b.length);
    for (let i = 0; i < n; i++) diffJson(i < a.length ? a[i] : undefined, i < b.length ? b[i] : undefined, `${path}[${i}]`, out);
    return;
  }
  const aObj = a !== null && typeof a === 'object' && !aArr;
  const bObj = b !== null && typeof b === 'object' && !bArr;
  if (aObj && bObj) {
    const ao = a as Record<string, unknown>;
    const bo = b as Record<string, unknown>;
    for (const k of Object.keys(ao)) diffJson(ao[k], Object.hasOwn(bo, k) ? bo[k] : undefined, keyPath(path, k), out);
    for (const k of Object.keys(bo)) if (!Object.hasOwn(ao, k)) diffJson(undefined, bo[k], keyPath(path, k), out);
    return;
  }
  // Scalars, or a change of type: one difference at this path.
  if (typeof a === 'number' && typeof b === 'number' && Number.isNaN(a) && Number.isNaN(b)) return;
  out.push({ path, expected: show(a), actual: show(b) });
}

/** By line: common head and tail are trimmed (O(n)), the differing middle is reported line by line. */
function diffLines(a: string, b: string, out: FieldDiff[]): void {
  const al = a.split('\n');
  const bl = b.split('\n');
  let head = 0;
  while (head < al.length && head < bl.length && al[head] === bl[head]) head++;
  let tail = 0;
  while (tail < al.length - head && tail < bl.length - head && al[al.length - 1 - tail] === bl[bl.length - 1 - tail]) tail++;
  const n = Math.max(al.length - head - tail, bl.length - head - tail);
  for (let i = 0; i < n && out.length < MAX_FIELD_DIFFS; i++) {
    const x = head + i < al.length - tail ? al[head + i] : undefined;
    const y = head + i < bl.length - tail ? bl[head + i] : undefined;
    out.push({ path: `line ${head + i + 1}`, expected: show(x), actual: show(y) });
  }
}

const header = (r: ComparableResponse, name: string): string | undefined => {
  const vals = r.headers.filter(([k]) => k === name).map(([, v]) => v);
  return vals.length ? vals.join(', ') : undefined;
};

const isJsonType = (r: ComparableResponse): boolean => /[/+]json\b/i.test(header(r, 'content-type') ?? '');
const looksJson = (b: Buffer): boolean => {
  for (const c of b) {
    if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) continue;
    return c === 0x7b || c === 0x5b; // { or [
  }
  return false;
};

function parseJson(b: Buffer): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(b.toString('utf8')) };
  } catch {
    return { ok: false }; // not JSON: the caller compares it as text
  }
}

const isText = (r: ComparableResponse, b: Buffer): boolean => /^text\/|[/+](json|xml|javascript)\b|x-www-form-urlencoded/i.test(header(r, 'content-type') ?? '') || !b.includes(0);
const digest = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex').slice(0, 16)} (${b.length} bytes)`;

function diffBody(exp: ComparableResponse, act: ComparableResponse, out: FieldDiff[]): void {
  if (exp.body === undefined) return;
  const a = exp.body;
  let b = act.body ?? Buffer.alloc(0);
  if (exp.truncated) {
    // Only a prefix was recorded: the replayed body must start with it.
    b = b.subarray(0, a.length);
    if (!a.equals(b)) out.push({ path: 'body', expected: `${digest(a)} (truncated recording)`, actual: digest(b) });
    return;
  }
  if (a.equals(b)) return;
  if ((isJsonType(exp) || looksJson(a)) && (isJsonType(act) || looksJson(b))) {
    const pa = parseJson(a);
    const pb = parseJson(b);
    if (pa.ok && pb.ok) return diffJson(pa.value, pb.value, '$', out);
  }
  if (isText(exp, a) && isText(act, b)) return diffLines(a.toString('utf8'), b.toString('utf8'), out);
  out.push({ path: 'body', expected: digest(a), actual: digest(b) });
}

/** Compiled `ignore` rules: header names, and JSON path patterns matched on the generalized path and its parents. */
export class IgnoreRules {
  private readonly headers = new Set<string>();
  private readonly paths = new Set<string>();
  constructor(rules: readonly string[] = []) {
    for (const r of rules) {
      const t = r.trim();
      if (!t) continue;
      if (t.startsWith('$')) this.paths.add(generalizePath(t));
      else this.headers.add(t.toLowerCase().replace(/^header:/, ''));
    }
  }
  get empty(): boolean {
    return this.headers.size === 0 && this.paths.size === 0;
  }
  ignoresHeader(name: string): boolean {
    return this.headers.has(name);
  }
  ignoresPath(path: string): boolean {
    if (!path.startsWith('$') || this.paths.size === 0) return false;
    let p = generalizePath(path);
    for (;;) {
      if (this.paths.has(p)) return true;
      const cut = Math.max(p.lastIndexOf('.'), p.lastIndexOf('['));
      if (cut <= 0) return false;
      p = p.slice(0, cut);
    }
  }
}

/** Every difference between two responses (ignore rules applied, noise not yet). */
export function diffResponses(expected: ComparableResponse, actual: ComparableResponse, options: DiffOptions | { headers?: readonly string[]; rules: IgnoreRules } = {}): FieldDiff[] {
  const rules = 'rules' in options ? options.rules : new IgnoreRules(options.ignore);
  const out: FieldDiff[] = [];
  if (expected.status !== actual.status) out.push({ path: 'status', expected: String(expected.status), actual: String(actual.status) });
  for (const h of options.headers ?? DEFAULT_COMPARED_HEADERS) {
    if (rules.ignoresHeader(h)) continue;
    const x = header(expected, h);
    const y = header(actual, h);
    if (x !== y) out.push({ path: `header:${h}`, expected: x ?? MISSING, actual: y ?? MISSING });
  }
  diffBody(expected, actual, out);
  return rules.empty ? out : out.filter((d) => !rules.ignoresPath(d.path));
}

// ---------------------------------------------------------------------------------------------
// Noise and the per-endpoint report

/** Fields (generalized paths) that differ between two runs of the same code, per endpoint. */
export class NoiseModel {
  private readonly byEndpoint = new Map<string, Set<string>>();

  /** Learns from one pair of responses of the same code to the same request. */
  learn(endpoint: string, diffs: readonly FieldDiff[]): void {
    if (diffs.length === 0) return;
    let set = this.byEndpoint.get(endpoint);
    if (!set) this.byEndpoint.set(endpoint, (set = new Set()));
    for (const d of diffs) set.add(generalizePath(d.path));
  }

  has(endpoint: string): boolean {
    return this.byEndpoint.has(endpoint);
  }

  isNoise(endpoint: string, path: string): boolean {
    return this.byEndpoint.get(endpoint)?.has(generalizePath(path)) ?? false;
  }

  fields(endpoint: string): string[] {
    return [...(this.byEndpoint.get(endpoint) ?? [])].sort();
  }
}

export interface FieldSummary {
  /** Generalized path: `$.items[*].price`. */
  path: string;
  /** Requests in which this field differed. */
  count: number;
  examples: { expected: string; actual: string; request: string }[];
}

export interface EndpointReport {
  /** `GET /items/{n}` */
  endpoint: string;
  method: string;
  route: string;
  requests: number;
  /** Requests with at least one difference beyond noise. */
  diffs: number;
  /** Requests that got no response (connection error, timeout). */
  failed: number;
  /** Most frequent differing fields first. */
  fields: FieldSummary[];
  /** Fields learnt as noise (not counted). */
  noise: string[];
}

export interface DiffReport {
  requests: number;
  compared: number;
  /** Requests with differences beyond noise. */
  diffs: number;
  failed: number;
  diffPercent: number;
  endpoints: EndpointReport[];
}

const TOP_FIELDS = 10;
const EXAMPLES = 3;

interface Tally {
  withDiffs: number;
  fields: Map<string, FieldSummary>;
}

interface EndpointAcc {
  method: string;
  route: string;
  requests: number;
  failed: number;
  /** Raw differences per request (noise is known only at the end). */
  pending: { request: string; diffs: FieldDiff[] }[];
  /** Requests folded out of `pending` to bound memory (long --loop runs), judged by the noise known then. */
  folded: Tally;
}

/** Pending requests with differences kept per endpoint before the oldest half is folded into counts. */
const MAX_PENDING = 20_000;

/**
 * Collects comparisons as they come and builds the report at the end, when the noise learnt from
 * every baseline pair is known (a field found noisy late still applies to earlier requests).
 */
export class DiffCollector {
  readonly noise = new NoiseModel();
  private readonly endpoints = new Map<string, EndpointAcc>();
  private readonly rules: IgnoreRules;
  private readonly headers: readonly string[];

  constructor(options: DiffOptions = {}) {
    this.rules = new IgnoreRules(options.ignore);
    this.headers = options.headers ?? DEFAULT_COMPARED_HEADERS;
  }

  private acc(method: string, pathname: string, known?: string): [string, EndpointAcc] {
    const key = known ?? endpointKey(method, pathname);
    let a = this.endpoints.get(key);
    if (!a) this.endpoints.set(key, (a = { method: method.toUpperCase(), route: key.slice(key.indexOf(' ') + 1), requests: 0, failed: 0, pending: [], folded: { withDiffs: 0, fields: new Map() } }));
    return [key, a];
  }

  /** The differences of one request (ignore rules applied). With `baseline`, also learns noise from expected vs baseline. */
  compare(request: { method: string; url: URL | string; id?: string; endpoint?: string }, expected: ComparableResponse, actual: ComparableResponse, baseline?: ComparableResponse): FieldDiff[] {
    const url = typeof request.url === 'string' ? new URL(request.url, 'http://x') : request.url;
    const [key, a] = this.acc(request.method, url.pathname, request.endpoint);
    a.requests++;
    const opts = { headers: this.headers, rules: this.rules };
    if (baseline) this.noise.learn(key, diffResponses(expected, baseline, opts));
    const diffs = diffResponses(expected, actual, opts);
    if (diffs.length) {
      a.pending.push({ request: request.id ?? `${request.method} ${url.pathname}${url.search}`, diffs });
      if (a.pending.length > MAX_PENDING) this.tally(key, a.pending.splice(0, MAX_PENDING / 2), a.folded);
    }
    if (diffs.length === 0 || !this.noise.has(key)) return diffs;
    return diffs.filter((d) => !this.noise.isNoise(key, d.path));
  }

  /** A request that got no answer. */
  failed(request: { method: string; url: URL | string; endpoint?: string }): void {
    const url = typeof request.url === 'string' ? new URL(request.url, 'http://x') : request.url;
    const [, a] = this.acc(request.method, url.pathname, request.endpoint);
    a.requests++;
    a.failed++;
  }

  /** Counts the requests of `pending` whose differences go beyond the noise known now. */
  private tally(key: string, pending: EndpointAcc['pending'], into: Tally): void {
    for (const p of pending) {
      const real = p.diffs.filter((d) => !this.noise.isNoise(key, d.path));
      if (real.length === 0) continue;
      into.withDiffs++;
      const seen = new Set<string>();
      for (const d of real) {
        const g = generalizePath(d.path);
        let f = into.fields.get(g);
        if (!f) into.fields.set(g, (f = { path: g, count: 0, examples: [] }));
        if (!seen.has(g)) {
          seen.add(g);
          f.count++;
        }
        if (f.examples.length < EXAMPLES) f.examples.push({ expected: d.expected, actual: d.actual, request: p.request });
      }
    }
  }

  report(): DiffReport {
    const endpoints: EndpointReport[] = [];
    let requests = 0;
    let diffs = 0;
    let failed = 0;
    for (const [key, a] of this.endpoints) {
      const t: Tally = { withDiffs: a.folded.withDiffs, fields: new Map([...a.folded.fields].map(([k, f]) => [k, { ...f, examples: [...f.examples] }])) };
      this.tally(key, a.pending, t);
      const top = [...t.fields.values()].sort((x, y) => y.count - x.count || x.path.localeCompare(y.path)).slice(0, TOP_FIELDS);
      endpoints.push({ endpoint: key, method: a.method, route: a.route, requests: a.requests, diffs: t.withDiffs, failed: a.failed, fields: top, noise: this.noise.fields(key) });
      requests += a.requests;
      diffs += t.withDiffs;
      failed += a.failed;
    }
    endpoints.sort((x, y) => y.diffs + y.failed - (x.diffs + x.failed) || x.endpoint.localeCompare(y.endpoint));
    const compared = requests - failed;
    return { requests, compared, diffs, failed, diffPercent: compared ? Math.round((diffs / compared) * 10000) / 100 : 0, endpoints };
  }
}
