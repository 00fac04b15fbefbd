// Logs: search the embedded log store (full text, level, service, instance, time range) and follow new
// records live (one read of what is newer than the last record, once a second at most). A record's
// fields open below it.
import { useEffect, useRef, useState } from 'preact/hooks';
import { html } from '../html.js';
import { get, getNdjson } from '../api.js';
import { ErrorNote } from '../ui.js';
import { navigate } from '../main.js';

const LEVELS = ['', 'trace', 'debug', 'info', 'warn', 'error', 'fatal'];
const KEEP = 2000;

function query(f, extra = {}) {
  const p = new URLSearchParams();
  if (f.grep) p.set('grep', f.grep);
  if (f.level) p.set('level', f.level);
  if (f.service) p.set('service', f.service);
  if (f.instance) p.set('instance', f.instance);
  if (f.since) p.set('since', new Date(f.since).toISOString());
  if (f.until) p.set('until', new Date(f.until).toISOString());
  for (const [k, v] of Object.entries(extra)) p.set(k, String(v));
  return `/api/v1/logs?${p}`;
}

const ACCESS_LOG_TRACE = /"trace":"([0-9a-f]{32})"/;

/** The trace id a record carries: a proxy's access-log line (JSON with `trace`), or a parsed field of an app's JSON line. */
function traceOf(r) {
  const t = r.fields && (r.fields.trace || r.fields.traceId || r.fields.trace_id);
  if (typeof t === 'string' && /^[0-9a-f]{32}$/.test(t)) return t;
  const m = ACCESS_LOG_TRACE.exec(r.message || '');
  return m ? m[1] : undefined;
}

function Record({ r }) {
  const [open, setOpen] = useState(false);
  return html`<tr class=${`log ${r.level || ''}`} onClick=${() => setOpen(!open)} data-testid="log-row">
      <td class="mono small nowrap">${r.time.slice(11, 23)}</td>
      <td class="small">${r.service}</td>
      <td class="mono small">${r.instance}</td>
      <td class=${`lvl ${r.level || ''}`}>${r.level || ''}</td>
      <td class="mono msg">${r.message}${traceOf(r) && html` <a href=${`/traces?trace=${traceOf(r)}`} class="small" data-testid="log-trace" onClick=${(e) => {
        e.preventDefault();
        e.stopPropagation();
        navigate('traces', `?trace=${traceOf(r)}`);
      }}>trace</a>`}</td>
    </tr>
    ${open &&
    html`<tr class="fields"><td colspan="5"><pre>${JSON.stringify({ ...r, message: undefined }, null, 2)}</pre></td></tr>`}`;
}

export function Logs() {
  const [form, setForm] = useState({ grep: '', level: '', service: '', instance: '', since: '', until: '' });
  const [applied, setApplied] = useState(form);
  const [records, setRecords] = useState(undefined);
  const [error, setError] = useState(undefined);
  const [follow, setFollow] = useState(true);
  const [services, setServices] = useState([]);
  const lastSeq = useRef(0);
  const box = useRef(null);
  const stuck = useRef(true);
  // Following: stay at the newest line unless the reader scrolled up.
  useEffect(() => {
    const el = box.current;
    if (el && follow && stuck.current) el.scrollTop = el.scrollHeight;
  }, [records]);
  useEffect(() => {
    get('/api/v1/status').then((s) => setServices([...new Set(s.services.map((d) => d.name.split('.')[0]))]), () => {});
  }, []);
  useEffect(() => {
    let alive = true;
    setError(undefined);
    getNdjson(query(applied, { limit: 500 })).then(
      (rs) => {
        if (!alive) return;
        lastSeq.current = rs.reduce((m, r) => Math.max(m, r.seq || 0), 0);
        setRecords(rs);
      },
      (err) => alive && setError(err),
    );
    return () => {
      alive = false;
    };
  }, [applied]);
  useEffect(() => {
    if (!follow || applied.until) return undefined;
    let busy = false;
    const t = setInterval(async () => {
      if (busy || records === undefined) return;
      busy = true;
      try {
        const rs = await getNdjson(query(applied, { after: lastSeq.current, limit: 1000 }));
        if (rs.length) {
          lastSeq.current = rs.reduce((m, r) => Math.max(m, r.seq || 0), lastSeq.current);
          setRecords((old) => [...(old || []), ...rs].slice(-KEEP));
        }
      } catch (err) {
        setError(err);
      } finally {
        busy = false;
      }
    }, 1000);
    return () => clearInterval(t);
  }, [follow, applied, records === undefined]);
  const set = (k) => (e) => setForm({ ...form, [k]: e.target.value });
  const submit = (e) => {
    e.preventDefault();
    setRecords(undefined);
    setApplied({ ...form });
  };
  return html`<div>
    <form class="filters" onSubmit=${submit} data-testid="log-search">
      <input type="search" placeholder="text…" value=${form.grep} onInput=${set('grep')} name="grep" />
      <select value=${form.level} onChange=${set('level')} name="level">${LEVELS.map((l) => html`<option value=${l}>${l ? `${l} and above` : 'any level'}</option>`)}</select>
      <select value=${form.service} onChange=${set('service')} name="service"><option value="">all services</option>${services.map((s) => html`<option value=${s}>${s}</option>`)}</select>
      <input placeholder="instance" value=${form.instance} onInput=${set('instance')} name="instance" />
      <label class="small">from <input type="datetime-local" step="1" value=${form.since} onInput=${set('since')} name="since" /></label>
      <label class="small">to <input type="datetime-local" step="1" value=${form.until} onInput=${set('until')} name="until" /></label>
      <button class="btn primary" type="submit">Search</button>
      <label class="small"><input type="checkbox" checked=${follow} onChange=${(e) => setFollow(e.target.checked)} /> follow</label>
    </form>
    <${ErrorNote} error=${error} />
    ${records === undefined && !error && html`<p class="muted">searching…</p>`}
    ${records &&
    html`<p class="muted small">${records.length} record${records.length === 1 ? '' : 's'}${records.length >= 500 ? ' (the newest 500 of the search, then what follows)' : ''}; click a line for its fields</p>
      <div class="log-box" ref=${box} onScroll=${(e) => (stuck.current = e.target.scrollHeight - e.target.scrollTop - e.target.clientHeight < 40)}><table class="table logs"><thead><tr><th>Time</th><th>Service</th><th>Instance</th><th>Level</th><th>Message</th></tr></thead>
      <tbody>${records.map((r) => html`<${Record} key=${r.seq} r=${r} />`)}</tbody></table></div>`}
  </div>`;
}
