// `berth traces [--service S] [--status error|ok|CODE] [--min-duration 50ms] [--limit N] [--json]`
// finds sampled requests as the dashboard's Traces view does (newest first), and
// `berth traces show TRACE_ID [--json]` prints one as a text waterfall: each hop (caller → callee,
// the client span) with its arrival at the callee's sidecar (the server span) below it, bars on one
// time axis. The spans are the control plane's (GET /api/v1/traces[/:id]); `mesh.tracing` samples them.
import type { TraceSummary } from '../../control/index.js';
import { HttpError } from '../../lib/http.js';
import type { TraceSpan } from '../../lib/mesh-protocol.js';
import { requireControl, resolveContext } from '../context.js';
import { errors } from '../errors.js';
import { bold, dim, red, table, yellow } from '../output.js';

export interface TracesOptions {
  file?: string;
  service?: string;
  status?: string;
  minDuration?: string;
  limit?: string;
  json?: boolean;
}

/** `--min-duration`: `50ms`, `1.5s`, or a bare number of milliseconds (as the dashboard's field). */
export function parseMinDuration(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
  if (!m) return undefined;
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000 }[(m[2] ?? 'ms') as 'ms' | 's' | 'm'];
}

export function tracesQuery(o: TracesOptions): string {
  const p = new URLSearchParams();
  if (o.service !== undefined) {
    if (!/^[a-z0-9][a-z0-9.-]*$/.test(o.service)) throw errors.usage(`--service: not a service name: ${JSON.stringify(o.service)}`);
    p.set('service', o.service);
  }
  if (o.status !== undefined) {
    if (!/^(error|ok|\d{3})$/.test(o.status)) throw errors.usage(`--status must be error, ok or an HTTP status code, got ${JSON.stringify(o.status)}`);
    p.set('status', o.status);
  }
  if (o.minDuration !== undefined) {
    const ms = parseMinDuration(o.minDuration);
    if (ms === undefined) throw errors.usage(`--min-duration must be a duration like 50ms or 1.5s, got ${JSON.stringify(o.minDuration)}`);
    p.set('minMs', String(ms));
  }
  const limit = o.limit === undefined ? 20 : Number(o.limit);
  if (!Number.isInteger(limit) || limit < 1) throw errors.usage(`--limit must be a whole number >= 1, got ${o.limit}`);
  p.set('limit', String(limit));
  return `/api/v1/traces?${p}`;
}

export const ms = (v: number): string => (v >= 100 ? `${v.toFixed(0)} ms` : `${v.toFixed(2)} ms`);

const colorStatus = (s: number): string => (s >= 500 ? red(String(s)) : s >= 400 ? yellow(String(s)) : String(s));

const when = (epochMs: number): string => new Date(epochMs).toISOString().replace('T', ' ').slice(0, 23);

export async function tracesList(o: TracesOptions): Promise<void> {
  const path = tracesQuery(o);
  const c = requireControl(resolveContext(o.file, false));
  const { traces, limit } = await c.get<{ traces: TraceSummary[]; limit: number }>(path);
  if (o.json) return void process.stdout.write(JSON.stringify(traces) + '\n');
  if (traces.length === 0) {
    process.stdout.write('no traces found\n');
    process.stdout.write(dim('only sampled requests are traced: set mesh: { tracing: { sample: 0.1 } } in the spec') + '\n');
    return;
  }
  process.stdout.write(
    table(
      ['TRACE', 'TIME', 'ENTRY', 'SERVICES', 'SPANS', 'DURATION', 'STATUS'],
      traces.map((t) => [t.traceId, when(t.start), t.root, t.services.join(','), String(t.spans), ms(t.durationMs), colorStatus(t.status)]),
    ) + '\n',
  );
  process.stdout.write(dim(`${traces.length} trace(s), newest first (the control plane keeps ${limit}); show one with \`berth traces show TRACE_ID\``) + '\n');
}

/** Spans in waterfall order: depth-first from the roots (spans whose parent is not in the trace), children by start. */
export function waterfallOrder(spans: TraceSpan[]): { s: TraceSpan; depth: number }[] {
  const ids = new Set(spans.map((s) => s.spanId));
  const children = new Map<string, TraceSpan[]>();
  for (const s of spans) {
    const key = s.parentId && ids.has(s.parentId) ? s.parentId : '';
    children.set(key, [...(children.get(key) ?? []), s]);
  }
  const out: { s: TraceSpan; depth: number }[] = [];
  const seen = new Set<TraceSpan>();
  const walk = (key: string, depth: number): void => {
    for (const s of (children.get(key) ?? []).sort((a, b) => a.start - b.start)) {
      if (seen.has(s)) continue; // a span whose id repeats (a malformed batch) is printed once, without looping
      seen.add(s);
      out.push({ s, depth });
      walk(s.spanId, depth + 1);
    }
  };
  walk('', 0);
  for (const s of spans) if (!seen.has(s)) out.push({ s, depth: 0 });
  return out;
}

/** One line per span: label (indented by depth), status, duration, and a bar on the trace's time axis. */
export function renderWaterfall(trace: TraceSummary, spans: TraceSpan[], width = 40): string {
  const total = Math.max(trace.durationMs, 0.001);
  const rows = waterfallOrder(spans).map(({ s, depth }) => {
    const label = `${'  '.repeat(depth)}${s.kind === 'client' ? `${s.source ?? '?'} → ${s.service}${s.shadow ? ' (shadow)' : ''}` : `${s.service} (inbound${s.variant !== '-' && s.variant !== 'default' ? `, ${s.variant}` : ''})`}`;
    const from = Math.min(width - 1, Math.floor(((s.start - trace.start) / total) * width));
    const len = Math.max(1, Math.min(width - from, Math.round((s.durationMs / total) * width)));
    const bar = ' '.repeat(from) + (s.kind === 'client' ? '█' : '▒').repeat(len) + ' '.repeat(width - from - len);
    return [label, `${s.method} ${s.path}`, colorStatus(s.status), ms(s.durationMs), `|${s.status >= 500 ? red(bar) : bar}|`];
  });
  const hops = spans.filter((s) => s.kind === 'client').length;
  const head = `${bold(`trace ${trace.traceId}`)}  ${when(trace.start)}  ${hops} hop(s), ${spans.length} span(s), ${ms(trace.durationMs)}, status ${colorStatus(trace.status)}`;
  const legend = dim(`█ the call as the caller's sidecar saw it (client span), ▒ its arrival at the callee's sidecar (server span); axis 0 – ${ms(total)}`);
  return [head, table(['SPAN', 'REQUEST', 'STATUS', 'DURATION', 'TIMELINE'], rows), legend].join('\n');
}

export async function tracesShow(id: string, o: { file?: string; json?: boolean }): Promise<void> {
  if (!/^[0-9a-f]{32}$/.test(id)) throw errors.usage(`not a trace id (32 hex digits): ${JSON.stringify(id)}`, 'list traces with `berth traces`');
  const c = requireControl(resolveContext(o.file, false));
  let t: { trace: TraceSummary; spans: TraceSpan[] };
  try {
    t = await c.get<{ trace: TraceSummary; spans: TraceSpan[] }>(`/api/v1/traces/${id}`);
  } catch (err) {
    if (err instanceof HttpError && err.status === 404) throw errors.failed(`no trace ${id}`, 'it was not sampled, or it was dropped beyond the trace limit');
    throw err;
  }
  if (o.json) return void process.stdout.write(JSON.stringify(t) + '\n');
  process.stdout.write(renderWaterfall(t.trace, t.spans) + '\n');
}
