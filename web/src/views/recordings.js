// Recordings and replays: the traffic recordings (`berth record ls`) with Start/Stop (the same API
// routes as `berth record start|stop`), and the diff reports — `berth replay` runs kept in
// .berth/replays/ (per endpoint: requests, diffs, top differing fields with expected/actual, as the
// HTML report), shadow traffic compared by the mirroring proxies, and the replay gates of releases.
import { useEffect, useState } from 'preact/hooks';
import { html } from '../html.js';
import { get, post, useLive } from '../api.js';
import { ConfirmButton, ErrorNote, fmt, time } from '../ui.js';

/** Calls `fn` every `ms` while `on`: what grows without a state change (entries, new replay files) is re-read. */
function useEvery(ms, on, fn) {
  useEffect(() => {
    if (!on) return undefined;
    const t = setInterval(fn, ms);
    return () => clearInterval(t);
  }, [ms, on]);
}

const size = (b) => (b < 1024 * 1024 ? `${(b / 1024).toFixed(1)} KiB` : `${(b / 1024 / 1024).toFixed(1)} MiB`);
const when = (iso) => (iso ? `${iso.slice(0, 10)} ${time(iso)}` : '–');

async function loadRecordings() {
  const [{ recordings }, status] = await Promise.all([get('/api/v1/recordings'), get('/api/v1/status')]);
  const services = [...new Set(status.services.filter((s) => s.port !== null && s.port !== undefined).map((s) => s.name.split('.')[0]))];
  return { recordings, services };
}

