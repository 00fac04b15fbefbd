// Metrics: req/s, error %, p50 and p99 over time per service and variant (last 15 minutes by default),
// from the points the control plane collects from the sidecars and keeps across restarts; the
// autoscaler's decisions (its Scaled… events) are marked on every chart.
import { useEffect, useRef, useState } from 'preact/hooks';
import { html } from '../html.js';
import { get, subscribe } from '../api.js';
import { ErrorNote } from '../ui.js';

const RANGES = [
  ['5m', 5 * 60_000],
  ['15m', 15 * 60_000],
  ['1h', 3600_000],
  ['6h', 6 * 3600_000],
  ['24h', 24 * 3600_000],
];
const COLORS = ['#2f7ed8', '#e4572e', '#17a589', '#a05fd0', '#f0a202', '#5d6d7e', '#c0392b', '#1abc9c'];
const CHARTS = [
  ['rps', 'requests / s', (p) => p.rps],
  ['errorPct', 'error %', (p) => p.errorPct],
  ['p50Ms', 'p50 latency (ms)', (p) => p.p50Ms],
  ['p99Ms', 'p99 latency (ms)', (p) => p.p99Ms],
];
// uPlot is loaded with this view only (its own chunk): the other views' first load does not parse it.
let uPlotModule;
const loadUPlot = () => (uPlotModule ??= import('uplot').then((m) => m.default));
const AUTOSCALE = new Set(['Scaled', 'ScaledToZero', 'ScaledFromZero']);

/** Columns for uPlot: shared x (seconds), one y array per service/variant (null where it has no point). */
function columns(points, pick) {
  const series = [...new Set(points.map((p) => `${p.source}${p.variant === 'default' ? '' : `.${p.variant}`}`))].sort();
  const times = [...new Set(points.map((p) => p.t))].sort((a, b) => a - b);
  const at = new Map(times.map((t, i) => [t, i]));
  const ys = series.map(() => times.map(() => null));
  for (const p of points) {
    const s = series.indexOf(`${p.source}${p.variant === 'default' ? '' : `.${p.variant}`}`);
    ys[s][at.get(p.t)] = pick(p);
  }
  return { series, data: [times.map((t) => t / 1000), ...ys] };
}

function Chart({ title, points, pick, marks, from }) {
  const el = useRef(null);
  const plot = useRef(null);
  useEffect(() => {
    const { series, data } = columns(points, pick);
    const markPlugin = {
      hooks: {
        draw: (u) => {
          const ctx = u.ctx;
          ctx.save();
          ctx.strokeStyle = '#f0a202';
          ctx.setLineDash([4, 3]);
          for (const m of marks) {
            const x = u.valToPos(m.t / 1000, 'x', true);
            if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) continue;
            ctx.beginPath();
            ctx.moveTo(x, u.bbox.top);
            ctx.lineTo(x, u.bbox.top + u.bbox.height);
            ctx.stroke();
          }
          ctx.restore();
        },
      },
    };
    const opts = {
      title,
      width: Math.max(320, (el.current.clientWidth || 600) - 4),
      height: 200,
      scales: { x: { time: true, range: () => [from / 1000, Date.now() / 1000] } },
      series: [{}, ...series.map((s, i) => ({ label: s, stroke: COLORS[i % COLORS.length], width: 1.5, spanGaps: false }))],
      axes: [{}, { size: 50 }],
      plugins: [markPlugin],
    };
    let gone = false;
    loadUPlot().then((UPlot) => {
      if (gone || !el.current) return;
      plot.current?.destroy();
      plot.current = new UPlot(opts, data, el.current);
    });
    return () => {
      gone = true;
      plot.current?.destroy();
      plot.current = null;
    };
  }, [points, marks, from]);
  return html`<div class="chart" ref=${el}></div>`;
}

export function Metrics() {
  const [range, setRange] = useState(15 * 60_000);
  const [points, setPoints] = useState(undefined);
  const [marks, setMarks] = useState([]);
  const [error, setError] = useState(undefined);
  const [service, setService] = useState('');
  const from = Date.now() - range;
  useEffect(() => {
    let alive = true;
    setPoints(undefined);
    Promise.all([get(`/api/v1/dashboard/metrics?since=${Date.now() - range}`), get('/api/v1/events?after=0&limit=10000')]).then(
      ([pts, evs]) => {
        if (!alive) return;
        setPoints(pts.filter((p) => p.kind === 'service'));
        setMarks(evs.filter((e) => AUTOSCALE.has(e.reason) && e.message.startsWith('autoscaler')).map((e) => ({ t: Date.parse(e.at), text: e.message })));
      },
      (err) => alive && setError(err),
    );
    // New points arrive with each collection (every few seconds): appended, the oldest beyond the range dropped.
    const off = subscribe('metrics', (fresh) =>
      setPoints((old) => (old ? [...old.filter((p) => p.t >= Date.now() - range), ...fresh.filter((p) => p.kind === 'service')] : old)),
    );
    return () => {
      alive = false;
      off();
    };
  }, [range]);
  const services = points ? [...new Set(points.map((p) => p.source))].sort() : [];
  const shown = points ? points.filter((p) => !service || p.source === service) : [];
  return html`<div>
    <div class="filters">
      ${RANGES.map(([label, ms]) => html`<button class=${`btn ${ms === range ? 'primary' : ''}`} onClick=${() => setRange(ms)}>last ${label}</button>`)}
      <select value=${service} onChange=${(e) => setService(e.target.value)}><option value="">all services</option>${services.map((s) => html`<option value=${s}>${s}</option>`)}</select>
    </div>
    <${ErrorNote} error=${error} />
    ${points === undefined && !error && html`<p class="muted">loading…</p>`}
    ${points && points.length === 0 && html`<p class="muted">No traffic measured in this range yet: points come from the mesh sidecars every few seconds.</p>`}
    ${points && points.length > 0 && html`<div class="charts" data-testid="charts">${CHARTS.map(([key, title, pick]) => html`<${Chart} key=${key} title=${title} points=${shown} pick=${pick} marks=${marks} from=${from} />`)}</div>`}
    ${marks.length > 0 && html`<p class="muted small">Dashed orange lines: autoscaler decisions (${marks.length}).</p>`}
  </div>`;
}
