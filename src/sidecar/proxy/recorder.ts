// Traffic recording (the spec's `record:`, `berth record start`): copies sampled exchanges into HAR
// 1.2 entries, written off the request path by a HarWriter (a slow or full disk drops entries,
// counted, never delays a request). Loaded only once a snapshot asks for a recording, so a proxy
// that records nothing never pays for it.
//
// The copy is taken beside the data path (forward.ts calls the tap with the bytes it forwards), never
// in it: what the app and the client see is unchanged. Bodies are kept up to maxBodyBytes and marked
// `_truncated` beyond. In a sidecar, calls the app makes through its outbound listener while an
// inbound request with the same trace id (traceparent) is in flight are kept with that request
// (`_downstream`), so a replay can answer them.
import { STATUS_CODES } from 'node:http';
import { join } from 'node:path';
import { brotliDecompressSync, gunzipSync, inflateSync } from 'node:zlib';
import type { MeshRecording } from '../../lib/mesh-protocol.js';
import { HarWriter, type HarContent, type HarDownstreamCall, type HarEntry, type HarNameValue, type HarPostData, type HarRequest, type HarResponse, type HarWriterStats } from '../../replay/index.js';
import { compileMatches, type RequestHead } from './routes.js';

/** Redacted whatever the recording says (the defaults). */
export const DEFAULT_REDACTED = ['authorization', 'cookie', 'set-cookie', 'proxy-authorization'];
export const REDACTED = 'REDACTED';

/** What forward.ts reports of one exchange it carries. */
export interface ExchangeTap {
  /** A piece of the request body as it is sent upstream (valid only during the call). */
  requestBody(chunk: Buffer): void;
  /** The response head as it is sent to the client: status and flat [name, value, …] headers. */
  head(status: number, headers: string[]): void;
  /** A piece of the response body (valid only during the call). */
  data(chunk: Buffer): void;
}

const TEXTUAL = /^(text\/|application\/([\w.+-]*\+)?(json|xml|javascript|x-www-form-urlencoded|graphql|yaml|x-ndjson))/i;

class Piece {
  chunks: Buffer[] = [];
  kept = 0;
  size = 0;
  constructor(private readonly max: number) {}
  add(c: Buffer): void {
    this.size += c.length;
    if (this.kept >= this.max) return;
    // The chunk is a view of a buffer the proxy reuses: copy what is kept.
    const part = c.length <= this.max - this.kept ? c : c.subarray(0, this.max - this.kept);
    this.chunks.push(Buffer.from(part));
    this.kept += part.length;
  }
  get truncated(): boolean {
    return this.size > this.kept;
  }
  bytes(): Buffer {
    return this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks);
  }
}

/** One exchange being recorded. */
export class RecordedExchange implements ExchangeTap {
  readonly startedAt = Date.now();
  private readonly t0 = performance.now();
  private headAt = 0;
  private status = 0;
  private resHeaders: string[] = [];
  private readonly reqBody: Piece;
  private readonly resBody: Piece;
  downstream: HarDownstreamCall[] | undefined;
  private readonly reqHeaders: HarNameValue[];

  constructor(
    private readonly rec: Recorder,
    private readonly method: string,
    private readonly url: string,
    headers: Record<string, string | string[] | undefined>,
    readonly traceId: string,
    /** The called service (a downstream call) or undefined (the recorded request itself). */
    readonly service: string | undefined,
    readonly parent: RecordedExchange | undefined,
  ) {
    this.reqBody = new Piece(rec.settings.maxBodyBytes);
    this.resBody = new Piece(rec.settings.maxBodyBytes);
    this.reqHeaders = rec.redact(headers);
  }

  requestBody(chunk: Buffer): void {
    this.reqBody.add(chunk);
  }

  head(status: number, headers: string[]): void {
    this.headAt = performance.now();
    this.status = status;
    this.resHeaders = headers;
  }

  data(chunk: Buffer): void {
    this.resBody.add(chunk);
  }

