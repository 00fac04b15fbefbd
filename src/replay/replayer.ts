// Replays recorded exchanges against a live target: original pacing (scaled) or a fixed rate, a
// bounded number of requests in flight over keep-alive connections, write methods skipped unless
// side effects are allowed, and every answer compared with the recorded one (or with a second
// live target's, Diffy's primary/candidate), with noise learnt from an optional baseline target.
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { brotliDecompressSync, gunzipSync, inflateSync } from 'node:zlib';
import { DiffCollector, type ComparableResponse, type DiffOptions, type DiffReport, type FieldDiff } from './diff.js';
import { WRITE_METHODS, type RecordedExchange } from './har.js';
import { endpointKey } from './route-pattern.js';

/** `original` pacing scaled by `factor` (2 = twice as fast), a fixed rate, or as fast as the concurrency allows. */
export type ReplayRate = { kind: 'original'; factor: number } | { kind: 'fixed'; perSecond: number } | { kind: 'max' };

export class RateError extends Error {}

/** `original`, `2x`, `0.5x`, `200/s`, `max`. */
export function parseRate(text: string): ReplayRate {
  const t = text.trim().toLowerCase();
  if (t === 'original') return { kind: 'original', factor: 1 };
  if (t === 'max') return { kind: 'max' };
  let m = /^(\d+(?:\.\d+)?)x$/.exec(t);
  if (m && Number(m[1]) > 0) return { kind: 'original', factor: Number(m[1]) };
  m = /^(\d+(?:\.\d+)?)\/s$/.exec(t);
  if (m && Number(m[1]) > 0) return { kind: 'fixed', perSecond: Number(m[1]) };
  throw new RateError(`--rate must be original, Nx (e.g. 2x), N/s (e.g. 200/s) or max, got ${JSON.stringify(text)}`);
}

/** Where requests go: one or more base URLs (instances of a variant), used in turn. */
export interface ReplayTarget {
  readonly name: string;
  readonly bases: readonly URL[];
}

export interface ReplayProgress {
  sent: number;
  ok: number;
  failed: number;
  diff: number;
  skipped: number;
  elapsedMs: number;
}

export interface ReplayOptions {
  readonly exchanges: readonly RecordedExchange[];
  readonly to: ReplayTarget;
  /** Compare with this live target's answers instead of the recorded ones. */
  readonly against?: ReplayTarget;
  /** A second run of the reference code, to learn noise. */
  readonly baseline?: ReplayTarget;
  readonly rate: ReplayRate;
  /** Requests in flight at most (per target). */
  readonly concurrency: number;
  readonly filter?: (x: RecordedExchange) => boolean;
  /** Start over at the end, until `signal` aborts or `maxDurationMs` passes. */
  readonly loop?: boolean;
  readonly maxDurationMs?: number;
  readonly allowSideEffects?: boolean;
  readonly diff?: DiffOptions;
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
  readonly onProgress?: (p: ReplayProgress) => void;
  /** Called with each request's differences beyond what is noise so far. */
  readonly onDiff?: (x: RecordedExchange, diffs: FieldDiff[]) => void;
}

export interface SkipCounts {
  /** POST/PUT/PATCH/DELETE without allowSideEffects. */
  sideEffects: number;
  /** Not matched by the filter. */
  filtered: number;
  /** Not http(s), or a browser entry with no response (status 0) to compare. */
  unreplayable: number;
}

export interface ReplayResult {
  progress: ReplayProgress;
  skipped: SkipCounts;
  report: DiffReport;
  durationMs: number;
  /** Requests per second actually sent to `to`. */
  rps: number;
  /** Why requests got no answer: error code or message → count. */
  failures: Record<string, number>;
  /** How late requests left compared with their schedule (ms), p50 and max: pacing fidelity. */
  lagMs: { p50: number; max: number };
}

const MAX_BODY = 16 * 1024 * 1024;

interface Prepared {
  x: RecordedExchange;
  /** Offset from the start of the replay (ms) under original pacing. */
  offset: number;
  path: string;
  headers: Record<string, string | string[]>;
  /** `GET /items/{n}`, computed once. */
  endpoint: string;
  /** What the report names the request by. */
  id: string;
}

