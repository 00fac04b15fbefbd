// Services and instances: `berth ps` with variants, revisions, nodes, restarts, readiness and each
// instance's last events; restart (rolling, as `berth restart`), scale and stop/start per service,
// each behind a confirm dialog and calling the same API routes as the CLI.
import { html } from '../html.js';
import { get, post, useLive } from '../api.js';
import { ago, ConfirmButton, ErrorNote, statusClass, time } from '../ui.js';

/** The view's data (also primed by main.js when the page opens on this view). */
export async function load() {
  const [status, rows, events] = await Promise.all([get('/api/v1/status'), get('/api/v1/instances'), get('/api/v1/events?tail=2000&limit=2000')]);
  return { status, rows, events };
}

const serviceOf = (deployment) => deployment.split('.')[0];

function Actions({ svc, deployments, reload }) {
  const stopped = deployments.every((d) => d.stopped);
  const autoscaled = deployments.some((d) => d.autoscale);
  const replicas = deployments.find((d) => d.name === svc)?.replicas ?? 0;
  const run = (fn) => async (v) => {
    await fn(v);
    reload();
  };
  return html`<span class="actions">
    <${ConfirmButton} label="Restart" testid=${`restart-${svc}`} title=${`Restart ${svc}?`}
      body=${`A rolling restart, as \`berth restart ${svc}\`: every instance is replaced by a new one (new revision, same spec); each old one stops once its replacement is ready.`}
      action=${run(() => post('/api/v1/restart', { service: svc }))} />
    ${!autoscaled &&
    html`<${ConfirmButton} label="Scale" testid=${`scale-${svc}`} title=${`Scale ${svc}`} confirmLabel="Scale"
      body=${`Sets the number of instances, as \`berth scale ${svc}=N\` (the spec's count again at the next change of replicas in the spec).`}
      action=${run((v) => post('/api/v1/scale', { service: svc, replicas: Number(v ?? replicas) }))}>
      ${(set) => html`<label>Instances <input type="number" min="0" max="500" value=${replicas} data-testid="scale-input" onInput=${(e) => set(e.target.value)} /></label>`}
    </${ConfirmButton}>`}
    ${stopped
      ? html`<${ConfirmButton} label="Start" testid=${`start-${svc}`} title=${`Start ${svc}?`} body=${`As \`berth start ${svc}\`: its instances start again at the count they had.`} action=${run(() => post('/api/v1/start', { services: [svc] }))} />`
      : html`<${ConfirmButton} label="Stop" danger testid=${`stop-${svc}`} title=${`Stop ${svc}?`} body=${`As \`berth stop ${svc}\`: every instance stops and none runs until Start, across \`berth up\` and restarts.`} action=${run(() => post('/api/v1/stop', { services: [svc] }))} />`}
  </span>`;
}

export function Services() {
  const { data, error, reload } = useLive(load);
  if (!data) return html`<${ErrorNote} error=${error} />${!error && html`<p class="muted">loading…</p>`}`;
  const { status, rows, events } = data;
  const names = [...new Set(status.services.map((s) => serviceOf(s.name)))];
  const lastEvents = (id) => events.filter((e) => e.instance === id).slice(-3).reverse();
  return html`<div>
    <${ErrorNote} error=${error} />
    ${names.length === 0 && html`<p class="muted">No services: run <code>berth up</code>.</p>`}
    ${names.map((svc) => {
      const deployments = status.services.filter((d) => serviceOf(d.name) === svc);
      const mine = rows.filter((r) => serviceOf(r.service) === svc);
      const ready = deployments.reduce((n, d) => n + d.ready, 0);
      const want = deployments.reduce((n, d) => n + d.replicas, 0);
      return html`<section class="card lazy" data-testid=${`service-${svc}`}>
        <header class="card-head">
          <h2>${svc}</h2>
          <span class=${`pill ${want === 0 ? 'idle' : ready === want ? 'ok' : ready === 0 ? 'bad' : 'warn'}`}>${deployments.some((d) => d.stopped) ? 'stopped' : `${ready}/${want} ready`}</span>
          ${deployments.map((d) => html`<span class="muted small">${d.name.includes('.') ? `variant ${d.name.split('.').slice(1).join('.')}` : 'default'}: rev ${d.revision.slice(0, 12)}${d.address ? ` · http://${d.address}/` : ''}${d.autoscale ? ` · autoscaled → ${d.autoscale.desired} (${d.autoscale.reason})` : ''}</span>`)}
          <${Actions} svc=${svc} deployments=${deployments} reload=${reload} />
        </header>
        <table class="table">
          <thead><tr><th>Instance</th><th>Variant</th><th>Revision</th><th>Node</th><th>Status</th><th>Ready</th><th>Restarts</th><th>PID</th><th>Age</th><th>Probes / last exit</th><th>Last events</th></tr></thead>
          <tbody>
            ${mine.map(
              (r) => html`<tr data-instance=${r.instance}>
                <td class="mono">${r.instance}</td>
                <td>${r.variant}</td>
                <td class="mono">${r.revision.slice(0, 12)}</td>
                <td>${r.node}</td>
                <td><span class=${`pill ${statusClass(r.status)}`} data-testid="status">${r.status}</span></td>
                <td>${r.ready ? 'yes' : 'no'}</td>
                <td data-testid="restarts">${r.restarts}</td>
                <td class="mono" data-testid="pid">${r.pid ?? '–'}</td>
                <td>${ago(r.startedAt)}</td>
                <td class="small">${r.ready ? 'readiness passing' : r.status === 'running' ? 'readiness failing' : ''}${r.message ? html`<div class="muted">${r.message}</div>` : ''}${r.lastExit ? html`<div class="muted">exit ${r.lastExit.code ?? r.lastExit.signal} (${r.lastExit.reason}) ${time(r.lastExit.at)}</div>` : ''}${r.sidecars.length ? html`<div class="muted">sidecars: ${r.sidecars.map((s) => `${s.name} ${s.state}${s.restarts ? ` ↻${s.restarts}` : ''}`).join(', ')}</div>` : ''}</td>
                <td class="small">${lastEvents(r.instance).map((e) => html`<div class=${e.type === 'Warning' ? 'warn-text' : ''}>${time(e.at)} ${e.reason}: ${e.message}</div>`)}</td>
              </tr>`,
            )}
            ${mine.length === 0 && html`<tr><td colspan="11" class="muted">no instances</td></tr>`}
          </tbody>
        </table>
      </section>`;
    })}
  </div>`;
}
