// GitOps: each source as `berth gitops status` shows it (sync and health, the commit running and the
// branch head, the last sync, the last error with its file:line:col problems), its drift with the
// field diff, its sync history (`berth gitops history`) and the policy report of the commit running
// (`berth policy report`). Sync behind a confirm dialog, as `berth gitops sync`.
import { html } from '../html.js';
import { get, post, useLive } from '../api.js';
import { ago, ConfirmButton, ErrorNote, time } from '../ui.js';

async function load() {
  const sources = await get('/api/v1/gitops');
  const at = (s, what) => `/api/v1/gitops/${encodeURIComponent(s.name)}/${what}`;
  return Promise.all(
    sources.map(async (s) => {
      const [history, policy] = await Promise.all([get(at(s, 'history')).then((h) => h.history, () => []), get(at(s, 'policy')).catch((err) => ({ report: null, errors: [err.message] }))]);
      return { ...s, history, policy };
    }),
  );
}

const syncClass = (s) => ({ Synced: 'ok', OutOfSync: 'warn' })[s] || 'idle';
const healthClass = (h) => ({ Healthy: 'ok', Progressing: 'warn', Suspended: 'idle', Missing: 'bad', Degraded: 'bad' })[h] || 'idle';
const resultClass = (r) => ({ Synced: 'ok', Healed: 'warn', Failed: 'bad', pass: 'ok', warn: 'warn', fail: 'bad', skip: 'idle' })[r] || 'idle';
const short = (sha) => (sha ? sha.slice(0, 7) : '–');
const show = (v) => (v === undefined ? '(unset)' : JSON.stringify(v));

function Drift({ drift }) {
  if (drift.length === 0) return html`<p class="small pad muted" data-testid="drift">No drift: what runs is what git says.</p>`;
  return html`<div class="pad" data-testid="drift">
    <b class="small warn-text">Drift (${drift.length})</b>
    <table class="table small">
      <thead><tr><th>Service</th><th>Field</th><th>Git</th><th>Running</th></tr></thead>
      <tbody>${drift.map(
        (d) => html`<tr data-drift=${`${d.service}:${d.field}`}>
          <td>${d.service}</td><td>${d.field}</td>
          <td class="mono">${d.field === 'revision' ? short(String(d.git)) : String(d.git)}</td>
          <td class="mono">${d.field === 'revision' ? short(String(d.live)) : String(d.live)}</td>
        </tr>
        ${d.fields && d.fields.length > 0 && html`<tr><td></td><td colspan="3"><pre class="diff">${d.fields.map((f) => html`<div class="del">- ${f.path}: ${show(f.git)}</div><div class="add">+ ${f.path}: ${show(f.live)}</div>`)}</pre></td></tr>`}`,
      )}</tbody>
    </table>
  </div>`;
}

function Policy({ policy }) {
  if (!policy.report) return html`<p class="small pad muted" data-testid="policy">Policy report: ${policy.errors.join('; ')}</p>`;
  const { report } = policy;
  if (report.policies.length === 0) return html`<p class="small pad muted" data-testid="policy">No policies in this commit.</p>`;
  const rows = report.services.flatMap((s) => s.results.map((r) => ({ service: s.service, ...r })));
  return html`<details class="pad small" data-testid="policy" open>
    <summary>Policy report: ${['pass', 'fail', 'warn', 'skip'].map((k) => html`<span class=${`pill ${report.summary[k] ? resultClass(k) : 'idle'}`} data-testid=${`policy-${k}`}>${report.summary[k]} ${k}</span> `)}</summary>
    <table class="table">
      <thead><tr><th>Service</th><th>Policy / rule</th><th>Result</th><th>Message</th></tr></thead>
      <tbody>${rows.map(
        (r) => html`<tr><td>${r.service}</td><td class="mono">${r.policy}/${r.rule}</td><td><span class=${`pill ${resultClass(r.result)}`}>${r.result}</span></td>
          <td>${r.result === 'fail' || r.result === 'warn' ? `${r.file ?? ''}:${r.line ?? ''}:${r.col ?? ''}: ${r.message ?? ''}${r.detail ? ` (${r.detail})` : ''}` : ''}</td></tr>`,
      )}</tbody>
    </table>
  </details>`;
}

