// Small pieces the views share: a confirm dialog for actions, formatting, health colours.
import { useState } from 'preact/hooks';
import { html } from './html.js';

/** A button that asks first (a modal with the action's consequence), then runs `action`; shows its error. */
export function ConfirmButton({ label, title, body, confirmLabel, action, danger, testid, children }) {
  const [open, setOpen] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(undefined);
  const [value, setValue] = useState(undefined);
  const go = async () => {
    setBusy(true);
    setError(undefined);
    try {
      await action(value);
      setOpen(false);
    } catch (err) {
      setError(err.message);
    } finally {
      setBusy(false);
    }
  };
  return html`<span>
    <button class=${danger ? 'btn danger' : 'btn'} data-testid=${testid} onClick=${() => setOpen(true)}>${label}</button>
    ${open &&
    html`<div class="modal-back" onClick=${(e) => e.target === e.currentTarget && !busy && setOpen(false)}>
      <div class="modal" role="dialog" aria-modal="true" aria-label=${title}>
        <h3>${title}</h3>
        <p>${body}</p>
        ${children && children(setValue)}
        ${error && html`<p class="error">${error}</p>`}
        <div class="modal-actions">
          <button class="btn" onClick=${() => setOpen(false)} disabled=${busy}>Cancel</button>
          <button class=${danger ? 'btn danger' : 'btn primary'} data-testid="confirm" onClick=${go} disabled=${busy}>${busy ? '…' : confirmLabel || label}</button>
        </div>
      </div>
    </div>`}
  </span>`;
}

export const fmt = (v, unit = '', digits = 1) => (v === null || v === undefined || Number.isNaN(v) ? '–' : `${Number(v).toFixed(digits).replace(/\.0+$/, '')}${unit}`);

/** `3m`, `2h`: how long ago an ISO time was. */
export function ago(iso) {
  if (!iso) return '–';
  const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (s < 60) return `${Math.floor(s)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

// One formatter for the page: toLocaleTimeString(…, options) builds a new one per call (~0.3 ms each,
// which a table of 50 instances with their last events paid a few hundred times per draw).
const timeFormat = new Intl.DateTimeFormat([], { hour: 'numeric', minute: 'numeric', second: 'numeric', hourCycle: 'h23' });
export const time = (iso) => (iso ? timeFormat.format(new Date(iso)) : '–');

/** ok / warn / bad / idle for a service: readiness against its count, then its error rate. */
export function health(svc, point) {
  if (svc.stopped || svc.replicas === 0) return 'idle';
  if (svc.ready === 0) return 'bad';
  const err = point ? point.errorPct : 0;
  if (err >= 5) return 'bad';
  if (svc.ready < svc.replicas || err >= 1) return 'warn';
  return 'ok';
}

export const statusClass = (s) => ({ running: 'ok', ready: 'ok', starting: 'warn', pending: 'warn', stopping: 'warn', backoff: 'bad', failed: 'bad', crashed: 'bad', stopped: 'idle' })[s] || 'warn';

export function ErrorNote({ error }) {
  return error ? html`<p class="error">${error.message}</p>` : null;
}
