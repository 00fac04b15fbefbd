// Releases: every service with a canary or blue-green release (`berth release status`): the step it is
// at among its spec's steps, the weights, both sides' instances, throttle, each analysis run's
// measurements, and the service's revision history. Promote / Abort / Retry behind confirm dialogs
// call the same routes as `berth release promote|abort|retry`.
import { html } from '../html.js';
import { get, post, useLive } from '../api.js';
import { ConfirmButton, ErrorNote, fmt, time } from '../ui.js';

async function load() {
  const { releases } = await get('/api/v1/releases');
  const histories = await Promise.all(releases.map((r) => get(`/api/v1/history/${encodeURIComponent(r.service)}`).then((h) => h.revisions, () => [])));
  return releases.map((r, i) => ({ ...r, history: histories[i] }));
}

const phaseClass = (p) => ({ Healthy: 'ok', Progressing: 'warn', Paused: 'warn', Degraded: 'bad' })[p] || 'idle';
const runClass = (p) => ({ Successful: 'ok', Failed: 'bad', Error: 'bad', Inconclusive: 'warn', Running: 'warn' })[p] || 'idle';
const short = (rev) => (rev ? rev.slice(0, 12) : '–');
const ms = (v) => (v % 1000 === 0 ? `${v / 1000}s` : `${v}ms`);

/** One canary step as the spec says it. */
function stepText(s) {
  if (s.setWeight !== undefined) return `setWeight ${s.setWeight}%`;
  if (s.pause) return s.pause.duration !== undefined ? `pause ${ms(s.pause.duration)}` : 'pause (until promoted)';
  if (s.analysis) return `analysis ${s.analysis.templates.join(', ')}`;
  if (s.setCanaryScale) return `setCanaryScale ${s.setCanaryScale.replicas !== undefined ? `${s.setCanaryScale.replicas} instances` : s.setCanaryScale.weight !== undefined ? `${s.setCanaryScale.weight}%` : 'matchTrafficWeight'}`;
  if (s.setHeaderRoute) return `setHeaderRoute ${s.setHeaderRoute.name}${s.setHeaderRoute.match ? '' : ' (removed)'}`;
  if (s.setMirrorRoute) return `setMirrorRoute ${s.setMirrorRoute.name}${s.setMirrorRoute.match ? ` ${s.setMirrorRoute.percentage ?? 100}%` : ' (removed)'}`;
  return JSON.stringify(s);
}

/** A measurement's value, short: numbers rounded, nested objects flattened to `a.b=1`. */
function valueText(v) {
  if (v === undefined || v === null) return '';
  if (typeof v === 'number') return fmt(v, '', 4);
  if (typeof v !== 'object') return String(v);
  const parts = [];
  const walk = (o, prefix) => {
    for (const [k, x] of Object.entries(o)) {
      if (x && typeof x === 'object' && !Array.isArray(x)) walk(x, `${prefix}${k}.`);
      else parts.push(`${prefix}${k}=${typeof x === 'number' ? fmt(x, '', 4) : JSON.stringify(x)}`);
    }
  };
  walk(v, '');
  const text = parts.join(' ');
  return text.length > 160 ? `${text.slice(0, 157)}…` : text;
}

function Steps({ r }) {
  if (r.strategy !== 'canary' || r.stepSpecs.length === 0) return null;
  const at = r.step ?? -1;
  return html`<ol class="steps" data-testid="steps">
    ${r.stepSpecs.map((s, i) => html`<li class=${r.phase === null ? '' : i < at ? 'done' : i === at ? 'current' : ''} data-step=${i}>${stepText(s)}</li>`)}
  </ol>`;
}

function Weights({ w }) {
  return html`<div class="weights" data-testid="weights">
    <div class="weight-bar"><span class="stable" style=${`width:${w.stable}%`}></span><span class="canary" style=${`width:${w.canary}%`}></span></div>
    <span>stable <b data-testid="weight-stable">${w.stable}%</b> · canary <b data-testid="weight-canary">${w.canary}%</b></span>
  </div>`;
}

function Throttle({ t }) {
  if (!t) return html`<span class="muted">none</span>`;
  const limit = [t.rps !== null && `${fmt(t.effective.rps, ' req/s', 2)} of ${t.rps}`, t.concurrency !== null && `${t.effective.concurrency} in flight of ${t.concurrency}`].filter(Boolean);
  return html`<span data-testid="throttle">${limit.length ? limit.join(', ') : `weight ramped to ${t.effective.weight}%`}${t.slowStartMs !== null ? ` · slowStart ${ms(t.slowStartMs)}, ramp ${Math.round(t.ramp * 100)}%` : ''} <span class="muted">(overflow served by stable)</span></span>`;
}

function Analysis({ runs }) {
  if (runs.length === 0) return html`<p class="muted small pad">No analysis runs in this release.</p>`;
  return runs.map(
    (run) => html`<div class="run" data-testid="analysis-run" data-run=${run.id}>
      <div class="small"><b>analysis ${run.templates.join(', ')}</b> <span class=${`pill ${runClass(run.phase)}`}>${run.phase}</span> ${run.message ? html`<span class="muted">${run.message}</span>` : ''}</div>
      <table class="table">
        <thead><tr><th>Metric</th><th>Phase</th><th>Measured</th><th>Passed</th><th>Failed</th><th>Inconcl.</th><th>Error</th><th>Measurements (newest last)</th></tr></thead>
        <tbody>${run.metrics.map(
          (m) => html`<tr data-metric=${m.name}>
            <td class="mono">${m.name}</td>
            <td><span class=${`pill ${runClass(m.phase)}`}>${m.phase}</span></td>
            <td>${m.count}</td><td>${m.successful}</td><td>${m.failed}</td><td>${m.inconclusive}</td><td>${m.error}</td>
            <td class="small">${m.measurements.slice(-5).map(
              (x) => html`<div><span class=${`pill ${runClass(x.phase)}`} data-testid="measurement">${x.phase === 'Successful' ? 'pass' : x.phase === 'Failed' ? 'fail' : x.phase}</span> <span class="muted">${time(new Date(x.startedAt).toISOString())}</span> <span class="mono">${valueText(x.value)}</span>${x.message ? html` <span class="muted">${x.message}</span>` : ''}</div>`,
            )}</td>
          </tr>`,
        )}</tbody>
      </table>
    </div>`,
  );
}

