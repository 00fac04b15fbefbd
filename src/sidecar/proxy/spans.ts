// Span emission (spec `mesh.tracing`). Loaded only when tracing is on: the request path then pays one
// sampled-flag check and, for a sampled request, one object pushed on an array. A timer sends the
// array every second — to the control plane (POST /api/v1/traces with the sidecar credential) and,
// when `otlp` is set, as OTLP/HTTP JSON — so no request waits on it. Each destination has its own
// buffer and send under way, each send an overall deadline (EXPORT_TIMEOUT_MS): a slow or down
// receiver holds back only its own spans, and those beyond MAX_BUFFERED_BYTES (an estimate of the
// spans' memory, their request-chosen text truncated to MAX_ATTRIBUTE_LENGTH) are dropped and
// counted, never queued without bound.
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

/**
 * The memory a destination's spans may hold, buffered and in the batch being sent (estimated from
 * their strings: spanBytes): beyond it new spans are dropped and counted. Any client can force
 * sampling (an incoming `traceparent` with flags 01: parent-based sampling), so the bound is in
 * bytes, not spans. The JSON of the batch in flight comes on top (about 1× it for the control
 * plane, 3–4× for OTLP), and the two destinations share their span objects.
 */
export const MAX_BUFFERED_BYTES = 2 * 1024 * 1024;
/** The estimated memory of a span beyond its strings' characters (the object, its numbers, the three ids as strings). */
const SPAN_OVERHEAD_BYTES = 320;
/**
 * The longest a span's request-chosen text (path, method) is kept, in characters (OpenTelemetry's
 * attribute value length limit: a longer value is truncated to it). A 16 KiB path otherwise costs
 * 16 KiB per span, buffered, in flight and in each JSON body.
 */
export const MAX_ATTRIBUTE_LENGTH = 1024;
export const FLUSH_MS = 1000;
/**
 * The overall deadline of one export (a batch's POST, from connecting to the answer's end), as
 * OpenTelemetry's BatchSpanProcessor exportTimeoutMillis (30 s there): a receiver that trickles its
 * answer never trips an idle timeout, so the request is aborted here and its batch counted as dropped
 * for that destination. Shorter than OpenTelemetry's: a batch is sent every second and its spans are
 * held (memory) until it ends.
 */
export const EXPORT_TIMEOUT_MS = 10_000;

export interface SpanSinkOptions {
  proxy: string;
  /** This proxy's service (`ingress` for the gateway): the OTLP resource's service.name. */
  service: string;
  /** Sends a batch to the control plane; rejects when it cannot (or when `signal` aborts it at the export deadline). */
  post(batch: TraceBatch, signal: AbortSignal): Promise<unknown>;
  log(msg: string): void;
  flushMs?: number;
  /** The export deadline (EXPORT_TIMEOUT_MS). */
  exportTimeoutMs?: number;
}

/**
 * One destination (the control plane, the OTLP collector): its own buffer and its own send under way,
 * so a slow one holds back only its own spans. One send at a time, each ended by its deadline.
 */
class Export {
  private buf: TraceSpan[] = [];
  /** The buffered spans' and the batch in flight's estimated memory (spanBytes): MAX_BUFFERED_BYTES bounds their sum. */
  private bufBytes = 0;
  private sendingBytes = 0;
  /** The send under way and its batch's size: close() waits for it. */
  private sending: Promise<void> | undefined;
  private sendingCount = 0;
  /** The send under way's: set when close() gave up on it at its deadline (its spans were counted as dropped then). */
  private current = { abandoned: false };
  sent = 0;
  dropped = 0;

  constructor(
    private readonly what: string,
    private readonly post: (spans: TraceSpan[], signal: AbortSignal) => Promise<unknown>,
    private readonly log: (msg: string) => void,
    private readonly timeoutMs: number,
  ) {}

