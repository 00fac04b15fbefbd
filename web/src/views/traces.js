// Traces: spans of sampled requests (spec `mesh.tracing`), found by service, status and duration; a
// trace opens as a waterfall across services — each hop (caller → callee, the client span) with its
// arrival at the callee's sidecar (the server span) below it, bars on one time axis.
import { useEffect, useState } from 'preact/hooks';
import { html } from '../html.js';
import { get } from '../api.js';
import { ErrorNote, time } from '../ui.js';
import { navigate } from '../main.js';

const ms = (v) => (v >= 100 ? `${v.toFixed(0)} ms` : `${v.toFixed(2)} ms`);
const statusClass = (s) => (s >= 500 ? 'error' : s >= 400 ? 'warn-text' : '');

function listQuery(f) {
  const p = new URLSearchParams({ limit: '200' });
  if (f.service) p.set('service', f.service);
  if (f.status) p.set('status', f.status);
  if (f.minMs) p.set('minMs', f.minMs);
  return `/api/v1/traces?${p}`;
}

/** Spans in waterfall order: depth-first from the roots (spans whose parent is not in the trace), children by start. */
function ordered(spans) {
  const ids = new Set(spans.map((s) => s.spanId));
  const children = new Map();
  for (const s of spans) {
    const key = s.parentId && ids.has(s.parentId) ? s.parentId : '';
    if (!children.has(key)) children.set(key, []);
    children.get(key).push(s);
  }
  const out = [];
  const walk = (key, depth) => {
    for (const s of (children.get(key) || []).sort((a, b) => a.start - b.start)) {
      out.push({ s, depth });
      walk(s.spanId, depth + 1);
    }
  };
  walk('', 0);
  return out;
}

function Waterfall({ id }) {
  const [data, setData] = useState(undefined);
  const [error, setError] = useState(undefined);
  useEffect(() => {
    setData(undefined);
    setError(undefined);
    get(`/api/v1/traces/${encodeURIComponent(id)}`).then(setData, setError);
  }, [id]);
  if (error) return html`<${ErrorNote} error=${error} />`;
  if (!data) return html`<p class="muted">loading trace…</p>`;
  const { trace, spans } = data;
  const total = Math.max(trace.durationMs, 0.001);
  const hops = spans.filter((s) => s.kind === 'client').length;
  return html`<div class="card" data-testid="waterfall" data-trace=${trace.traceId}>
    <div class="card-head"><b class="mono">${trace.traceId}</b>
      <span class="small">${new Date(trace.start).toISOString().slice(0, 10)} ${time(new Date(trace.start).toISOString())}</span>
      <span class="pill">${hops} hop${hops === 1 ? '' : 's'}</span><span class="pill">${spans.length} spans</span><span class="pill">${ms(trace.durationMs)}</span>
      <span class="small muted">${trace.services.join(', ')}</span></div>
    <table class="table waterfall"><thead><tr><th>Span</th><th>Status</th><th>Duration</th><th class="wf-axis">0 – ${ms(total)}</th></tr></thead>
    <tbody>${ordered(spans).map(({ s, depth }) => {
      const left = ((s.start - trace.start) / total) * 100;
      const width = Math.max((s.durationMs / total) * 100, 0.4);
      const label = s.kind === 'client' ? html`<b>${s.source || '?'} → ${s.service}</b> <span class="muted small">${s.shadow ? 'shadow copy, ' : ''}route ${s.route}, variant ${s.variant}</span>` : html`${s.service} <span class="muted small">inbound${s.variant && s.variant !== '-' ? `, variant ${s.variant}` : ''}</span>`;
      return html`<tr key=${s.spanId + s.kind} data-testid="span" data-kind=${s.kind} data-service=${s.service} data-source=${s.source || ''} data-shadow=${s.shadow ? 'true' : undefined}>
        <td class="nowrap" style=${`padding-left:${10 + depth * 16}px`} title=${`${s.method} ${s.path} · ${s.proxy} · span ${s.spanId}`}>${label}<div class="mono small muted">${s.method} ${s.path}</div></td>
        <td class=${statusClass(s.status)}>${s.status}</td><td class="mono small nowrap">${ms(s.durationMs)}</td>
        <td class="wf-cell"><div class=${`wf-bar ${s.kind} ${s.status >= 500 ? 'bad' : ''}`} style=${`left:${left}%;width:${width}%`}></div></td>
      </tr>`;
    })}</tbody></table>
  </div>`;
}

export function Traces() {
  const params = new URLSearchParams(location.search);
  const [open, setOpen] = useState(params.get('trace') || undefined);
  const [form, setForm] = useState({ service: params.get('service') || '', status: '', minMs: '' });
  const [applied, setApplied] = useState(form);
  const [list, setList] = useState(undefined);
  const [limit, setLimit] = useState(undefined);
  const [error, setError] = useState(undefined);
  const [services, setServices] = useState([]);
  useEffect(() => {
    get('/api/v1/status').then((s) => setServices([...new Set(s.services.map((d) => d.name.split('.')[0]))]), () => {});
  }, []);
  useEffect(() => {
    let alive = true;
    setError(undefined);
    get(listQuery(applied)).then(
      (r) => {
        if (!alive) return;
        setList(r.traces);
        setLimit(r.limit);
      },
      (err) => alive && setError(err),
    );
    return () => {
      alive = false;
    };
  }, [applied]);
  const set = (k) => (e) => setForm({ ...form, [k]: e.target.value });
  const submit = (e) => {
    e.preventDefault();
    setList(undefined);
    setApplied({ ...form });
  };
  const show = (id) => {
    setOpen(id);
    navigate('traces', `?trace=${id}`);
  };
  return html`<div>
    <form class="filters" onSubmit=${submit} data-testid="trace-search">
      <select value=${form.service} onChange=${set('service')} name="service"><option value="">all services</option>${services.map((s) => html`<option value=${s}>${s}</option>`)}</select>
      <select value=${form.status} onChange=${set('status')} name="status"><option value="">any status</option><option value="error">errors (5xx)</option><option value="ok">no errors</option></select>
      <label class="small">at least <input type="number" min="0" step="any" value=${form.minMs} onInput=${set('minMs')} name="minMs" style="width:6em" /> ms</label>
      <button class="btn primary" type="submit">Search</button>
    </form>
    ${open && html`<${Waterfall} id=${open} />`}
    <${ErrorNote} error=${error} />
    ${list === undefined && !error && html`<p class="muted">searching…</p>`}
    ${list &&
    html`<p class="muted small">${list.length} trace${list.length === 1 ? '' : 's'} (newest first; the control plane keeps ${limit} traces). Only sampled requests are traced: set <span class="mono">mesh.tracing</span> in the spec.</p>
      <table class="table"><thead><tr><th>Time</th><th>Entry</th><th>Services</th><th>Spans</th><th>Duration</th><th>Status</th></tr></thead>
      <tbody>${list.map(
        (t) => html`<tr key=${t.traceId} data-testid="trace-row" data-trace=${t.traceId} class=${t.traceId === open ? 'selected' : ''} onClick=${() => show(t.traceId)} style="cursor:pointer">
          <td class="mono small nowrap">${time(new Date(t.start).toISOString())}</td><td>${t.root}</td>
          <td class="small">${t.services.join(', ')}</td><td>${t.spans}</td><td class="mono small">${ms(t.durationMs)}</td>
          <td class=${statusClass(t.status)}>${t.status}</td></tr>`,
      )}</tbody></table>`}
  </div>`;
}
