// Metric providers of analysis templates: each takes one measurement and gives the `result` the
// conditions read, or throws (any error is an Error measurement, never a Failed one).
//   prometheus — a PromQL instant query against a Prometheus HTTP API (vector → list of values);
//   web        — an HTTP GET whose JSON answer (or its part at jsonPath) is result;
//   berth      — request counters of the mesh sidecars, canary and stable over the same window
//                (berth-provider.ts).
import http from 'node:http';
import https from 'node:https';
import type { AnalysisMetricSpec } from '../../contract/index.js';
import type { AnalysisContext } from './analysis-run.js';

export interface MeasureContext extends AnalysisContext {
  /** Stops a measurement in progress (the run was stopped or the control plane is closing). */
  signal: AbortSignal;
  /** Which metric of which run this is (`<run id>/<metric>`): a provider may keep state between its measurements. */
  key?: string;
}

/** Takes one measurement of `metric`; the promise rejects when it cannot be taken. */
export type MeasureFn = (metric: AnalysisMetricSpec, ctx: MeasureContext) => Promise<unknown>;

export interface MetricProviders {
  berth: MeasureFn;
  prometheus: MeasureFn;
  web: MeasureFn;
  /** Replays recorded traffic to the canary (providers/replay.ts); absent where no recordings can be read. */
  replay?: MeasureFn;
}

const DEFAULT_TIMEOUT_S = 10;
/** Largest answer a web or prometheus provider reads (a result is judged, not stored whole). */
const MAX_BODY_BYTES = 1 << 20;

/**
 * GET `url` and parse its JSON answer. One connection per measurement (no keep-alive pool): a
 * measurement every few seconds gains nothing from one, and a pooled socket the server closed
 * meanwhile would turn into a spurious Error.
 */
