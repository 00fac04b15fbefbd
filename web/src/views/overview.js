// Overview: the topology of the app. Services are nodes (ready/replicas, req/s, error %, p99, a health
// colour); edges are calls, declared (`uses`, dashed until traffic is seen) and measured by the
// sidecars (caller → callee, the gateway's as `ingress` → service), each with its req/s, error % and p99.
import { useEffect, useState } from 'preact/hooks';
import { html } from '../html.js';
import { get, subscribe, useLive } from '../api.js';
import { ErrorNote, fmt, health } from '../ui.js';

const W = 210;
const H = 74;
const GAP_X = 150;
const GAP_Y = 36;

/** Per service: the sum of its variants' rates, the request-weighted error %, the worst p99. */
export function serviceTotals(points) {
  const out = new Map();
  for (const p of points.filter((x) => x.kind === 'service')) {
    const t = out.get(p.source) || { rps: 0, errors: 0, p99Ms: null };
    t.rps += p.rps;
    t.errors += (p.rps * p.errorPct) / 100;
    if (p.p99Ms !== null) t.p99Ms = Math.max(t.p99Ms ?? 0, p.p99Ms);
    out.set(p.source, t);
  }
  for (const t of out.values()) t.errorPct = t.rps > 0 ? (t.errors / t.rps) * 100 : 0;
  return out;
}

/** Layers by longest path from the entry points (ingress, then services nothing calls). */
function layout(names, edges) {
  const layer = new Map(names.map((n) => [n, 0]));
  for (let i = 0; i < names.length; i++) {
    let moved = false;
    for (const e of edges) {
      if (!layer.has(e.source) || !layer.has(e.target) || e.source === e.target) continue;
      if (layer.get(e.target) < layer.get(e.source) + 1) {
        layer.set(e.target, layer.get(e.source) + 1);
        moved = true;
      }
    }
    if (!moved) break;
  }
  const columns = [];
  for (const n of names) (columns[layer.get(n)] ||= []).push(n);
  const pos = new Map();
  const tallest = Math.max(1, ...columns.map((c) => (c ? c.length : 0)));
  columns.forEach((col, x) =>
    (col || []).forEach((n, y) => {
      const offset = ((tallest - col.length) * (H + GAP_Y)) / 2;
      pos.set(n, { x: 20 + x * (W + GAP_X), y: 20 + offset + y * (H + GAP_Y) });
    }),
  );
  // No app applied (no boxes): an empty drawing, not a negative viewBox (a console error).
  return { pos, width: Math.max(40, 40 + columns.length * (W + GAP_X) - GAP_X), height: Math.max(40, 40 + tallest * (H + GAP_Y) - GAP_Y) };
}

/** The view's data (also primed by main.js when the page opens on this view). */
export const load = () => get('/api/v1/dashboard/overview');

export function Overview() {
  const { data, error } = useLive(load);
  const [points, setPoints] = useState(undefined);
  useEffect(() => subscribe('metrics', setPoints), []);
  if (!data) return html`<${ErrorNote} error=${error} />${!error && html`<p class="muted">loading…</p>`}`;
  const pts = points || data.points;
  const totals = serviceTotals(pts);
  const measured = new Map(pts.filter((p) => p.kind === 'edge').map((p) => [`${p.source}→${p.target}`, p]));
  const edges = new Map();
  const known = new Set(data.services.map((s) => s.name));
  const hasIngress = data.ingress || data.services.some((s) => s.port !== null) || pts.some((p) => p.kind === 'edge' && p.source === 'ingress');
  for (const s of data.services) for (const u of s.uses) if (known.has(u)) edges.set(`${s.name}→${u}`, { source: s.name, target: u, declared: true });
  for (const [k, p] of measured) if ((known.has(p.source) || p.source === 'ingress') && known.has(p.target)) edges.set(k, { ...edges.get(k), source: p.source, target: p.target, point: p });
  // The gateway reaches every service with an address: those edges are drawn even before traffic.
  if (hasIngress) for (const s of data.services) if (s.port !== null && !data.services.some((o) => o.uses.includes(s.name)) && !edges.has(`ingress→${s.name}`)) edges.set(`ingress→${s.name}`, { source: 'ingress', target: s.name, declared: true });
  const names = [...(hasIngress ? ['ingress'] : []), ...data.services.map((s) => s.name)];
  const { pos, width, height } = layout(names, [...edges.values()]);
  const box = (n) => pos.get(n);
  return html`<div>
    <${ErrorNote} error=${error} />
    ${data.services.length === 0 && html`<p class="muted">No app is applied: run <code>berth up</code>.</p>`}
    <div class="graph-wrap">
      <svg class="graph" viewBox=${`0 0 ${width} ${height}`} style=${`width:100%;max-width:${width}px;height:auto`} data-testid="topology">
        <defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#7a8699" /></marker></defs>
        ${[...edges.values()].map((e) => {
          const a = box(e.source);
          const b = box(e.target);
          if (!a || !b) return null;
          const x1 = a.x + W;
          const y1 = a.y + H / 2;
          const x2 = b.x;
          const y2 = b.y + H / 2;
          const p = e.point;
          const cls = !p || p.rps === 0 ? 'edge idle' : p.errorPct >= 5 ? 'edge bad' : p.errorPct >= 1 ? 'edge warn' : 'edge ok';
          return html`<g class=${cls} data-edge=${`${e.source}→${e.target}`}>
            <path d=${`M ${x1} ${y1} C ${x1 + GAP_X / 2} ${y1}, ${x2 - GAP_X / 2} ${y2}, ${x2 - 2} ${y2}`} marker-end="url(#arrow)" />
            ${p && html`<text x=${(x1 + x2) / 2} y=${(y1 + y2) / 2 - 20} text-anchor="middle">${fmt(p.rps, ' req/s')} · ${fmt(p.errorPct, '%')} err</text><text x=${(x1 + x2) / 2} y=${(y1 + y2) / 2 - 6} text-anchor="middle">p99 ${fmt(p.p99Ms, ' ms')}</text>`}
          </g>`;
        })}
        ${names.map((n) => {
          const p = box(n);
          if (n === 'ingress')
            return html`<g class="node ingress" transform=${`translate(${p.x},${p.y})`}><rect width=${W} height=${H} rx="10" /><text x="14" y="28" class="title">ingress</text><text x="14" y="52" class="sub">${data.ingress ? `port ${data.ingress.port} + service IPs` : 'service IPs (127.0.0.1)'}</text></g>`;
          const s = data.services.find((x) => x.name === n);
          const t = totals.get(n);
          const h = health(s, t);
          return html`<g class=${`node ${h}`} transform=${`translate(${p.x},${p.y})`} data-service=${n}>
            <rect width=${W} height=${H} rx="10" />
            <circle cx=${W - 16} cy="18" r="6" class="dot" />
            <text x="14" y="26" class="title">${n}</text>
            <text x="14" y="46" class="sub">${s.stopped ? 'stopped' : `${s.ready}/${s.replicas} ready`}${s.variants.length > 1 ? ` · ${s.variants.length} variants` : ''}</text>
            <text x="14" y="64" class="sub">${t ? `${fmt(t.rps, '/s')} · ${fmt(t.errorPct, '%')} err · p99 ${fmt(t.p99Ms, ' ms')}` : 'no traffic measured'}</text>
          </g>`;
        })}
      </svg>
    </div>
    <p class="muted small">Rates from the mesh sidecars, over the last collection window. Dashed: declared in <code>uses</code>, no traffic seen yet.</p>
  </div>`;
}
