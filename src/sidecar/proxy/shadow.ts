// Shadow traffic diff: a mirrored request's answer (discarded for the client, as before) is
// compared with the primary's live answer, as `berth replay` compares (status, content-type and
// location, JSON per field, text by line), and counted per service and route in /metrics
// (berth_proxy_shadow_compared_total{result="same|diff|error"}); GET /mesh/shadow has the counts per
// mirror key too (a release's mirror routes carry its canary revision), with the fields that
// differed most often, and the last differences. Bodies are kept up to 256 KiB per side (a longer
// one is compared as a prefix).
// Loaded with the first mirrored request, so proxies without a mirror route never pay for it.
import { DEFAULT_COMPARED_HEADERS, diffResponses, IgnoreRules, type ComparableResponse, type FieldDiff } from '../../replay/index.js';
import type { MeshShadowCount, MeshShadowField } from '../../lib/mesh-protocol.js';
import type { ExchangeTap } from './recorder.js';
import type { UpstreamError, UpstreamHandlers, UpstreamHead } from './upstream-client.js';

const MAX_BODY = 256 * 1024;
/** Headers compared, as `berth replay` compares, and a gRPC call's status (in its trailers, or a trailers-only answer). */
const COMPARED_HEADERS = [...DEFAULT_COMPARED_HEADERS, 'grpc-status'];
const KEEP = 20;

export interface ShadowDiff {
  at: string;
  service: string;
  route: string;
  method: string;
  path: string;
  fields: FieldDiff[];
}

export interface ShadowCounts {
  service: string;
  route: string;
  same: number;
  diff: number;
  error: number;
}

/** Distinct differing fields remembered per counter (a body whose every answer differs by id must not grow the map). */
const MAX_FIELDS = 100;
const TOP_FIELDS = 10;
/** Example values are cut to this many characters. */
const EXAMPLE_CHARS = 200;

interface Counter extends ShadowCounts {
  key?: string;
  fields: Map<string, MeshShadowField>;
}

/** Counters and the last differences, per proxy. */
export class ShadowStats {
  private readonly counts = new Map<string, Counter>();
  readonly recent: ShadowDiff[] = [];
  private ignores = new Map<string, IgnoreRules>();
  private readonly none = new IgnoreRules([]);

  /** The services' `replay.ignore` (from the snapshot): never compared in their shadow diffs. */
  setIgnores(services: Record<string, { ignore?: string[] }> | undefined): void {
    const m = new Map<string, IgnoreRules>();
    for (const [name, s] of Object.entries(services ?? {})) if (s.ignore?.length) m.set(name, new IgnoreRules(s.ignore));
    this.ignores = m;
  }

  rules(service: string): IgnoreRules {
    return this.ignores.get(service) ?? this.none;
  }

  count(service: string, route: string, result: 'same' | 'diff' | 'error', key?: string, fields: readonly FieldDiff[] = []): void {
    const k = `${service}\u0000${route}\u0000${key ?? ''}`;
    let c = this.counts.get(k);
    if (!c) this.counts.set(k, (c = { service, route, ...(key !== undefined ? { key } : {}), same: 0, diff: 0, error: 0, fields: new Map() }));
    c[result]++;
    for (const f of fields) {
      const known = c.fields.get(f.path);
      const example = { expected: f.expected.slice(0, EXAMPLE_CHARS), actual: f.actual.slice(0, EXAMPLE_CHARS) };
      if (known) Object.assign(known, example, { count: known.count + 1 });
      else if (c.fields.size < MAX_FIELDS) c.fields.set(f.path, { path: f.path, count: 1, ...example });
    }
  }

  keep(d: ShadowDiff): void {
    this.recent.push(d);
    if (this.recent.length > KEEP) this.recent.shift();
  }

  /** Per service, route and key, with the top differing fields. */
  all(): MeshShadowCount[] {
    return [...this.counts.values()].map(({ fields, ...c }) => ({ ...c, fields: [...fields.values()].sort((a, b) => b.count - a.count).slice(0, TOP_FIELDS) }));
  }