function prepare(x: RecordedExchange, offset: number): Prepared {
  const headers: Record<string, string | string[]> = {};
  for (const [k, v] of x.headers) {
    const key = k.toLowerCase();
    const prev = headers[key];
    headers[key] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  if (x.body) headers['content-length'] = String(x.body.length);
  // The Host the client used when recorded: apps that build links from it answer as they did then.
  headers.host = x.url.host;
  // The target as recorded (dot segments, `//` kept): what the app received then, not what URL makes of it.
  return { x, offset, path: x.target ?? `${x.url.pathname}${x.url.search}`, headers, endpoint: endpointKey(x.method, x.url.pathname), id: `${x.source} ${x.method} ${x.url.pathname}${x.url.search}` };
}

function decode(body: Buffer, encoding: string | undefined): Buffer {
  try {
    switch ((encoding ?? '').trim().toLowerCase()) {
      case 'gzip':
      case 'x-gzip':
        return gunzipSync(body);
      case 'deflate':
        return inflateSync(body);
      case 'br':
        return brotliDecompressSync(body);
      default:
        return body;
    }
  } catch {
    return body; // not what it claims to be: compared as sent
  }
}

/** One target's connection pool and round robin over its base URLs. */
class TargetClient {
  private readonly agent: http.Agent;
  private next = 0;
  constructor(
    readonly target: ReplayTarget,
    concurrency: number,
    private readonly timeoutMs: number,
  ) {
    this.agent = new http.Agent({ keepAlive: true, maxSockets: concurrency, maxFreeSockets: concurrency, scheduling: 'lifo' });
  }

  /**
   * One request. A kept-alive connection the server closed just as it was reused fails at once
   * (ECONNRESET, EPIPE): an idempotent request is then sent again, once, on a fresh connection.
   */
  async send(p: Prepared): Promise<ComparableResponse> {
    try {
      return await this.sendOnce(p);
    } catch (err) {
      const e = err as NodeJS.ErrnoException & { reusedSocket?: boolean };
      if (e.reusedSocket && (e.code === 'ECONNRESET' || e.code === 'EPIPE') && !WRITE_METHODS.has(p.x.method)) return this.sendOnce(p);
      throw err;
    }
  }

  private sendOnce(p: Prepared): Promise<ComparableResponse> {
    const base = this.target.bases[this.next++ % this.target.bases.length];
    const prefix = base.pathname.endsWith('/') ? base.pathname.slice(0, -1) : base.pathname;
    return new Promise((resolve, reject) => {
      const req = http.request(
        { host: base.hostname.replace(/^\[|\]$/g, ''), port: base.port || 80, method: p.x.method, path: prefix + p.path, headers: p.headers, agent: this.agent, timeout: this.timeoutMs },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size <= MAX_BODY) chunks.push(c);
          });
          res.on('end', () => {
            const headers: [string, string][] = [];
            const raw = res.rawHeaders;
            for (let i = 0; i < raw.length; i += 2) headers.push([raw[i].toLowerCase(), raw[i + 1]]);
            const body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
            resolve({ status: res.statusCode ?? 0, headers, body: decode(body, res.headers['content-encoding']) });
          });
          res.on('error', reject);
          // The connection closed mid-body: no answer, not a short one.
          res.on('close', () => {
            if (!res.complete) reject(new Error('the connection closed before the answer was complete'));
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer within ${this.timeoutMs} ms`)));
      req.on('error', (err: Error) => reject(Object.assign(err, { reusedSocket: req.reusedSocket })));
      req.end(p.x.body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

const quantile = (xs: number[], q: number): number => {
  if (!xs.length) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};

/** Runs the replay to the end (or until aborted) and returns the counts and the diff report. */
export async function replay(o: ReplayOptions): Promise<ReplayResult> {
  if (!(o.concurrency >= 1)) throw new RangeError('concurrency must be >= 1');
  if (o.to.bases.length === 0) throw new RangeError(`target ${o.to.name} has no address`);
  const skipped: SkipCounts = { sideEffects: 0, filtered: 0, unreplayable: 0 };
  const chosen: RecordedExchange[] = [];
  for (const x of o.exchanges) {
    if (x.url.protocol !== 'http:' && x.url.protocol !== 'https:') skipped.unreplayable++;
    else if (x.response.status === 0 && !o.against) skipped.unreplayable++;
    else if (o.filter && !o.filter(x)) skipped.filtered++;
    else if (WRITE_METHODS.has(x.method) && !o.allowSideEffects) skipped.sideEffects++;
    else chosen.push(x);
  }
  // Recorded order is start order; HAR files from several sources may interleave.
  chosen.sort((a, b) => a.startedAt - b.startedAt);
  const t0 = chosen.length ? chosen[0].startedAt : 0;
  const span = chosen.length ? chosen[chosen.length - 1].startedAt - t0 : 0;
  // The pause between the end of one loop and the start of the next: the mean gap.
  const loopGap = chosen.length > 1 ? span / (chosen.length - 1) : 0;
  const prepared = chosen.map((x) => prepare(x, x.startedAt - t0));

  const timeoutMs = o.timeoutMs ?? 30_000;
  const to = new TargetClient(o.to, o.concurrency, timeoutMs);
  const against = o.against && new TargetClient(o.against, o.concurrency, timeoutMs);
  const baseline = o.baseline && new TargetClient(o.baseline, o.concurrency, timeoutMs);
  const collector = new DiffCollector(o.diff);
  const progress: ReplayProgress = { sent: 0, ok: 0, failed: 0, diff: 0, skipped: skipped.sideEffects + skipped.filtered + skipped.unreplayable, elapsedMs: 0 };
  const lags: number[] = [];

  const start = performance.now();
  const deadline = o.maxDurationMs !== undefined ? start + o.maxDurationMs : Infinity;
  const dueAt = (i: number): number => {
    const cycle = Math.floor(i / prepared.length);
    const p = prepared[i % prepared.length];
    switch (o.rate.kind) {
      case 'max':
        return start;
      case 'fixed':
        return start + (i * 1000) / o.rate.perSecond;
      case 'original':
        return start + (cycle * (span + loopGap) + p.offset) / o.rate.factor;
    }
  };

  let inFlight = 0;
  let wake: (() => void) | undefined;
  const wakeUp = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const stopped = () => o.signal?.aborted === true || performance.now() >= deadline;
  o.signal?.addEventListener('abort', wakeUp, { once: true });

  const failures: Record<string, number> = {};
  const noteFailure = (target: string, err: Error): undefined => {
    const key = `${target}: ${(err as NodeJS.ErrnoException).code ?? err.message}`;
    if (key in failures || Object.keys(failures).length < 20) failures[key] = (failures[key] ?? 0) + 1;
    return undefined;
  };
  const request = (p: Prepared) => ({ method: p.x.method, url: p.x.url, id: p.id, endpoint: p.endpoint });
  /** The answers of every target for one request; undefined when any of them gave none. */
  const answers = async (p: Prepared): Promise<[ComparableResponse, ComparableResponse | undefined, ComparableResponse | undefined] | undefined> => {
    if (!against && !baseline)
      return to.send(p).then(
        (a) => [a, undefined, undefined] as const,
        (err: Error) => noteFailure(o.to.name, err),
      ) as Promise<[ComparableResponse, undefined, undefined] | undefined>;
    const [a, e, b] = await Promise.allSettled([to.send(p), against?.send(p), baseline?.send(p)]);
    if (a.status === 'fulfilled' && e.status === 'fulfilled' && b.status === 'fulfilled') return [a.value, e.value, b.value];
    if (a.status === 'rejected') return noteFailure(o.to.name, a.reason as Error);
    if (e.status === 'rejected') return noteFailure(o.against!.name, e.reason as Error);
    return noteFailure(o.baseline!.name, (b as PromiseRejectedResult).reason as Error);
  };
  const one = async (p: Prepared): Promise<void> => {
    const got = await answers(p);
    if (!got) {
      progress.failed++;
      collector.failed(request(p));
      return;
    }
    progress.ok++;
    const [actual, expected, base] = got;
    const diffs = collector.compare(request(p), expected ?? p.x.response, actual, base);
    if (diffs.length) {
      progress.diff++;
      o.onDiff?.(p.x, diffs);
    }
  };

  let timer: NodeJS.Timeout | undefined;
  const ticker = o.onProgress ? setInterval(() => o.onProgress!({ ...progress, elapsedMs: performance.now() - start }), 200) : undefined;
  try {
    const total = o.loop ? Infinity : prepared.length;
    for (let i = 0; i < total && prepared.length > 0; i++) {
      // Wait for the schedule, then for a free slot; either wait ends early when stopped.
      for (;;) {
        if (stopped()) break;
        const wait = dueAt(i) - performance.now();
        if (wait > 1 && inFlight < o.concurrency) {
          await new Promise<void>((r) => {
            wake = r;
            timer = setTimeout(wakeUp, Math.min(wait, 1000));
          });
          clearTimeout(timer);
          continue;
        }
        if (inFlight >= o.concurrency) {
          await new Promise<void>((r) => (wake = r));
          continue;
        }
        break;
      }
      if (stopped()) break;
      const p = prepared[i % prepared.length];
      if (o.rate.kind !== 'max') lags.push(Math.max(0, performance.now() - dueAt(i))); // max has no schedule to be late for
      if (lags.length > 100_000) lags.splice(0, 50_000); // a long loop keeps the recent ones
      progress.sent++;
      inFlight++;
      void one(p).finally(() => {
        inFlight--;
        wakeUp();
      });
    }
    while (inFlight > 0) await new Promise<void>((r) => (wake = r));
  } finally {
    clearTimeout(timer);
    if (ticker) clearInterval(ticker);
    o.signal?.removeEventListener('abort', wakeUp);
    to.close();
    against?.close();
    baseline?.close();
  }
  const durationMs = performance.now() - start;
  progress.elapsedMs = durationMs;
  o.onProgress?.({ ...progress });
  const report = collector.report();
  // The counter says what was seen as it came; the report knows all the noise: it has the last word.
  progress.diff = report.diffs;
  return { progress, skipped, report, failures, durationMs, rps: durationMs > 0 ? (progress.sent / durationMs) * 1000 : 0, lagMs: { p50: quantile(lags, 0.5), max: quantile(lags, 1) } };
}