  /** The exchange ended with `status` (0: the client went away). */
  finish(status: number): void {
    this.rec.finish(this, status);
  }

  /** @internal */
  toHar(finalStatus: number): { request: HarRequest; response: HarResponse; time: number; wait: number } {
    const end = performance.now();
    const status = this.status || finalStatus;
    const headerOf = (name: string): string | undefined => {
      for (let i = 0; i < this.resHeaders.length; i += 2) if (this.resHeaders[i].toLowerCase() === name) return this.resHeaders[i + 1];
      return undefined;
    };
    const host = this.reqHeaders.find((h) => h.name === 'host')?.value ?? 'localhost';
    const u = new URL(this.url.startsWith('/') ? this.url : `/${this.url}`, `http://${host}`);
    const reqType = this.reqHeaders.find((h) => h.name === 'content-type')?.value ?? '';
    const request: HarRequest = {
      method: this.method,
      url: u.href,
      httpVersion: 'HTTP/1.1',
      cookies: [],
      headers: this.reqHeaders,
      queryString: [...u.searchParams].map(([name, value]) => ({ name, value })),
      headersSize: -1,
      bodySize: this.reqBody.size,
    };
    if (this.reqBody.size > 0) {
      const body = this.reqBody.bytes();
      const post: HarPostData = { mimeType: reqType };
      if (TEXTUAL.test(reqType) || reqType === '') post.text = body.toString('utf8');
      else {
        post.text = body.toString('base64');
        post.encoding = 'base64';
      }
      request.postData = post;
      if (this.reqBody.truncated) request._truncated = true;
    }
    const mimeType = headerOf('content-type') ?? '';
    const content: HarContent = { size: this.resBody.size, mimeType };
    let body = this.resBody.bytes();
    const coding = headerOf('content-encoding')?.toLowerCase();
    if (coding && body.length > 0 && !this.resBody.truncated) {
      // Browsers record decoded bodies and the replayer compares decoded ones: do the same.
      try {
        body = coding === 'gzip' ? gunzipSync(body) : coding === 'deflate' ? inflateSync(body) : coding === 'br' ? brotliDecompressSync(body) : body;
        content.size = body.length;
      } catch {
        // Safe to ignore: a body that does not decode is kept as it came (base64 below).
      }
    }
    if (body.length > 0) {
      if (TEXTUAL.test(mimeType)) content.text = body.toString('utf8');
      else {
        content.text = body.toString('base64');
        content.encoding = 'base64';
      }
    }
    const response: HarResponse = {
      status,
      statusText: STATUS_CODES[status] ?? '',
      httpVersion: 'HTTP/1.1',
      cookies: [],
      headers: this.rec.redactList(this.resHeaders),
      content,
      redirectURL: headerOf('location') ?? '',
      headersSize: -1,
      bodySize: this.resBody.size,
    };
    if (this.resBody.truncated) response._truncated = true;
    const time = end - this.t0;
    return { request, response, time, wait: this.headAt ? this.headAt - this.t0 : time };
  }
}

export interface RecorderOptions {
  stateDir: string;
  proxyId: string;
  revision?: string;
  onError(err: Error): void;
}

/** One service's recording in one proxy. */
export class Recorder {
  readonly writer: HarWriter;
  private readonly redacted: Set<string>;
  private readonly matches: (req: RequestHead) => boolean;
  /** Recorded requests in flight by trace id: their downstream calls join them. */
  private readonly inflight = new Map<string, RecordedExchange>();
  /** Requests not recorded (not sampled, not matched, past `until`). */
  skipped = 0;
  /** Exchanges that could not be turned into an entry (counted as dropped). */
  unrecordable = 0;