function Actions({ r, reload }) {
  const svc = r.service;
  const act = (verb, body = {}) => async () => {
    await post(`/api/v1/release/${encodeURIComponent(svc)}/${verb}`, body);
    reload();
  };
  const inProgress = r.phase === 'Progressing' || r.phase === 'Paused';
  return html`<span class="actions">
    ${inProgress &&
    html`<${ConfirmButton} label="Promote" testid=${`promote-${svc}`} title=${`Promote ${svc}?`}
      body=${r.strategy === 'canary' ? `As \`berth release promote ${svc}\`: the release goes on to its next step (a pause ends now).` : `As \`berth release promote ${svc}\`: the preview takes all traffic.`}
      action=${act('promote', { full: false })} />`}
    ${inProgress &&
    html`<${ConfirmButton} label="Abort" danger testid=${`abort-${svc}`} title=${`Abort the release of ${svc}?`}
      body=${`As \`berth release abort ${svc}\`: stable serves every request again and the canary's instances stop.`} action=${act('abort')} />`}
    ${r.phase === 'Degraded' &&
    html`<${ConfirmButton} label="Retry" testid=${`retry-${svc}`} title=${`Retry the release of ${svc}?`}
      body=${`As \`berth release retry ${svc}\`: the aborted revision is released again from the first step.`} action=${act('retry')} />`}
  </span>`;
}

function Release({ r, reload }) {
  const hist = r.history.slice(-8).reverse();
  return html`<section class="card" data-testid=${`release-${r.service}`} data-phase=${r.phase ?? 'none'}>
    <header class="card-head">
      <h2>${r.service}</h2>
      <span class="pill">${r.strategy === 'blueGreen' ? 'blue-green' : r.strategy}</span>
      <span class=${`pill ${phaseClass(r.phase)}`} data-testid="phase">${r.phase ?? 'no release in progress'}</span>
      ${r.step !== null && r.phase !== null && html`<span data-testid="step">step ${Math.min(r.step + 1, r.steps)}/${r.steps}${r.step >= r.steps ? ' (all done)' : ''}</span>`}
      <${Actions} r=${r} reload=${reload} />
    </header>
    <div class="release-body">
      <div>
        <${Weights} w=${r.weights} />
        <table class="table kv small">
          <tr><th>stable</th><td class="mono">${short(r.stableRevision)}</td><td>${r.instances.stable.ready}/${r.instances.stable.live} ready</td></tr>
          <tr><th>${r.strategy === 'blueGreen' ? 'preview' : 'canary'}</th><td class="mono">${short(r.canaryRevision)}</td><td>${r.instances.canary.ready}/${r.instances.canary.live} ready</td></tr>
          <tr><th>throttle</th><td colspan="2"><${Throttle} t=${r.throttle} /></td></tr>
          ${r.headerRoutes.length > 0 && html`<tr><th>header routes</th><td colspan="2">${r.headerRoutes.join(', ')}</td></tr>`}
          ${r.startedAt && html`<tr><th>started</th><td colspan="2">${time(r.startedAt)}${r.promotedAt ? ` · promoted ${time(r.promotedAt)}` : ''}${r.abortedAt ? ` · aborted ${time(r.abortedAt)}` : ''}${r.pauseUntil ? ` · paused until ${time(r.pauseUntil)}` : ''}</td></tr>`}
        </table>
        ${r.message && html`<p class=${`small pad ${r.phase === 'Degraded' ? 'error' : 'warn-text'}`} data-testid="message">${r.message}</p>`}
      </div>
      <${Steps} r=${r} />
    </div>
    <${Analysis} runs=${r.analysisRuns} />
    <details class="pad small"><summary>History (${r.history.length} revisions)</summary>
      <table class="table" data-testid="history">
        <thead><tr><th>#</th><th>Revision</th><th>Status</th><th>Why</th><th>At</th></tr></thead>
        <tbody>${hist.map((h) => html`<tr><td>${h.number}</td><td class="mono">${short(h.revision)}</td><td>${h.status}</td><td>${h.why}${h.message ? ` — ${h.message}` : ''}</td><td>${time(h.at)}</td></tr>`)}</tbody>
      </table>
    </details>
  </section>`;
}

export function Releases() {
  const { data, error, reload } = useLive(load);
  if (!data) return html`<${ErrorNote} error=${error} />${!error && html`<p class="muted">loading…</p>`}`;
  return html`<div>
    <${ErrorNote} error=${error} />
    ${data.length === 0 && html`<p class="muted" data-testid="empty">No releases: no service has <code>release: { strategy: canary }</code> or <code>blueGreen</code> in the spec.</p>`}
    ${data.map((r) => html`<${Release} key=${r.service} r=${r} reload=${reload} />`)}
  </div>`;
}
