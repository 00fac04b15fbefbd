// `berth replay --mock-dependencies` in the sidecar (Speedscale's responder): while a replay runs,
// outbound calls that belong to a replayed request — their trace id is one the recording holds —
// are answered from the recording instead of reaching the real service: first a call of the same
// trace with the same method, path and body, else any recorded call with the same method, path and
// body; none is a miss (503 `mock-miss`, counted and listed). Calls of other traces (live traffic)
// pass through untouched. Loaded only while a snapshot asks for it.
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { REASON_HEADER, type MockCall, type MockResult } from '../../lib/mesh-protocol.js';
import { bodyStream, type ProxyRequest, type ProxyResponse } from './listener.js';

const TRACE_RE = /^[0-9a-f]{2}-([0-9a-f]{32})-/;
/** Not copied from the recorded answer: the body is sent whole with its own length. */
const SKIPPED = new Set(['content-length', 'transfer-encoding', 'connection', 'keep-alive', 'content-encoding']);
const MAX_BODY = 16 * 1024 * 1024;
const TOKEN = /^[!#$%&'*+.^_`|~0-9a-z-]+$/;

const keyOf = (service: string, method: string, path: string, bodySha: string): string => `${service} ${method} ${path} ${bodySha}`;
const sha = (b: Buffer): string => (b.length === 0 ? '' : createHash('sha256').update(b).digest('hex'));

export class Responder {
  private readonly traces = new Set<string>();
  private readonly byTrace = new Map<string, MockCall[]>();
  private readonly byKey = new Map<string, MockCall[]>();
  private readonly uses = new Map<MockCall, number>();
  private hits = 0;
  private misses = 0;
  private readonly missed: MockResult['missed'] = [];

  private constructor(
    readonly id: string,
    private readonly stateDir: string,
    private readonly proxyId: string,
    calls: MockCall[],
  ) {
    for (const c of calls) {
      this.traces.add(c.traceId);
      const k = keyOf(c.service, c.method, c.path, c.bodySha);
      const t = this.byTrace.get(c.traceId) ?? [];
      t.push(c);
      this.byTrace.set(c.traceId, t);
      const g = this.byKey.get(k) ?? [];
      g.push(c);
      this.byKey.set(k, g);
    }
  }

  static async load(id: string, stateDir: string, proxyId: string): Promise<Responder> {
    const doc = JSON.parse(await readFile(join(stateDir, 'mocks', `${id}.json`), 'utf8')) as { calls?: MockCall[] };
    return new Responder(id, stateDir, proxyId, Array.isArray(doc.calls) ? doc.calls : []);
  }

  /** Answers the call from the recording when it belongs to a replayed trace; false: send it on as usual. */
  handle(service: string, req: ProxyRequest, res: ProxyResponse): boolean {
    const tp = req.headers.traceparent;
    const m = typeof tp === 'string' ? TRACE_RE.exec(tp) : null;
    if (!m || !this.traces.has(m[1])) return false;
    const traceId = m[1];
    const method = req.method ?? 'GET';
    const path = req.url ?? '/';
    const cl = req.headers['content-length'];
    const hasBody = req.headers['transfer-encoding'] !== undefined || (typeof cl === 'string' && Number(cl) > 0);
    if (!hasBody) {
      this.answer(service, traceId, method, path, '', res);
      return true;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    const body = bodyStream(req);
    body.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= MAX_BODY) chunks.push(Buffer.from(c));
    });
    body.once('end', () => this.answer(service, traceId, method, path, sha(Buffer.concat(chunks)), res));
    body.once('error', () => res.destroy());
    return true;
  }

  private answer(service: string, traceId: string, method: string, path: string, bodySha: string, res: ProxyResponse): void {
    const key = keyOf(service, method, path, bodySha);
    const same = (c: MockCall): boolean => c.service === service && c.method === method && c.path === path && c.bodySha === bodySha;
    // The least used match: a request that made the same call twice gets both recorded answers in turn.
    const pick = (list: MockCall[] | undefined): MockCall | undefined => list?.filter(same).sort((a, b) => (this.uses.get(a) ?? 0) - (this.uses.get(b) ?? 0))[0];
    const call = pick(this.byTrace.get(traceId)) ?? pick(this.byKey.get(key));
    if (!call) {
      this.misses++;
      if (this.missed.length < 100) this.missed.push({ service, method, path, traceId });
      const text = `no recorded answer for ${method} ${path} to ${service} (--mock-dependencies)\n`;
      res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8', 'content-length': String(Buffer.byteLength(text)), [REASON_HEADER]: 'mock-miss' });
      res.end(text);
      return;
    }
    this.hits++;
    this.uses.set(call, (this.uses.get(call) ?? 0) + 1);
    const body = Buffer.from(call.body, 'base64');
    const headers: Record<string, string | string[]> = {};
    for (const [k, v] of call.headers) {
      const name = k.toLowerCase();
      // The lean path writes headers as given: a name or value no HTTP/1.1 header may have is left out.
      if (SKIPPED.has(name) || !TOKEN.test(name) || /[\r\n\0]/.test(v)) continue;
      const prev = headers[name];
      headers[name] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
    }
    headers['content-length'] = String(body.length);
    headers['x-berth-mock'] = 'recorded';
    try {
      res.writeHead(call.status, headers);
    } catch (err) {
      // A mock file with a header or status Node refuses (an edited HAR): answered as a failure, never thrown.
      const text = `the recorded answer cannot be sent: ${(err as Error).message}\n`;
      res.writeHead(502, { 'content-type': 'text/plain; charset=utf-8', 'content-length': String(Buffer.byteLength(text)), [REASON_HEADER]: 'mock-invalid' });
      res.end(text);
      return;
    }
    res.end(body);
  }

  result(): MockResult {
    return { proxy: this.proxyId, hits: this.hits, misses: this.misses, missed: [...this.missed] };
  }

  /** Writes what it did beside the mock file, for the replay to report. */
  async finish(): Promise<void> {
    await writeFile(join(this.stateDir, 'mocks', `${this.id}.${this.proxyId}.result.json`), JSON.stringify(this.result()), { mode: 0o600 });
  }
}