function StartRecording({ services, recording, reload }) {
  const free = services.filter((s) => !recording.has(s));
  const [form, setForm] = useState({ service: '', sample: '1', duration: '' });
  if (free.length === 0) return null;
  const service = form.service || free[0];
  const set = (k) => (e) => setForm({ ...form, [k]: e.target.value });
  const start = async () => {
    const body = { service, sample: Number(form.sample) };
    if (form.duration) body.durationSeconds = Number(form.duration) * 60;
    await post('/api/v1/recordings', body);
    reload();
  };
  return html`<${ConfirmButton} label="Start recording…" testid="record-start" title="Start recording" confirmLabel="Start"
    body=${`As \`berth record start ${service}\`: its inbound sidecars write what they serve (requests, responses, the calls each made) into HAR files under .berth/recordings/. authorization, cookie, set-cookie and proxy-authorization are redacted.`}
    action=${start}>
    ${() => html`<div class="filters">
      <label>Service <select data-testid="record-service" value=${service} onChange=${set('service')}>${free.map((s) => html`<option value=${s}>${s}</option>`)}</select></label>
      <label>Sample <input type="number" min="0.01" max="1" step="0.01" value=${form.sample} onInput=${set('sample')} style="width:5em" /></label>
      <label>Minutes <input type="number" min="0" step="any" placeholder="until stopped" value=${form.duration} onInput=${set('duration')} style="width:8em" /></label>
    </div>`}
  </${ConfirmButton}>`;
}

function Recordings() {
  const { data, error, reload } = useLive(loadRecordings);
  useEvery(2000, !!data?.recordings.some((r) => r.state === 'recording'), reload);
  if (!data) return html`<${ErrorNote} error=${error} />${!error && html`<p class="muted">loading…</p>`}`;
  const { recordings, services } = data;
  const recording = new Set(recordings.filter((r) => r.state === 'recording').map((r) => r.service));
  const shown = [...recordings].reverse();
  return html`<section class="card" data-testid="recordings">
    <header class="card-head"><h2>Recordings</h2><span class="muted small">HAR 1.2 files in .berth/recordings/, replayed with <span class="mono">berth replay</span></span>
      <span class="actions"><${StartRecording} services=${services} recording=${recording} reload=${reload} /></span></header>
    <${ErrorNote} error=${error} />
    <table class="table"><thead><tr><th>Recording</th><th>Service</th><th>State</th><th>Source</th><th>Started</th><th>Sample</th><th>Entries</th><th>Files</th><th>Size</th><th></th></tr></thead>
    <tbody>${shown.map(
      (r) => html`<tr key=${r.id} data-testid="recording" data-service=${r.service} data-state=${r.state}>
        <td class="mono small">${r.id}</td><td>${r.service}</td>
        <td><span class=${`pill ${r.state === 'recording' ? 'ok' : 'idle'}`} data-testid="recording-state">${r.state}</span>${r.until && r.state === 'recording' ? html` <span class="muted small">until ${time(r.until)}</span>` : ''}</td>
        <td>${r.source === 'spec' ? 'spec (record:)' : 'berth record'}</td>
        <td class="small nowrap">${when(r.startedAt)}</td><td>${r.sample}</td>
        <td data-testid="recording-entries">${r.entries ?? '–'}</td><td>${r.files.length}</td><td class="nowrap">${size(r.bytes)}</td>
        <td>${r.state === 'recording' && r.source === 'cli'
          ? html`<${ConfirmButton} label="Stop" danger testid=${`record-stop-${r.service}`} title=${`Stop recording ${r.service}?`}
              body=${`As \`berth record stop ${r.service}\`: the sidecars close their files; what was recorded stays for replay.`}
              action=${async () => {
                await post('/api/v1/recordings/stop', { service: r.service });
                reload();
              }} />`
          : ''}</td>
      </tr>`,
    )}
    ${shown.length === 0 && html`<tr><td colspan="10" class="muted">No recordings: start one here or with <span class="mono">berth record start SERVICE</span>, or set <span class="mono">record:</span> in the spec.</td></tr>`}
    </tbody></table>
  </section>`;
}

/** One endpoint of a diff report: requests, diffs, failed, and its top differing fields with examples. */
function Endpoint({ e }) {
  const bad = e.diffs > 0 || e.failed > 0;
  return html`<div class=${`endpoint ${bad ? 'bad' : 'ok'}`} data-testid="endpoint" data-endpoint=${e.endpoint}>
    <div><b class="mono">${e.endpoint}</b> <span class="small">${e.requests} requests, <b>${e.diffs}</b> with differences, ${e.failed} failed</span></div>
    ${e.fields.length > 0 &&
    html`<table class="table fields-table"><thead><tr><th>Field</th><th>Requests</th><th>Expected</th><th>Actual</th><th>Request</th></tr></thead>
      <tbody>${e.fields.map((f) =>
        (f.examples && f.examples.length ? f.examples : [{ expected: '', actual: '', request: '' }]).map(
          (x, i) => html`<tr data-testid="diff-field" data-path=${f.path}>
            ${i === 0 && html`<td class="mono" rowspan=${Math.max(1, f.examples?.length ?? 1)}>${f.path}</td><td rowspan=${Math.max(1, f.examples?.length ?? 1)}>${f.count}</td>`}
            <td class="mono small expected">${x.expected}</td><td class="mono small actual">${x.actual}</td><td class="mono small muted">${x.request}</td></tr>`,
        ),
      )}</tbody></table>`}
    ${e.noise && e.noise.length > 0 && html`<p class="muted small">noise (not counted): ${e.noise.map((n) => html`<span class="mono">${n} </span>`)}</p>`}
  </div>`;
}

function ReplayReport({ id }) {
  const [data, setData] = useState(undefined);
  const [error, setError] = useState(undefined);
  useEffect(() => {
    setData(undefined);
    setError(undefined);
    get(`/api/v1/replays/${encodeURIComponent(id)}`).then(setData, setError);
  }, [id]);
  if (error) return html`<${ErrorNote} error=${error} />`;
  if (!data) return html`<p class="muted">loading report…</p>`;
  const r = data.report;
  return html`<div class="report" data-testid="replay-report" data-id=${data.id}>
    <p class=${data.passed ? 'ok-text' : 'error'}><b>${data.passed ? 'No difference beyond noise.' : `${r.diffs} of ${r.compared} compared requests differ (${r.diffPercent}%)${r.failed ? `, ${r.failed} failed` : ''}.`}</b></p>
    <p class="small">→ <span class="mono">${data.to}</span>${data.against ? html` against <span class="mono">${data.against}</span>` : ''}${data.baseline ? html`, noise from <span class="mono">${data.baseline}</span>` : ''} ·
      sent ${data.sent}, answered ${data.ok}, failed ${data.failed} · ${fmt(data.durationMs / 1000, ' s', 1)}${data.rps ? ` · ${data.rps} req/s` : ''}
      ${data.skipped ? ` · skipped ${data.skipped.sideEffects} writes, ${data.skipped.filtered} filtered` : ''}</p>
    <p class="muted small mono">${(data.files || []).join(', ')}</p>
    ${r.endpoints.map((e) => html`<${Endpoint} e=${e} />`)}
  </div>`;
}

function Replays() {
  const { data, error, reload } = useLive(() => get('/api/v1/replays'));
  useEvery(5000, true, reload); // a `berth replay` run writes a file; the control plane's state does not change
  const [open, setOpen] = useState(undefined);
  const list = data?.replays;
  const shown = open ?? list?.[0]?.id;
  return html`<section class="card" data-testid="replays">
    <header class="card-head"><h2>Replay runs</h2><span class="muted small">each <span class="mono">berth replay</span> run inside the app's folder is kept in .berth/replays/ (the newest 50)</span></header>
    <${ErrorNote} error=${error} />
    ${list &&
    html`<table class="table"><thead><tr><th>Time</th><th>Target</th><th>Sent</th><th>Diffs</th><th>Failed</th><th>Endpoints</th><th>Verdict</th></tr></thead>
      <tbody>${list.map(
        (x) => html`<tr key=${x.id} data-testid="replay-row" data-id=${x.id} class=${x.id === shown ? 'selected' : ''} onClick=${() => setOpen(x.id)} style="cursor:pointer">
          <td class="small nowrap">${when(x.at)}</td><td class="mono small">${x.to}${x.against ? ` vs ${x.against}` : ''}</td><td>${x.sent}</td>
          <td class=${x.diff ? 'error' : ''}>${x.diff} (${x.diffPercent}%)</td><td>${x.failed}</td><td>${x.endpoints}</td>
          <td><span class=${`pill ${x.passed ? 'ok' : 'bad'}`}>${x.passed ? 'pass' : 'fail'}</span></td></tr>`,
      )}
      ${list.length === 0 && html`<tr><td colspan="7" class="muted">No replay runs yet: <span class="mono">berth replay FILE.har --to SERVICE</span> in the app's folder.</td></tr>`}
      </tbody></table>`}
    ${shown && html`<${ReplayReport} id=${shown} />`}
  </section>`;
}

