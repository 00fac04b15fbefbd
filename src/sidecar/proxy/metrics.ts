// Prometheus metrics of one proxy, hand-rolled so the hot path is a map lookup and a few additions
// (prom-client's label handling allocates per observation). Served on the admin port at /metrics.
//   berth_proxy_requests_total{source,direction,destination,variant,route,code[,grpc_status]}
//     (source: the caller's service on inbound series, this proxy's on outbound ones; code 499: the
//     client went away before the answer ended; grpc_status: gRPC answers' status, 1 = CANCELLED)
//   berth_proxy_request_duration_seconds_bucket{direction,destination,variant,route,le}
//   berth_proxy_ejections_total{destination,endpoint}
//   berth_proxy_throttled_total{destination,route,reason}
//     (reason rate / concurrency: refused, destination = the one whose limit refused; reason overflow:
//     a variant over its limit sent the request to its overflowTo variant instead, not refused)
//   berth_proxy_access_log_dropped_total (lines dropped because stdout did not keep up, or its reader was gone)

import { STATS_BUCKETS, type MeshStatsSeries } from '../../lib/mesh-protocol.js';

export const BUCKETS = STATS_BUCKETS;

interface Series {
  direction: string;
  destination: string;
  variant: string;
  labels: string;
  codes: Map<number, number>;
  /** gRPC answers: `code="…",grpc_status="…"` → count. */
  grpc: Map<string, number> | undefined;
  buckets: Float64Array;
  sum: number;
  count: number;
}

/** gRPC answers counted as errors (as their HTTP equivalents would be): 5xx/499, or CANCELLED, UNKNOWN, DEADLINE_EXCEEDED, INTERNAL, UNAVAILABLE, DATA_LOSS. */
const GRPC_ERROR = /^code="(5\d\d|499)"|grpc_status="(1|2|4|13|14|15)"$/;

