// Span emission (spec `mesh.tracing`). Loaded only when tracing is on: the request path then pays one
// sampled-flag check and, for a sampled request, one object pushed on an array. A timer sends the
// array every second — to the control plane (POST /api/v1/traces with the sidecar credential) and,
// when `otlp` is set, as OTLP/HTTP JSON — so no request waits on it. When the receivers are slow or
// down, spans beyond MAX_BUFFERED are dropped and counted, never queued without bound.
import http from 'node:http';
import https from 'node:https';
import { performance } from 'node:perf_hooks';
import type { MeshTracing, TraceBatch, TraceSpan } from '../../lib/mesh-protocol.js';
import { forwardedFlags, randomHex, validTraceparent } from './trace.js';

/** This hop's trace context: what propagateTrace() returns as a bare id when tracing is off. */
export interface SpanContext {
  traceId: string;
  /** The id this proxy put in the upstream `traceparent` (this hop's span). */
  spanId: string;
  /** The incoming `traceparent`'s parent id (the sender's span); absent for a new trace. */
  parentId: string | undefined;
  sampled: boolean;
}

/**
 * propagateTrace() (trace.ts) with the sampled flag: a valid incoming `traceparent` keeps its trace id
 * and flags (bit 0: sampled); a new trace is sampled with probability `sample` (the ingress or the
 * first sidecar decides, every later hop follows).
 */
export function propagateSampled(headers: Record<string, string | string[] | undefined>, sample: number): SpanContext {
  const cur = headers.traceparent;
  const spanId = randomHex(8);
  if (typeof cur === 'string' && validTraceparent(cur)) {
    const traceId = cur.slice(3, 35);
    const flags = forwardedFlags(cur.slice(53, 55));
    headers.traceparent = `00-${traceId}-${spanId}-${flags}`;
    return { traceId, spanId, parentId: cur.slice(36, 52), sampled: (parseInt(flags, 16) & 1) === 1 };
  }
  if (headers.tracestate !== undefined) delete headers.tracestate;
  const traceId = randomHex(16);
  const sampled = Math.random() < sample;
  headers.traceparent = `00-${traceId}-${spanId}-${sampled ? '01' : '00'}`;
  return { traceId, spanId, parentId: undefined, sampled };
}

/** Spans kept while the receivers do not take them (about 3 MB). */
export const MAX_BUFFERED = 10_000;
export const FLUSH_MS = 1000;

export interface SpanSinkOptions {
  proxy: string;
  /** This proxy's service (`ingress` for the gateway): the OTLP resource's service.name. */
  service: string;
  /** Sends a batch to the control plane; rejects when it cannot. */
  post(batch: TraceBatch): Promise<unknown>;
  log(msg: string): void;
  flushMs?: number;
}

export class SpanSink {
  private buf: TraceSpan[] = [];
  private timer: NodeJS.Timeout | undefined;
  /** The send under way (one at a time) and its batch's size: close() waits for it. */
  private sending: Promise<void> | undefined;
  private sendingCount = 0;
  private closed = false;
  /** Set when close() gave up at its deadline: that send's spans were already counted as dropped. */
  private abandoned = false;
  dropped = 0;
  sent = 0;
  settings: MeshTracing;

  constructor(
    settings: MeshTracing,
    private readonly opts: SpanSinkOptions,
  ) {
    this.settings = settings;
    this.timer = setInterval(() => void this.flush(), opts.flushMs ?? FLUSH_MS);
    this.timer.unref();
  }

  add(span: TraceSpan): void {
    // Closed: nothing would ever send it.
    if (this.closed || this.buf.length >= MAX_BUFFERED) {
      this.dropped++;
      return;
    }
    this.buf.push(span);
  }

  get pending(): number {
    return this.buf.length;
  }

  /** Sends what is buffered (one send at a time: while one is under way, resolves when it ends); a failed send drops its spans (counted). */
  flush(): Promise<void> {
    if (this.sending) return this.sending;
    if (this.buf.length === 0) return Promise.resolve();
    const spans = this.buf;
    this.buf = [];
    this.sendingCount = spans.length;
    this.sending = this.send(spans).finally(() => {
      this.sending = undefined;
      this.sendingCount = 0;
    });
    return this.sending;
  }

