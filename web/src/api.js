// The dashboard's client of the control plane's API. Same origin: the login cookie goes with every
// request; actions add the x-berth-dashboard header the control plane asks of cookie-authenticated POSTs.
import { useEffect, useRef, useState } from 'preact/hooks';

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function answer(res) {
  const text = await res.text();
  let body;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = text;
  }
  if (!res.ok) throw new ApiError(res.status, (body && body.error) || `${res.status} ${res.statusText}`);
  return body;
}

export const get = (path) => fetch(path, { credentials: 'same-origin' }).then(answer);

export const post = (path, body = {}) =>
  fetch(path, { method: 'POST', credentials: 'same-origin', headers: { 'content-type': 'application/json', 'x-berth-dashboard': '1' }, body: JSON.stringify(body) }).then(answer);

/** NDJSON (the log API) as an array of records. */
export async function getNdjson(path) {
  const res = await fetch(path, { credentials: 'same-origin' });
  if (!res.ok) return answer(res);
  const text = await res.text();
  return text.split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

// One event stream for the whole page: `change` (the control plane's state changed, at most once a
// second) and `metrics` (the points of each collection). Views subscribe to what they show.
const listeners = { change: new Set(), metrics: new Set(), status: new Set() };
let source;
export let streamState = 'connecting';

function connect() {
  source = new EventSource('/api/v1/dashboard/stream');
  source.addEventListener('open', () => setState('live'));
  source.addEventListener('error', () => setState(source.readyState === EventSource.CLOSED ? 'closed' : 'reconnecting'));
  source.addEventListener('change', (e) => listeners.change.forEach((fn) => fn(JSON.parse(e.data))));
  source.addEventListener('metrics', (e) => listeners.metrics.forEach((fn) => fn(JSON.parse(e.data))));
}

function setState(s) {
  streamState = s;
  listeners.status.forEach((fn) => fn(s));
}

export function subscribe(kind, fn) {
  if (!source) connect();
  listeners[kind].add(fn);
  return () => listeners[kind].delete(fn);
}

// The first view's data, asked for by main.js while the page is still being drawn rather than after
// the first paint (when effects run): the first load's requests overlap the script's own work.
const primed = new Map();
export function prime(load) {
  if (load) primed.set(load, load());
}

/**
 * Data that follows the control plane: fetched on mount and again after each `change` event (never
 * more than once a second, never two fetches at once). Returns { data, error, reload }.
 */
export function useLive(load, deps = []) {
  const [state, setStateValue] = useState({ data: undefined, error: undefined });
  const busy = useRef(false);
  const again = useRef(false);
  const last = useRef(0);
  const timer = useRef(undefined);
  const alive = useRef(true);
  const run = useRef(undefined);
  run.current = async () => {
    if (busy.current) {
      again.current = true;
      return;
    }
    busy.current = true;
    last.current = Date.now();
    try {
      const early = primed.get(load);
      primed.delete(load);
      const data = await (early ?? load());
      if (alive.current) setStateValue({ data, error: undefined });
    } catch (error) {
      if (alive.current) setStateValue((s) => ({ data: s.data, error }));
    } finally {
      busy.current = false;
      if (again.current) {
        again.current = false;
        schedule();
      }
    }
  };
  const schedule = () => {
    if (timer.current) return;
    const wait = Math.max(0, last.current + 1000 - Date.now());
    timer.current = setTimeout(() => {
      timer.current = undefined;
      run.current();
    }, wait);
  };
  useEffect(() => {
    alive.current = true;
    run.current();
    const off = subscribe('change', schedule);
    return () => {
      alive.current = false;
      off();
      clearTimeout(timer.current);
      timer.current = undefined;
    };
  }, deps);
  return { ...state, reload: () => run.current() };
}