  /** Whether a span of `bytes` fits; counts it as dropped when it does not. */
  admits(bytes: number): boolean {
    if (this.bufBytes + this.sendingBytes + bytes <= MAX_BUFFERED_BYTES) return true;
    this.dropped++;
    return false;
  }

  /** Buffers a span admits() took. */
  add(span: TraceSpan, bytes: number): void {
    this.buf.push(span);
    this.bufBytes += bytes;
  }

  get pending(): number {
    return this.buf.length;
  }

  get busy(): boolean {
    return this.sending !== undefined || this.buf.length > 0;
  }

  /** Sends what is buffered (while a send is under way, resolves when it ends). */
  flush(): Promise<void> {
    if (this.sending) return this.sending;
    if (this.buf.length === 0) return Promise.resolve();
    const spans = this.buf;
    this.buf = [];
    this.sendingCount = spans.length;
    this.sendingBytes = this.bufBytes;
    this.bufBytes = 0;
    const sending = this.send(spans).finally(() => {
      this.sending = undefined;
      this.sendingCount = 0;
      this.sendingBytes = 0;
    });
    this.sending = sending;
    return sending;
  }

  private async send(spans: TraceSpan[]): Promise<void> {
    const state = { abandoned: false };
    this.current = state;
    const abort = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const expiry = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const err = new Error(`no answer within ${this.timeoutMs} ms (the export deadline)`);
        abort.abort(err);
        reject(err);
      }, this.timeoutMs);
      // The request's socket keeps the process up while it is open; the deadline alone does not.
      timer.unref();
    });
    try {
      await Promise.race([this.post(spans, abort.signal), expiry]);
      if (!state.abandoned) this.sent += spans.length;
    } catch (err) {
      if (state.abandoned) return;
      this.dropped += spans.length;
      this.log(`tracing: cannot send ${spans.length} spans to the ${this.what} (dropped): ${(err as Error).message}`);
    } finally {
      clearTimeout(timer);
    }
  }

  /** close() at its deadline: what is buffered and the send under way are counted as dropped; returns how many. */
  abandon(): number {
    const lost = this.buf.length + (this.sending ? this.sendingCount : 0);
    if (this.sending) this.current.abandoned = true;
    this.buf = [];
    this.bufBytes = 0;
    this.dropped += lost;
    return lost;
  }
}

export class SpanSink {
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly control: Export;
  private readonly otlp: Export;
  settings: MeshTracing;

  constructor(
    settings: MeshTracing,
    private readonly opts: SpanSinkOptions,
  ) {
    this.settings = settings;
    const timeoutMs = opts.exportTimeoutMs ?? EXPORT_TIMEOUT_MS;
    this.control = new Export('control plane', (spans, signal) => opts.post({ proxy: opts.proxy, spans }, signal), opts.log, timeoutMs);
    this.otlp = new Export(
      'OTLP collector',
      // `otlp` may have been unset by a later snapshot since these spans were buffered.
      (spans, signal) => (this.settings.otlp ? postOtlp(this.settings.otlp, otlpJson(opts.service, spans), signal) : Promise.reject(new Error('OTLP export turned off'))),
      opts.log,
      timeoutMs,
    );
    this.timer = setInterval(() => void this.flush(), opts.flushMs ?? FLUSH_MS);
    this.timer.unref();
  }

  /** Spans the control plane took, and those dropped on the way there (buffer full, a failed or late send, closed). */
  get sent(): number {
    return this.control.sent;
  }

  get dropped(): number {
    return this.control.dropped;
  }

  /** The same for the OTLP collector. */
  get otlpSent(): number {
    return this.otlp.sent;
  }

  get otlpDropped(): number {
    return this.otlp.dropped;
  }

  add(span: TraceSpan): void {
    // Closed: nothing would ever send it.
    if (this.closed) {
      this.control.dropped++;
      if (this.settings.otlp) this.otlp.dropped++;
      return;
    }
    // Checked before any copying: a full buffer costs a dropped span nothing but the count.
    const bytes = spanBytes(span);
    const control = this.control.admits(bytes);
    const otlp = this.settings.otlp !== undefined && this.otlp.admits(bytes);
    if (!control && !otlp) return;
    const kept = ownedSpan(span);
    if (control) this.control.add(kept, bytes);
    if (otlp) this.otlp.add(kept, bytes);
  }