function esc(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function level<V>(m: Map<string, Map<string, V>>, key: string): Map<string, V> {
  let next = m.get(key);
  if (!next) m.set(key, (next = new Map()));
  return next;
}

export class Metrics {
  /** Every series, in the order first seen (for rendering). */
  private readonly series: Series[] = [];
  /** direction → destination → route → variant → source → series: lookups of strings the routing table keeps (hashed once), no key built per request. */
  private readonly index = new Map<string, Map<string, Map<string, Map<string, Map<string, Series>>>>>();
  private readonly ejections = new Map<string, number>();
  private readonly throttled = new Map<string, number>();

  /** Reads the access log's dropped-lines counter when rendering. */
  accessLogDropped: () => number = () => 0;
  /** Span emission counters (undefined while tracing is off: nothing rendered). */
  spans: () => { sent: number; dropped: number; otlpSent?: number; otlpDropped?: number } | undefined = () => undefined;
  /** Recording counters per recorded service (none while nothing is recorded). */
  recordings: () => { service: string; recorded: number; dropped: number }[] = () => [];
  /** Shadow diff counters per destination service and route (none without a mirror route). */
  shadow: () => { service: string; route: string; same: number; diff: number; error: number }[] = () => [];

  constructor(private readonly proxy: string, private readonly source: string) {}

  /** The series of the last request and its labels: a run of requests of one route skips the five map lookups (~800 instructions). */
  private last: { direction: string; destination: string; variant: string; route: string; source: string; series: Series } | undefined;

  request(direction: string, destination: string, variant: string, route: string, code: number, seconds: number, source = this.source, grpcStatus?: string): void {
    const last = this.last;
    const s = last && last.direction === direction && last.destination === destination && last.variant === variant && last.route === route && last.source === source ? last.series : this.seriesOf(direction, destination, variant, route, source);
    if (grpcStatus !== undefined) {
      const key = `code="${code}",grpc_status="${esc(grpcStatus)}"`;
      s.grpc ??= new Map();
      s.grpc.set(key, (s.grpc.get(key) ?? 0) + 1);
    } else s.codes.set(code, (s.codes.get(code) ?? 0) + 1);
    for (let i = 0; i < BUCKETS.length; i++) if (seconds <= BUCKETS[i]) s.buckets[i]++;
    s.sum += seconds;
    s.count++;
  }

  private seriesOf(direction: string, destination: string, variant: string, route: string, source: string): Series {
    const byRoute = level(level(this.index, direction), destination);
    const bySource = level(level(byRoute, route), variant);
    let s = bySource.get(source);
    if (!s) {
      s = {
        direction,
        destination,
        variant,
        labels: `proxy="${esc(this.proxy)}",source="${esc(source)}",direction="${direction}",destination="${esc(destination)}",variant="${esc(variant)}",route="${esc(route)}"`,
        codes: new Map(),
        grpc: undefined,
        buckets: new Float64Array(BUCKETS.length),
        sum: 0,
        count: 0,
      };
      this.series.push(s);
      bySource.set(source, s);
    }
    this.last = { direction, destination, variant, route, source, series: s };
    return s;
  }

  ejection(destination: string, endpoint: string): void {
    const key = `destination="${esc(destination)}",endpoint="${esc(endpoint)}"`;
    this.ejections.set(key, (this.ejections.get(key) ?? 0) + 1);
  }

  throttle(destination: string, route: string, reason: string): void {
    const key = `destination="${esc(destination)}",route="${esc(route)}",reason="${reason}"`;
    this.throttled.set(key, (this.throttled.get(key) ?? 0) + 1);
  }

  /** Cumulative counters per series, for `berth top` (the control plane takes deltas between two reads). */
  stats(): MeshStatsSeries[] {
    // One entry per direction, destination and variant (the callers and routes of the series summed): what `berth top` compares between reads.
    const merged = new Map<string, MeshStatsSeries>();
    for (const s of this.series) {
      let errors = 0;
      for (const [code, n] of s.codes) if (code >= 500 || code === 499) errors += n;
      if (s.grpc) for (const [key, n] of s.grpc) if (GRPC_ERROR.test(key)) errors += n;
      const key = `${s.direction}\u0000${s.destination}\u0000${s.variant}`;
      const m = merged.get(key);
      if (!m) merged.set(key, { direction: s.direction, destination: s.destination, variant: s.variant, count: s.count, errors, buckets: [...s.buckets], sum: s.sum });
      else {
        m.count += s.count;
        m.errors += errors;
        m.sum += s.sum;
        s.buckets.forEach((b, i) => (m.buckets[i] += b));
      }
    }
    return [...merged.values()];
  }

  /** Prometheus text exposition format 0.0.4. */
  render(): string {
    const out: string[] = [];
    out.push('# HELP berth_proxy_requests_total Requests handled by the proxy.', '# TYPE berth_proxy_requests_total counter');
    for (const s of this.series) {
      for (const [code, n] of s.codes) out.push(`berth_proxy_requests_total{${s.labels},code="${code}"} ${n}`);
      if (s.grpc) for (const [key, n] of s.grpc) out.push(`berth_proxy_requests_total{${s.labels},${key}} ${n}`);
    }
    out.push('# HELP berth_proxy_request_duration_seconds Time from request to response end.', '# TYPE berth_proxy_request_duration_seconds histogram');
    for (const s of this.series) {
      BUCKETS.forEach((le, i) => out.push(`berth_proxy_request_duration_seconds_bucket{${s.labels},le="${le}"} ${s.buckets[i]}`));
      out.push(`berth_proxy_request_duration_seconds_bucket{${s.labels},le="+Inf"} ${s.count}`);
      out.push(`berth_proxy_request_duration_seconds_sum{${s.labels}} ${s.sum}`, `berth_proxy_request_duration_seconds_count{${s.labels}} ${s.count}`);
    }
    out.push('# HELP berth_proxy_ejections_total Endpoints ejected by outlier detection.', '# TYPE berth_proxy_ejections_total counter');
    for (const [k, n] of this.ejections) out.push(`berth_proxy_ejections_total{${k}} ${n}`);
    out.push('# HELP berth_proxy_throttled_total Requests refused by a rate or concurrency limit (reason rate, concurrency), or sent to the overflow variant instead (reason overflow).', '# TYPE berth_proxy_throttled_total counter');
    for (const [k, n] of this.throttled) out.push(`berth_proxy_throttled_total{${k}} ${n}`);
    out.push('# HELP berth_proxy_access_log_dropped_total Access log lines dropped because the log output did not keep up or failed (its reader gone).', '# TYPE berth_proxy_access_log_dropped_total counter');
    out.push(`berth_proxy_access_log_dropped_total{proxy="${esc(this.proxy)}"} ${this.accessLogDropped()}`);
    const sp = this.spans();
    if (sp) {
      out.push('# HELP berth_proxy_spans_sent_total Spans of sampled requests sent to the control plane (mesh.tracing).', '# TYPE berth_proxy_spans_sent_total counter');
      out.push(`berth_proxy_spans_sent_total{proxy="${esc(this.proxy)}"} ${sp.sent}`);
      out.push('# HELP berth_proxy_spans_dropped_total Spans dropped: the buffer was full or the control plane did not take the batch (by the export deadline).', '# TYPE berth_proxy_spans_dropped_total counter');
      out.push(`berth_proxy_spans_dropped_total{proxy="${esc(this.proxy)}"} ${sp.dropped}`);
      if (sp.otlpSent || sp.otlpDropped) {
        out.push('# HELP berth_proxy_otlp_spans_sent_total Spans of sampled requests exported to the OTLP collector (mesh.tracing.otlp).', '# TYPE berth_proxy_otlp_spans_sent_total counter');
        out.push(`berth_proxy_otlp_spans_sent_total{proxy="${esc(this.proxy)}"} ${sp.otlpSent ?? 0}`);
        out.push('# HELP berth_proxy_otlp_spans_dropped_total Spans not exported to the OTLP collector: its buffer was full, or it did not take the batch by the export deadline.', '# TYPE berth_proxy_otlp_spans_dropped_total counter');
        out.push(`berth_proxy_otlp_spans_dropped_total{proxy="${esc(this.proxy)}"} ${sp.otlpDropped ?? 0}`);
      }
    }
    const sh = this.shadow();
    if (sh.length > 0) {
      out.push('# HELP berth_proxy_shadow_compared_total Mirrored answers compared with the primary\'s (same, diff, or error: one side failed).', '# TYPE berth_proxy_shadow_compared_total counter');
      for (const c of sh) for (const result of ['same', 'diff', 'error'] as const) out.push(`berth_proxy_shadow_compared_total{proxy="${esc(this.proxy)}",service="${esc(c.service)}",route="${esc(c.route)}",result="${result}"} ${c[result]}`);
    }
    const rec = this.recordings();
    if (rec.length > 0) {
      out.push('# HELP berth_proxy_recorded_total Exchanges written to a recording.', '# TYPE berth_proxy_recorded_total counter');
      for (const r of rec) out.push(`berth_proxy_recorded_total{proxy="${esc(this.proxy)}",service="${esc(r.service)}"} ${r.recorded}`);
      out.push('# HELP berth_proxy_recording_dropped_total Recorded exchanges dropped (writer queue full or a failed write); the requests were served.', '# TYPE berth_proxy_recording_dropped_total counter');
      for (const r of rec) out.push(`berth_proxy_recording_dropped_total{proxy="${esc(this.proxy)}",service="${esc(r.service)}"} ${r.dropped}`);
    }
    return out.join('\n') + '\n';
  }
}
