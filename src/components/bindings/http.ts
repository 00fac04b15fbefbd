// bindings.http (output): one HTTP request per invoke against `url` (+ request metadata `path`).
// Operations are the HTTP verbs plus `create` (POST), as in Dapr. Other request metadata become
// request headers; the answer's status and headers come back as metadata (statusCode, status,
// then each header). With errorIfNot2XX (default true) any other status is an error.
import http, { validateHeaderName, validateHeaderValue } from 'node:http';
import https from 'node:https';
import type { ComponentSpec } from '../component.js';
import { MetadataReader } from '../metadata.js';
import { BindingError, type BindingEvent, type BindingInvokeRequest, type OutputBinding } from './types.js';

const OPERATIONS = ['create', 'get', 'head', 'post', 'put', 'patch', 'delete', 'options', 'trace'];

export class HttpBinding implements OutputBinding {
  readonly type = 'bindings.http';
  readonly name: string;
  private readonly url: URL;
  private readonly errorIfNot2XX: boolean;
  private readonly maxBody: number;
  private readonly timeoutMs: number;
  private readonly token: { header: string; value: string } | undefined;

  constructor(spec: ComponentSpec) {
    this.name = spec.name;
    const meta = new MetadataReader(spec);
    this.url = new URL(meta.required('url'));
    this.errorIfNot2XX = meta.bool('errorIfNot2XX', true);
    this.maxBody = meta.int('maxResponseBodySize', 100 * 1024 * 1024);
    this.timeoutMs = meta.duration('responseTimeout', 0);
    const token = meta.string('securityToken');
    this.token = token ? { header: meta.string('securityTokenHeader', 'Authorization'), value: token } : undefined;
  }

  operations(): string[] {
    return [...OPERATIONS];
  }

  async invoke(req: BindingInvokeRequest): Promise<BindingEvent> {
    const op = req.operation.toLowerCase();
    if (!OPERATIONS.includes(op)) throw new BindingError(`operation "${req.operation}" is not supported by ${this.name}; supported: ${OPERATIONS.join(', ')}`, 'ERR_MALFORMED_REQUEST');
    const method = op === 'create' ? 'POST' : op.toUpperCase();
    const { path, ...rest } = req.metadata ?? {};
    const target = new URL(this.url);
    if (path) {
      const [p, q] = path.split('?', 2);
      target.pathname = `${target.pathname.replace(/\/$/, '')}/${p.replace(/^\//, '')}`;
      if (q) for (const [k, v] of new URLSearchParams(q)) target.searchParams.append(k, v);
    }
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(rest)) {
      try {
        validateHeaderName(k);
        validateHeaderValue(k, v);
      } catch {
        throw new BindingError(`metadata "${k}" cannot be sent as an HTTP header`, 'ERR_MALFORMED_REQUEST');
      }
      headers[k] = v;
    }
    if (this.token) headers[this.token.header] = this.token.value;
    const body = req.data !== undefined && req.data.length > 0 && method !== 'GET' && method !== 'HEAD' ? req.data : undefined;
    if (body) headers['content-length'] = String(body.length);
    const where = `${method} ${target.origin}${target.pathname}`;
    const { status, statusText, resHeaders, data } = await this.send(target, method, headers, body, where);
    const metadata: Record<string, string> = { statusCode: String(status), status: `${status} ${statusText}`.trim() };
    for (const [k, v] of Object.entries(resHeaders)) if (v !== undefined) metadata[k] = Array.isArray(v) ? v.join(', ') : v;
    if (this.errorIfNot2XX && (status < 200 || status > 299)) throw new BindingError(`received status code ${status} from ${where}`);
    return { data, metadata };
  }

  private send(target: URL, method: string, headers: Record<string, string>, body: Buffer | undefined, where: string) {
    return new Promise<{ status: number; statusText: string; resHeaders: http.IncomingHttpHeaders; data: Buffer }>((resolve, reject) => {
      const fail = (msg: string): void => reject(new BindingError(`${where} failed: ${msg}`));
      const lib = target.protocol === 'https:' ? https : http;
      const request = lib.request(target, { method, headers }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > this.maxBody) {
            res.destroy();
            reject(new BindingError(`${where}: response body larger than maxResponseBodySize (${this.maxBody} bytes)`));
            return;
          }
          chunks.push(c);
        });
        res.on('error', (e) => fail(e.message));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, statusText: res.statusMessage ?? '', resHeaders: res.headers, data: Buffer.concat(chunks) }));
      });
      request.on('error', (e) => fail(e.message));
      if (this.timeoutMs > 0) request.setTimeout(this.timeoutMs, () => request.destroy(new Error(`no answer within ${this.timeoutMs} ms`)));
      request.end(body);
    });
  }

  async close(): Promise<void> {}
}