  /** Spans waiting for the control plane. */
  get pending(): number {
    return this.control.pending;
  }

  /** Sends what is buffered to each destination not already sending (one send at a time each); resolves when those sends end. A failed or late send drops its spans (counted). */
  async flush(): Promise<void> {
    await Promise.all([this.control.flush(), this.otlp.flush()]);
  }

  /**
   * Stops the timer, waits for the sends under way, then sends what is left — until `deadline`
   * (performance.now() ms; the drain's). What is not sent by then is counted as dropped and logged.
   */
  async close(deadline = Infinity): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.closed = true;
    while ((this.control.busy || this.otlp.busy) && performance.now() < deadline) await until(this.flush(), deadline);
    for (const e of [this.control, this.otlp]) {
      const lost = e.abandon();
      if (lost > 0) this.opts.log(`tracing: ${lost} spans not sent before closing (dropped): the ${e === this.control ? 'control plane' : 'OTLP collector'}'s`);
    }
  }
}

/**
 * A copy of `s` that holds on to no other string. The proxy's per-request strings are slices of the
 * request head's text (the path, the traceparent's ids): a V8 sliced string keeps its whole parent
 * alive, so a span kept in a buffer would keep its request's head (up to 16 KiB) with it.
 */
function own(s: string): string {
  // V8 copies slices shorter than 13 characters (SlicedString::kMinLength): nothing to do for those.
  // UTF-8 both ways: whatever the text, the copy is equal (and one byte per character when it can be).
  return s.length < 13 ? s : Buffer.from(s, 'utf8').toString('utf8');
}

/** At most MAX_ATTRIBUTE_LENGTH characters of `s`, owned (own()). */
function bounded(s: string): string {
  return own(s.length > MAX_ATTRIBUTE_LENGTH ? s.slice(0, MAX_ATTRIBUTE_LENGTH) : s);
}

/** The span as buffered: its request-chosen text truncated (MAX_ATTRIBUTE_LENGTH), the query's credentials redacted (redactQuery), its per-request strings owned. */
function ownedSpan(s: TraceSpan): TraceSpan {
  s.traceId = own(s.traceId);
  s.spanId = own(s.spanId);
  if (s.parentId) s.parentId = own(s.parentId);
  s.method = bounded(s.method);
  const path = s.path.length > MAX_ATTRIBUTE_LENGTH ? s.path.slice(0, MAX_ATTRIBUTE_LENGTH) : s.path;
  const q = path.indexOf('?');
  // A short value redacted grows by up to 8 characters: truncated again (what that cuts is REDACTED or sent as is).
  s.path = bounded(q < 0 ? path : `${path.slice(0, q + 1)}${redactQuery(path.slice(q + 1))}`);
  return s;
}

/**
 * Query parameters whose values are replaced by `REDACTED`. OpenTelemetry's HTTP semantic
 * conventions (url.query): "Sensitive content provided in url.query SHOULD be scrubbed when
 * instrumentations can identify it", and the values of AWSAccessKeyId, Signature, sig and
 * X-Goog-Signature SHOULD be replaced by `REDACTED` by default. Redacted here: those four, and the
 * values of keys that name a credential — containing token (access_token, id_token, refresh_token,
 * X-Amz-Security-Token …), secret (client_secret), passw (password, passwd), api key (api_key,
 * apikey, api-key), session (sessionid, session_token), signature (X-Amz-Signature) or credential
 * (X-Amz-Credential), or exactly key, code (OAuth's authorization code), jwt, pwd, auth or
 * authorization — compared without case, after percent-decoding. Keys, and every other value, are
 * kept as sent (spans go to the control plane's trace store and the OTLP collector with this text).
 */
