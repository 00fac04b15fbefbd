// bindings.http (output): one HTTP request per invoke against `url` (+ request metadata `path`).
// Operations are the HTTP verbs plus `create` (POST), as in Dapr. Other request metadata become
// request headers; the answer's status and headers come back as metadata (statusCode, status,
// then each header). With errorIfNot2XX (default true) any other status is an error.
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
    const headers = new Headers();
    for (const [k, v] of Object.entries(rest)) {
      try {
        headers.set(k, v);
      } catch {
        throw new BindingError(`metadata "${k}" cannot be sent as an HTTP header`, 'ERR_MALFORMED_REQUEST');
      }
    }
    if (this.token) headers.set(this.token.header, this.token.value);
    const hasBody = req.data !== undefined && req.data.length > 0 && method !== 'GET' && method !== 'HEAD';
    let res: Response;
    try {
      res = await fetch(target, {
        method,
        headers,
        body: hasBody ? new Uint8Array(req.data as Buffer) : undefined,
        signal: this.timeoutMs > 0 ? AbortSignal.timeout(this.timeoutMs) : undefined,
      });
    } catch (err) {
      throw new BindingError(`${method} ${target.origin}${target.pathname} failed: ${(err as Error).message}`);
    }
    const body = await this.readLimited(res);
    const metadata: Record<string, string> = { statusCode: String(res.status), status: `${res.status} ${res.statusText}`.trim() };
    res.headers.forEach((v, k) => {
      metadata[k] = v;
    });
    if (this.errorIfNot2XX && (res.status < 200 || res.status > 299)) {
      throw new BindingError(`received status code ${res.status} from ${method} ${target.origin}${target.pathname}`);
    }
    return { data: body, metadata };
  }

  async close(): Promise<void> {}

  private async readLimited(res: Response): Promise<Buffer> {
    if (!res.body) return Buffer.alloc(0);
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      size += chunk.length;
      if (size > this.maxBody) throw new BindingError(`response body larger than maxResponseBodySize (${this.maxBody} bytes)`);
      chunks.push(Buffer.from(chunk));
    }
    return Buffer.concat(chunks);
  }
}
