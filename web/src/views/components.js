// Components: the building-block components (as `berth components ls`: name, type, where the data
// lives, scopes, the services using them) with their state in the sidecars serving them, and the
// subscriptions (declared, and those the apps answered at /dapr/subscribe). Read-only.
import { html } from '../html.js';
import { get, useLive } from '../api.js';
import { ErrorNote } from '../ui.js';

const pill = { ready: 'ok', opening: 'warn', unused: 'idle', unknown: 'idle', failed: 'bad' };
const label = { ready: 'ready', opening: 'opening', unused: 'not used yet', unknown: 'no sidecar answered', failed: 'failed' };

export function Components() {
  const { data, error } = useLive(() => get('/api/v1/dashboard/components'));
  if (!data) return html`<${ErrorNote} error=${error} />${!error && html`<p class="muted">loading…</p>`}`;
  const { components, subscriptions } = data;
  return html`<div>
    <${ErrorNote} error=${error} />
    <section class="card" data-testid="components">
      <header class="card-head"><h2>Components</h2><span class="muted small">a component opens in a sidecar at its first use; the state sums every sidecar serving it</span></header>
      <table class="table"><thead><tr><th>Name</th><th>Type</th><th>Backend</th><th>Scopes</th><th>Services</th><th>Status</th></tr></thead>
      <tbody>${components.map(
        (c) => html`<tr key=${c.name} data-testid="component" data-name=${c.name} data-type=${c.type}>
          <td><b>${c.name}</b>${c.default ? html` <span class="muted small">(default)</span>` : ''}</td>
          <td class="mono small">${c.type} <span class="muted">${c.version}</span></td>
          <td class="mono small">${c.backend}</td>
          <td class="small">${c.scopes.length ? c.scopes.join(', ') : html`<span class="muted">every app</span>`}</td>
          <td class="small">${c.services.join(', ') || '–'}</td>
          <td><span class=${`pill ${pill[c.status]}`} data-testid="component-status">${label[c.status]}</span>
            ${c.status !== 'unknown' && html`<span class="muted small"> ${c.instances.ready} ready${c.instances.failed ? `, ${c.instances.failed} failed` : ''}${c.instances.unused ? `, ${c.instances.unused} unused` : ''}</span>`}
            ${c.error && html`<div class="error small">${c.error}</div>`}</td>
        </tr>`,
      )}
      ${components.length === 0 && html`<tr><td colspan="6" class="muted">No components: no service uses the building-block API (set <span class="mono">dapr: { enabled: true }</span> or declare a component).</td></tr>`}
      </tbody></table>
    </section>
    <section class="card" data-testid="subscriptions">
      <header class="card-head"><h2>Subscriptions</h2></header>
      <table class="table"><thead><tr><th>Pub/sub</th><th>Topic</th><th>Routes</th><th>Dead letters</th><th>Kind</th><th>Services</th></tr></thead>
      <tbody>${subscriptions.map(
        (s) => html`<tr data-testid="subscription" data-topic=${s.topic}><td>${s.pubsubname}</td><td class="mono">${s.topic}</td><td class="mono small">${s.routes.join(', ')}</td>
          <td class="mono small">${s.deadLetterTopic || '–'}</td><td>${s.type}</td><td class="small">${s.services.join(', ') || '–'}</td></tr>`,
      )}
      ${subscriptions.length === 0 && html`<tr><td colspan="6" class="muted">No subscriptions.</td></tr>`}
      </tbody></table>
    </section>
  </div>`;
}