  private async send(spans: TraceSpan[]): Promise<void> {
    const sends: Promise<unknown>[] = [this.opts.post({ proxy: this.opts.proxy, spans })];
    if (this.settings.otlp) sends.push(postOtlp(this.settings.otlp, otlpJson(this.opts.service, spans)));
    const results = await Promise.allSettled(sends);
    if (this.abandoned) return;
    if (results[0].status === 'rejected') this.dropped += spans.length;
    else this.sent += spans.length;
    for (const r of results) if (r.status === 'rejected') this.opts.log(`tracing: cannot send ${spans.length} spans: ${(r.reason as Error).message}`);
  }

  /**
   * Stops the timer, waits for the send under way, then sends what is left — until `deadline`
   * (performance.now() ms; the drain's). What is not sent by then is counted as dropped and logged.
   */
  async close(deadline = Infinity): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.closed = true;
    while ((this.sending || this.buf.length > 0) && performance.now() < deadline) await until(this.flush(), deadline);
    const lost = this.buf.length + (this.sending ? this.sendingCount : 0);
    if (lost === 0) return;
    if (this.sending) this.abandoned = true;
    this.buf = [];
    this.dropped += lost;
    this.opts.log(`tracing: ${lost} spans not sent before closing (dropped)`);
  }
}

/** `p`, or the deadline (performance.now() ms) if that comes first. */
function until(p: Promise<void>, deadline: number): Promise<void> {
  if (deadline === Infinity) return p;
  let timer: NodeJS.Timeout | undefined;
  const expiry = new Promise<void>((r) => (timer = setTimeout(r, Math.max(0, deadline - performance.now()))));
  return Promise.race([p, expiry]).finally(() => clearTimeout(timer));
}

/** OTLP/JSON attribute. */
function attr(key: string, value: string | number): { key: string; value: { stringValue: string } | { intValue: string } } {
  return { key, value: typeof value === 'number' ? { intValue: String(value) } : { stringValue: value } };
}

const nanos = (ms: number): string => (BigInt(Math.round(ms * 1000)) * 1000n).toString();

/** The OTLP/HTTP JSON body (ExportTraceServiceRequest) of a batch: one resource (this proxy's service), ids in hex. */
export function otlpJson(service: string, spans: TraceSpan[]): unknown {
  return {
    resourceSpans: [
      {
        resource: { attributes: [attr('service.name', service), attr('telemetry.sdk.name', 'berth-proxy')] },
        scopeSpans: [
          {
            scope: { name: 'berth-proxy' },
            spans: spans.map((s) => ({
              traceId: s.traceId,
              spanId: s.spanId,
              ...(s.parentId ? { parentSpanId: s.parentId } : {}),
              name: s.kind === 'client' ? `${s.source ?? service} → ${s.service} ${s.route}` : `${s.service} inbound`,
              kind: s.kind === 'client' ? 3 : 2, // SPAN_KIND_CLIENT, SPAN_KIND_SERVER
              startTimeUnixNano: nanos(s.start),
              endTimeUnixNano: nanos(s.start + s.durationMs),
              attributes: [
                attr('http.request.method', s.method),
                attr('url.path', s.path),
                attr('http.response.status_code', s.status),
                attr('berth.service', s.service),
                attr('berth.variant', s.variant),
                attr('berth.route', s.route),
                attr('berth.proxy', s.proxy),
              ],
              // STATUS_CODE_ERROR for server errors, unset otherwise (OpenTelemetry's HTTP semantic conventions).
              status: s.status >= 500 ? { code: 2 } : {},
            })),
          },
        ],
      },
    ],
  };
}

/** POSTs an OTLP/HTTP JSON body to `<endpoint>/v1/traces` (or to `endpoint` when it already ends so). */
export function postOtlp(endpoint: string, body: unknown): Promise<void> {
  const url = new URL(endpoint);
  if (!url.pathname.endsWith('/v1/traces')) url.pathname = `${url.pathname.replace(/\/$/, '')}/v1/traces`;
  const payload = Buffer.from(JSON.stringify(body));
  const mod = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.request(url, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': String(payload.length) }, timeout: 5000 }, (res) => {
      res.resume();
      res.on('end', () => ((res.statusCode ?? 0) < 300 ? resolve() : reject(new Error(`OTLP endpoint ${url.href} answered ${res.statusCode}`))));
    });
    req.on('timeout', () => req.destroy(new Error(`OTLP endpoint ${url.href} timed out`)));
    req.on('error', reject);
    req.end(payload);
  });
}

