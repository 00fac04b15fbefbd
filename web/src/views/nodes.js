// Nodes: the simulated nodes with status, instances and resource use; cordon, uncordon and drain
// (as `berth node …`), each behind a confirm dialog.
import { html } from '../html.js';
import { get, post, useLive } from '../api.js';
import { ConfirmButton, ErrorNote, fmt } from '../ui.js';

export function Nodes() {
  const { data, error, reload } = useLive(() => get('/api/v1/nodes'));
  if (!data) return html`<${ErrorNote} error=${error} />${!error && html`<p class="muted">loading…</p>`}`;
  const act = (name, verb) => async () => {
    await post(`/api/v1/nodes/${encodeURIComponent(name)}/${verb}`);
    reload();
  };
  return html`<div>
    <${ErrorNote} error=${error} />
    <table class="table"><thead><tr><th>Node</th><th>Status</th><th>Schedulable</th><th>Instances</th><th>CPU</th><th>Memory</th><th>Capacity</th><th>Labels</th><th>Agent</th><th></th></tr></thead>
    <tbody>${data.map(
      (n) => html`<tr data-node=${n.name}>
        <td>${n.name}</td>
        <td><span class=${`pill ${n.status === 'Ready' ? 'ok' : 'bad'}`}>${n.status}</span></td>
        <td data-testid="schedulable">${n.draining ? 'draining' : n.cordoned ? 'cordoned' : 'yes'}</td>
        <td>${n.instances}</td>
        <td>${n.usage ? fmt(n.usage.cpuMillis / 10, '%') : '–'}</td>
        <td>${n.usage ? fmt(n.usage.memoryMiB, ' MiB', 0) : '–'}</td>
        <td class="small">${n.capacity.cpuMillis ? `${n.capacity.cpuMillis}m CPU` : ''} ${n.capacity.memoryMiB ? `${n.capacity.memoryMiB} MiB` : ''}</td>
        <td class="small">${Object.entries(n.labels || {}).map(([k, v]) => `${k}=${v}`).join(', ')}</td>
        <td class="mono small">${n.agentPid ?? '–'}${n.lastHeartbeatAgoMs !== null ? html` <span class="muted">(${fmt(n.lastHeartbeatAgoMs / 1000, 's', 1)} ago)</span>` : ''}</td>
        <td class="actions">
          ${n.cordoned
            ? html`<${ConfirmButton} label="Uncordon" testid=${`uncordon-${n.name}`} title=${`Uncordon ${n.name}?`} body="New instances may be scheduled on it again (as: berth node uncordon)." action=${act(n.name, 'uncordon')} />`
            : html`<${ConfirmButton} label="Cordon" testid=${`cordon-${n.name}`} title=${`Cordon ${n.name}?`} body="No new instance is scheduled on it; its instances keep running (as: berth node cordon)." action=${act(n.name, 'cordon')} />`}
          ${!n.draining && html`<${ConfirmButton} label="Drain" danger testid=${`drain-${n.name}`} title=${`Drain ${n.name}?`} body="Cordons it and moves its instances away: replacements become ready elsewhere before the old ones stop (as: berth node drain)." action=${act(n.name, 'drain')} />`}
        </td>
      </tr>`,
    )}</tbody></table>
  </div>`;
}