  constructor(
    readonly settings: MeshRecording,
    private readonly o: RecorderOptions,
  ) {
    this.redacted = new Set([...DEFAULT_REDACTED, ...settings.redactHeaders.map((h) => h.toLowerCase())]);
    this.matches = compileMatches(settings.match);
    this.writer = new HarWriter({
      dir: join(o.stateDir, 'recordings', settings.id),
      stem: o.proxyId,
      maxFileMiB: settings.maxFileMiB,
      creator: { name: 'berth-proxy', version: '0.1.0' },
      onError: o.onError,
    });
  }

  /** The same recording (a new snapshot that did not change it keeps the writer). */
  sameAs(s: MeshRecording): boolean {
    const a = this.settings;
    return a.id === s.id && a.sample === s.sample && a.maxBodyBytes === s.maxBodyBytes && a.maxFileMiB === s.maxFileMiB && a.until === s.until && JSON.stringify([a.match, a.redactHeaders]) === JSON.stringify([s.match, s.redactHeaders]);
  }

  /** Starts recording a request when it is sampled and matches; undefined otherwise. */
  begin(req: RequestHead, traceId: string): RecordedExchange | undefined {
    const s = this.settings;
    if ((s.sample < 1 && Math.random() >= s.sample) || (s.until !== undefined && Date.now() > s.until) || !this.matches(req)) {
      this.skipped++;
      return undefined;
    }
    const x = new RecordedExchange(this, req.method ?? 'GET', req.url ?? '/', req.headers, traceId, undefined, undefined);
    this.inflight.set(traceId, x);
    return x;
  }

  /** A call the app makes on behalf of a recorded request in flight (same trace id); undefined when there is none. */
  beginDownstream(req: RequestHead, traceId: string, service: string): RecordedExchange | undefined {
    const parent = this.inflight.get(traceId);
    if (!parent) return undefined;
    return new RecordedExchange(this, req.method ?? 'GET', req.url ?? '/', req.headers, traceId, service, parent);
  }

  /** @internal */
  finish(x: RecordedExchange, status: number): void {
    if (this.inflight.get(x.traceId) === x) this.inflight.delete(x.traceId);
    try {
      this.write(x, status);
    } catch {
      // A request the HAR cannot describe (a Host header no URL accepts): dropped and counted; the
      // request itself was served. Never thrown into the data path.
      this.unrecordable++;
    }
  }

  private write(x: RecordedExchange, status: number): void {
    const { request, response, time, wait } = x.toHar(status);
    const startedDateTime = new Date(x.startedAt).toISOString();
    if (x.parent) {
      (x.parent.downstream ??= []).push({ service: x.service!, startedDateTime, time, request, response });
      return;
    }
    const entry: HarEntry = {
      startedDateTime,
      time,
      request,
      response,
      cache: {},
      timings: { send: 0, wait, receive: Math.max(0, time - wait) },
      _instance: this.o.proxyId,
      ...(this.o.revision ? { _revision: this.o.revision } : {}),
      _traceId: x.traceId,
      ...(x.downstream ? { _downstream: x.downstream } : {}),
    };
    this.writer.write(entry);
  }

  /** Header pairs with the secret values replaced (names kept). */
  redact(headers: Record<string, string | string[] | undefined>): HarNameValue[] {
    const out: HarNameValue[] = [];
    for (const name in headers) {
      const v = headers[name];
      if (v === undefined) continue;
      const secret = this.redacted.has(name.toLowerCase());
      for (const one of Array.isArray(v) ? v : [v]) out.push({ name, value: secret ? REDACTED : one });
    }
    return out;
  }

  redactList(flat: string[]): HarNameValue[] {
    const out: HarNameValue[] = [];
    for (let i = 0; i < flat.length; i += 2) out.push({ name: flat[i], value: this.redacted.has(flat[i].toLowerCase()) ? REDACTED : flat[i + 1] });
    return out;
  }

  /** Entries on disk. */
  get recorded(): number {
    return this.writer.stats().written;
  }

  /** Entries dropped by the writer (queue full, disk failure). */
  get dropped(): number {
    return this.writer.stats().dropped + this.unrecordable;
  }

  close(): Promise<HarWriterStats> {
    return this.writer.close();
  }
}