const SENSITIVE_KEY = /^(?:awsaccesskeyid|sig|x-goog-signature|key|code|jwt|pwd|auth|authorization)$|token|secret|passw|api[-_]?key|session|signature|credential/i;

/** `query` (without its '?') with the values of SENSITIVE_KEY parameters replaced by `REDACTED`. */
export function redactQuery(query: string): string {
  let out = '';
  let from = 0;
  while (from <= query.length) {
    let to = query.indexOf('&', from);
    if (to < 0) to = query.length;
    const pair = query.slice(from, to);
    const eq = pair.indexOf('=');
    let key = eq < 0 ? pair : pair.slice(0, eq);
    try {
      key = decodeURIComponent(key.replace(/\+/g, ' '));
    } catch {
      // Not valid percent-encoding: compared as sent.
    }
    out += eq >= 0 && SENSITIVE_KEY.test(key) ? `${pair.slice(0, eq)}=REDACTED` : pair;
    if (to < query.length) out += '&';
    from = to + 1;
  }
  return out;
}

/** A span's estimated memory once buffered (ownedSpan): its strings' characters (one byte each: an HTTP/1 head's text is latin1) and SPAN_OVERHEAD_BYTES. */
export function spanBytes(s: TraceSpan): number {
  return SPAN_OVERHEAD_BYTES + Math.min(s.path.length, MAX_ATTRIBUTE_LENGTH) + Math.min(s.method.length, MAX_ATTRIBUTE_LENGTH) + s.service.length + (s.source?.length ?? 0) + s.variant.length + s.route.length + s.proxy.length;
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

/** url.path and, when there is one, url.query (without its '?') of a request target. */
function urlAttributes(target: string): ReturnType<typeof attr>[] {
  const q = target.indexOf('?');
  return q < 0 ? [attr('url.path', target)] : [attr('url.path', target.slice(0, q)), attr('url.query', target.slice(q + 1))];
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
                // The path alone; the query (its credentials already redacted: redactQuery) in url.query, as the HTTP semantic conventions have them.
                ...urlAttributes(s.path),
                attr('http.response.status_code', s.status),
                attr('berth.service', s.service),
                attr('berth.variant', s.variant),
                attr('berth.route', s.route),
                attr('berth.proxy', s.proxy),
                // A mirror copy's call (Envoy marks its shadow spans so too): its answer reached no caller.
                ...(s.shadow ? [{ key: 'berth.shadow', value: { boolValue: true } }] : []),
              ],
              // OpenTelemetry's HTTP semantic conventions, "Status": STATUS_CODE_ERROR for a CLIENT span
              // answered 4xx or 5xx (the call failed), for a SERVER span only 5xx (a 4xx is the caller's
              // mistake, not this server's error); unset otherwise.
              status: s.status >= (s.kind === 'client' ? 400 : 500) ? { code: 2 } : {},
            })),
          },
        ],
      },
    ],
  };
}

/** POSTs an OTLP/HTTP JSON body to `<endpoint>/v1/traces` (or to `endpoint` when it already ends so). */
export function postOtlp(endpoint: string, body: unknown, signal?: AbortSignal): Promise<void> {
  const url = new URL(endpoint);
  if (!url.pathname.endsWith('/v1/traces')) url.pathname = `${url.pathname.replace(/\/$/, '')}/v1/traces`;
  const payload = Buffer.from(JSON.stringify(body));
  const mod = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.request(url, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': String(payload.length) }, timeout: 5000, ...(signal ? { signal } : {}) }, (res) => {
      res.resume();
      // The deadline's abort can come mid-answer: the answer then fails too.
      res.on('error', reject);
      res.on('end', () => ((res.statusCode ?? 0) < 300 ? resolve() : reject(new Error(`OTLP endpoint ${url.href} answered ${res.statusCode}`))));
    });
    req.on('timeout', () => req.destroy(new Error(`OTLP endpoint ${url.href} timed out`)));
    req.on('error', reject);
    req.end(payload);
  });
}