function History({ history }) {
  const rows = history.slice(-10).reverse();
  return html`<details class="pad small" open><summary>History (${history.length} syncs)</summary>
    <table class="table" data-testid="gitops-history">
      <thead><tr><th>At</th><th>Commit</th><th>Result</th><th>Trigger</th><th>Detail</th></tr></thead>
      <tbody>${rows.map(
        (h) => html`<tr><td class="nowrap">${time(h.at)}</td><td class="mono">${short(h.sha)} <span class="muted">${h.message}</span></td>
          <td><span class=${`pill ${resultClass(h.result)}`}>${h.result}</span></td><td>${h.trigger}</td>
          <td class="mono">${h.detail.map((d) => html`<div>${d}</div>`)}</td></tr>`,
      )}</tbody>
    </table>
  </details>`;
}

function Source({ s, reload }) {
  return html`<section class="card" data-testid=${`gitops-${s.name}`}>
    <header class="card-head">
      <h2>${s.name}</h2>
      <span class=${`pill ${syncClass(s.sync)}`} data-testid="sync">${s.sync}</span>
      <span class=${`pill ${healthClass(s.health)}`} data-testid="health">${s.health}</span>
      ${s.suspended && html`<span class="pill idle">suspended</span>`}
      <span class="muted small">${s.repo} · ${s.branch}${s.path ? ` · ${s.path}` : ''}${s.env ? ` · env ${s.env}` : ''} · every ${s.interval}${s.autoSync ? ' · auto-sync' : ''}${s.selfHeal ? ' · self-heal' : ''}${s.prune ? ' · prune' : ''}</span>
      <span class="actions">
        <${ConfirmButton} label="Sync" testid=${`sync-${s.name}`} title=${`Sync ${s.name}?`}
          body=${`As \`berth gitops sync ${s.name}\`: fetches ${s.branch} and applies its newest commit now, whatever auto-sync says (a refused commit is checked again).`}
          action=${async () => {
            const r = await post(`/api/v1/gitops/${encodeURIComponent(s.name)}/sync`);
            reload();
            if (!r.result.ok) throw new Error(`commit ${short(r.result.sha)} not applied: ${r.result.errors.join('; ')}`);
          }} />
      </span>
    </header>
    <table class="table kv small">
      <tr><th>revision</th><td><span class="mono" data-testid="revision">${short(s.revision)}</span> ${s.message ?? ''}</td></tr>
      <tr><th>last sync</th><td data-testid="applied-at">${s.appliedAt ? `${time(s.appliedAt)} (${ago(s.appliedAt)} ago)` : 'never'}</td></tr>
      <tr><th>branch head</th><td><span class="mono">${short(s.head)}</span> ${s.headMessage ?? ''}</td></tr>
      <tr><th>services</th><td>${s.services.map((x) => html`<span class=${`pill ${healthClass(x.health)}`}>${x.name} ${x.health}</span> `)}</td></tr>
    </table>
    ${s.lastError && html`<div class="pad small error" data-testid="last-error">${s.lastError}${s.errors.map((e) => html`<div class="mono">${e}</div>`)}</div>`}
    <${Drift} drift=${s.drift} />
    <${Policy} policy=${s.policy} />
    <${History} history=${s.history} />
  </section>`;
}

export function GitOps() {
  const { data, error, reload } = useLive(load);
  if (!data) return html`<${ErrorNote} error=${error} />${!error && html`<p class="muted">loading…</p>`}`;
  return html`<div>
    <${ErrorNote} error=${error} />
    ${data.length === 0 && html`<p class="muted" data-testid="empty">No GitOps sources: add one with <code>berth gitops add NAME --repo URL</code> or <code>gitops:</code> in the spec.</p>`}
    ${data.map((s) => html`<${Source} key=${s.name} s=${s} reload=${reload} />`)}
  </div>`;
}