function getJson(url: string, headers: Record<string, string>, timeoutSeconds: number, signal: AbortSignal): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    let target: URL;
    try {
      target = new URL(url);
    } catch {
      return reject(new Error(`${url} is not a valid URL`));
    }
    const get = target.protocol === 'https:' ? https.get : http.get;
    const req = get(target, { agent: false, headers: { accept: 'application/json', ...headers }, timeout: timeoutSeconds * 1000, signal }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_BODY_BYTES) {
          req.destroy(new Error(`GET ${url}: the answer is larger than ${MAX_BODY_BYTES} bytes`));
          return;
        }
        chunks.push(c);
      });
      res.on('error', (err) => reject(new Error(`GET ${url}: ${err.message}`)));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        try {
          resolve({ status: res.statusCode ?? 0, body: text === '' ? null : (JSON.parse(text) as unknown) });
        } catch {
          reject(new Error(`GET ${url}: the answer (${res.statusCode}) is not JSON: ${JSON.stringify(text.slice(0, 120))}`));
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: no answer within ${timeoutSeconds}s`)));
    req.on('error', (err: NodeJS.ErrnoException) => reject(err.message.startsWith('GET ') ? err : new Error(`GET ${url}: ${err.code ?? err.message}`)));
  });
}

/** Prometheus' sample value: a string number, or NaN / ±Inf spelled as Prometheus does. */
function sampleValue(v: unknown): number {
  if (typeof v !== 'string') return NaN;
  if (v === '+Inf' || v === 'Inf') return Infinity;
  if (v === '-Inf') return -Infinity;
  return Number(v);
}

/** The `result` of a Prometheus query answer, as Argo gives it: vector → values, scalar → value, matrix → lists of values. */
export function prometheusResult(body: unknown): unknown {
  const b = body as { status?: unknown; error?: unknown; errorType?: unknown; data?: { resultType?: unknown; result?: unknown } } | null;
  if (!b || typeof b !== 'object') throw new Error('the answer is not a Prometheus API response');
  if (b.status !== 'success') throw new Error(`Prometheus: ${typeof b.errorType === 'string' ? `${b.errorType}: ` : ''}${typeof b.error === 'string' ? b.error : `status ${JSON.stringify(b.status)}`}`);
  const data = b.data;
  if (!data || typeof data !== 'object') throw new Error('the answer has no data');
  const result = data.result;
  switch (data.resultType) {
    case 'vector':
      if (!Array.isArray(result)) throw new Error('a vector answer without a result list');
      return result.map((s: { value?: unknown[] }) => sampleValue(Array.isArray(s?.value) ? s.value[1] : undefined));
    case 'scalar':
      if (!Array.isArray(result)) throw new Error('a scalar answer without a value');
      return sampleValue(result[1]);
    case 'string':
      if (!Array.isArray(result)) throw new Error('a string answer without a value');
      return typeof result[1] === 'string' ? result[1] : String(result[1]);
    case 'matrix':
      if (!Array.isArray(result)) throw new Error('a matrix answer without a result list');
      return result.map((s: { values?: unknown[][] }) => (Array.isArray(s?.values) ? s.values.map((p) => sampleValue(Array.isArray(p) ? p[1] : undefined)) : []));
    default:
      throw new Error(`unknown resultType ${JSON.stringify(data.resultType)}`);
  }
}

export const measurePrometheus: MeasureFn = async (metric, ctx) => {
  const p = metric.provider.prometheus;
  if (!p) throw new Error('not a prometheus metric');
  const url = new URL('api/v1/query', p.address.endsWith('/') ? p.address : `${p.address}/`);
  url.searchParams.set('query', p.query);
  url.searchParams.set('time', String(Date.now() / 1000));
  const { body } = await getJson(url.toString(), {}, p.timeoutSeconds ?? DEFAULT_TIMEOUT_S, ctx.signal);
  // Prometheus answers errors with 400/422/503 and a JSON body saying why: read it either way.
  return prometheusResult(body);
};

/**
 * The part of `value` at a JSON path: `$`, `.name`, `['name']`, `[n]` (the subset Argo's examples
 * use; `{$.a.b}` braces, as in Kubernetes' JSONPath, are allowed). Missing → an error.
 */
export function jsonPathValue(value: unknown, path: string): unknown {
  const p = path.trim().replace(/^\{(.*)\}$/s, '$1').trim();
  if (!p.startsWith('$')) throw new Error(`jsonPath ${JSON.stringify(path)} must start with $`);
  let cur: unknown = value;
  const re = /\.([A-Za-z_$][\w$-]*)|\[(\d+)\]|\['([^']*)'\]|\["([^"]*)"\]/y;
  re.lastIndex = 1;
  while (re.lastIndex < p.length) {
    const start = re.lastIndex;
    const m = re.exec(p);
    if (!m) throw new Error(`jsonPath ${JSON.stringify(path)}: cannot read from character ${start + 1}`);
    const key = m[1] ?? m[3] ?? m[4];
    if (m[2] !== undefined) {
      if (!Array.isArray(cur) || Number(m[2]) >= cur.length) throw new Error(`jsonPath ${JSON.stringify(path)}: no element [${m[2]}]`);
      cur = cur[Number(m[2])] as unknown;
    } else {
      if (cur === null || typeof cur !== 'object' || Array.isArray(cur) || !Object.hasOwn(cur, key!)) throw new Error(`jsonPath ${JSON.stringify(path)}: no field ${key}`);
      cur = (cur as Record<string, unknown>)[key!];
    }
  }
  return cur;
}

export const measureWeb: MeasureFn = async (metric, ctx) => {
  const w = metric.provider.web;
  if (!w) throw new Error('not a web metric');
  const headers = Object.fromEntries(w.headers.map((h) => [h.key, h.value]));
  const { status, body } = await getJson(w.url, headers, w.timeoutSeconds ?? DEFAULT_TIMEOUT_S, ctx.signal);
  if (status < 200 || status > 299) throw new Error(`GET ${w.url}: status ${status}`);
  return w.jsonPath !== undefined ? jsonPathValue(body, w.jsonPath) : body;
};