  /** Per service and route, whatever the key (the /metrics series). */
  byRoute(): ShadowCounts[] {
    const out = new Map<string, ShadowCounts>();
    for (const c of this.counts.values()) {
      const k = `${c.service}\u0000${c.route}`;
      const o = out.get(k);
      if (!o) out.set(k, { service: c.service, route: c.route, same: c.same, diff: c.diff, error: c.error });
      else {
        o.same += c.same;
        o.diff += c.diff;
        o.error += c.error;
      }
    }
    return [...out.values()];
  }
}

class Side {
  status = 0;
  headers: [string, string][] = [];
  chunks: Buffer[] = [];
  size = 0;
  done = false;
  failed = false;
  add(c: Buffer): void {
    if (this.size >= MAX_BODY) {
      this.size += c.length;
      return;
    }
    const part = c.length <= MAX_BODY - this.size ? c : c.subarray(0, MAX_BODY - this.size);
    this.chunks.push(Buffer.from(part));
    this.size += c.length;
  }
  response(): ComparableResponse {
    return { status: this.status, headers: this.headers, body: Buffer.concat(this.chunks), truncated: this.size > MAX_BODY };
  }
}

const pairs = (flat: string[]): [string, string][] => {
  const out: [string, string][] = [];
  for (let i = 0; i < flat.length; i += 2) out.push([flat[i].toLowerCase(), flat[i + 1]]);
  return out;
};

/** One mirrored request: the primary's answer arrives through the tap, the mirror's through the upstream handlers. */
export class ShadowComparison implements ExchangeTap, UpstreamHandlers {
  private readonly primary = new Side();
  private readonly mirror = new Side();

  constructor(
    private readonly stats: ShadowStats,
    private readonly service: string,
    private readonly route: string,
    private readonly method: string,
    private readonly path: string,
    /** The mirror's key (a release's canary revision): counted apart. */
    private readonly key?: string,
  ) {}

  // The primary (ExchangeTap).
  requestBody(): void {}
  trailers(flat: string[]): void {
    this.primary.headers.push(...pairs(flat));
  }
  head(status: number, headers: string[]): void {
    this.primary.status = status;
    this.primary.headers = pairs(headers);
  }
  data(chunk: Buffer): void {
    this.primary.add(chunk);
  }
  /** The primary exchange ended with `status` (0: the client went away). */
  primaryDone(status: number): void {
    if (status === 0 || this.primary.status === 0) this.primary.failed = true;
    this.primary.done = true;
    this.settle();
  }

  // The mirror (UpstreamHandlers).
  onHead(status: number, head: UpstreamHead): boolean {
    this.mirror.status = status;
    this.mirror.headers = pairs(head.list());
    return true;
  }
  onData(chunk: Buffer): boolean {
    this.mirror.add(chunk);
    return true;
  }
  onTrailers(flat: string[]): void {
    this.mirror.headers.push(...pairs(flat));
  }
  onEnd(): void {
    this.mirror.done = true;
    this.settle();
  }
  onError(_err: UpstreamError): void {
    this.mirror.failed = true;
    this.mirror.done = true;
    this.settle();
  }

  private settle(): void {
    if (!this.primary.done || !this.mirror.done) return;
    if (this.primary.failed || this.mirror.failed) return this.stats.count(this.service, this.route, 'error', this.key);
    let fields: FieldDiff[];
    try {
      fields = diffResponses(this.primary.response(), this.mirror.response(), { headers: COMPARED_HEADERS, rules: this.stats.rules(this.service) });
    } catch {
      // Never thrown into the data path: a comparison that fails counts as an error.
      return this.stats.count(this.service, this.route, 'error', this.key);
    }
    this.stats.count(this.service, this.route, fields.length ? 'diff' : 'same', this.key, fields);
    if (fields.length) this.stats.keep({ at: new Date().toISOString(), service: this.service, route: this.route, method: this.method, path: this.path, fields: fields.slice(0, 10) });
  }
}
