// Events: what the platform did and why (as `berth events`), newest first, filtered by text and type.
import { useState } from 'preact/hooks';
import { html } from '../html.js';
import { get, useLive } from '../api.js';
import { ErrorNote, time } from '../ui.js';

export function Events() {
  const { data, error } = useLive(() => get('/api/v1/events?tail=1000&limit=1000'));
  const [text, setText] = useState('');
  const [type, setType] = useState('');
  if (!data) return html`<${ErrorNote} error=${error} />${!error && html`<p class="muted">loading…</p>`}`;
  const q = text.toLowerCase();
  const shown = data
    .filter((e) => (!type || e.type === type) && (!q || `${e.reason} ${e.message} ${e.service ?? ''} ${e.instance ?? ''} ${e.node ?? ''}`.toLowerCase().includes(q)))
    .slice(-1000)
    .reverse();
  return html`<div>
    <div class="filters">
      <input type="search" placeholder="filter: reason, message, service, instance…" value=${text} onInput=${(e) => setText(e.target.value)} />
      <select value=${type} onChange=${(e) => setType(e.target.value)}><option value="">all types</option><option>Normal</option><option>Warning</option></select>
    </div>
    <${ErrorNote} error=${error} />
    <table class="table"><thead><tr><th>Time</th><th>Type</th><th>Reason</th><th>Object</th><th>Message</th></tr></thead>
    <tbody>${shown.map(
      (e) => html`<tr key=${e.seq} class=${e.type === 'Warning' ? 'warn-row' : ''}>
        <td class="mono small nowrap" title=${e.at}>${e.at.slice(0, 10)} ${time(e.at)}</td>
        <td>${e.type}</td><td>${e.reason}</td>
        <td class="small">${e.instance || e.service || (e.node ? `node ${e.node}` : '')}</td>
        <td>${e.message}</td>
      </tr>`,
    )}</tbody></table>
  </div>`;
}