function Shadow() {
  const { data, error, reload } = useLive(() => get('/api/v1/dashboard/shadow'));
  useEvery(5000, true, reload); // the proxies' counters grow without a state change
  if (!data) return html`<section class="card"><${ErrorNote} error=${error} /></section>`;
  return html`<section class="card" data-testid="shadow">
    <header class="card-head"><h2>Shadow traffic</h2><span class="muted small">mirrored answers compared with the primary's by the proxies that mirror (${data.proxies} read${data.unreachable ? `, ${data.unreachable} not answering` : ''})</span>
      <span class="actions"><button class="btn" onClick=${reload}>Refresh</button></span></header>
    <${ErrorNote} error=${error} />
    ${data.counts.length === 0
      ? html`<p class="muted small">No mirrored traffic: a route's <span class="mono">mirror</span> (or a release's setMirrorRoute) sends a copy of each request and compares the answers.</p>`
      : html`<table class="table"><thead><tr><th>Service</th><th>Route</th><th>Same</th><th>Different</th><th>Error</th><th>Diff %</th></tr></thead>
        <tbody>${data.counts.map((c) => {
          const n = c.same + c.diff + c.error;
          return html`<tr data-testid="shadow-row" data-service=${c.service}><td>${c.service}</td><td class="mono small">${c.route}</td><td>${c.same}</td><td class=${c.diff ? 'error' : ''}>${c.diff}</td><td>${c.error}</td><td>${n ? fmt((c.diff / n) * 100, ' %') : '–'}</td></tr>`;
        })}</tbody></table>`}
    ${data.recent.length > 0 &&
    html`<table class="table"><thead><tr><th>Time</th><th>Request</th><th>Service</th><th>Differing fields (expected → actual)</th></tr></thead>
      <tbody>${data.recent.slice(0, 20).map(
        (d) => html`<tr><td class="small nowrap">${time(d.at)}</td><td class="mono small">${d.method} ${d.path}</td><td>${d.service}</td>
          <td class="small">${d.fields.slice(0, 5).map((f) => html`<div><span class="mono">${f.path}</span>: <span class="mono expected">${f.expected}</span> → <span class="mono actual">${f.actual}</span></div>`)}</td></tr>`,
      )}</tbody></table>`}
  </section>`;
}

function Gates() {
  const { data, error } = useLive(() => get('/api/v1/dashboard/replay-gates'));
  if (!data) return html`<${ErrorNote} error=${error} />`;
  return html`<section class="card" data-testid="replay-gates">
    <header class="card-head"><h2>Replay gates</h2><span class="muted small">the <span class="mono">replay</span> analysis of each service's current release: the canary gets the recorded traffic first</span></header>
    ${data.gates.length === 0
      ? html`<p class="muted small">No release with a replay analysis (see docs/replay.md, "Replay as a release gate").</p>`
      : html`<table class="table"><thead><tr><th>Service</th><th>Release</th><th>Metric</th><th>Measurement</th><th>Requests</th><th>Diff %</th><th>Top fields</th></tr></thead>
        <tbody>${data.gates.flatMap((g) =>
          g.measurements.map((m) => {
            const v = m.value && typeof m.value === 'object' ? m.value : undefined;
            return html`<tr data-testid="gate-row" data-service=${g.service}>
              <td>${g.service}</td><td class="small">${g.phase ?? '–'} <span class="mono muted">${(g.canaryRevision || '').slice(0, 12)}</span></td><td class="mono small">${g.metric}</td>
              <td><span class=${`pill ${m.phase === 'Successful' ? 'ok' : m.phase === 'Failed' ? 'bad' : 'warn'}`}>${m.phase}</span>${m.message ? html`<div class="muted small">${m.message}</div>` : ''}</td>
              <td>${v ? v.requests : '–'}</td><td>${v ? `${v.diffPercent} (max ${v.maxDiffPercent})` : '–'}</td>
              <td class="small">${v ? v.endpoints.filter((e) => e.diffs).map((e) => html`<div><span class="mono">${e.endpoint}</span>: ${e.fields.slice(0, 3).map((f) => `${f.path} (${f.count})`).join(', ')}</div>`) : ''}</td></tr>`;
          }),
        )}</tbody></table>`}
  </section>`;
}

export function RecordingsView() {
  return html`<div>
    <${Recordings} />
    <${Replays} />
    <${Shadow} />
    <${Gates} />
  </div>`;
}
