// `berth events`: what the platform did and why (Started, Ready, Unhealthy, Killing, BackOff…).
import type { StoredEvent } from '../../control/index.js';
import { subscribeSse } from '../../lib/http.js';
import { requireControl, resolveContext, sleep } from '../context.js';
import { errors } from '../errors.js';
import { dim, red, table, yellow } from '../output.js';

export interface EventsOptions {
  file?: string;
  follow?: boolean;
  json?: boolean;
  /** Only events of these services (a service's instances and variants included). */
  service?: string[];
  /** Only events of these types (Normal, Warning) or reasons (Killing, BackOff…), case-insensitive. */
  type?: string[];
  /** Only events at or after this time: a duration back from now (90s, 10m, 2h, 1d) or a date (RFC 3339). */
  since?: string;
}

/** `--since`: a duration back from now or an absolute time, as `docker events --since` takes; undefined when unreadable. */
export function sinceTime(text: string, now = Date.now()): number | undefined {
  const d = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(text.trim());
  if (d) return now - Number(d[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[d[2] as 'ms' | 's' | 'm' | 'h' | 'd'];
  if (!/^\d{4}-\d{2}-\d{2}/.test(text.trim())) return undefined;
  const t = Date.parse(text);
  return Number.isNaN(t) ? undefined : t;
}

/** The filter the options make (every given option must hold). */
export function eventFilter(o: Pick<EventsOptions, 'service' | 'type' | 'since'>, now = Date.now()): (e: StoredEvent) => boolean {
  const services = o.service?.length ? o.service : undefined;
  const types = o.type?.length ? new Set(o.type.map((t) => t.toLowerCase())) : undefined;
  const since = o.since === undefined ? undefined : sinceTime(o.since, now);
  if (o.since !== undefined && since === undefined) throw errors.usage(`--since ${JSON.stringify(o.since)} is neither a duration nor a date`, 'e.g. --since 10m, --since 2h, --since 2026-12-05T08:00:00Z');
  // An instance id is `<deployment>-<n>` and a variant's deployment `<service>.<variant>`: both belong to the service.
  const ofService = (name: string | undefined, s: string): boolean => name !== undefined && (name === s || name.startsWith(`${s}.`) || name.startsWith(`${s}-`));
  return (e) =>
    (!services || services.some((s) => ofService(e.service, s) || ofService(e.instance, s))) &&
    (!types || types.has(e.type.toLowerCase()) || types.has(e.reason.toLowerCase())) &&
    (since === undefined || Date.parse(e.at) >= since);
}

export async function events(o: EventsOptions): Promise<void> {
  const ctx = resolveContext(o.file, false);
  const keep = eventFilter(o);
  const c = requireControl(ctx);
  let after = 0;
  const fetchNew = async () => {
    const all: StoredEvent[] = [];
    for (;;) {
      const batch = await c.get<StoredEvent[]>(`/api/v1/events?after=${after}&limit=5000`);
      all.push(...batch.filter(keep));
      if (batch.length) after = batch[batch.length - 1].seq;
      if (batch.length < 5000) return all;
    }
  };
  const line = (e: StoredEvent) =>
    `${dim(e.at.replace('T', ' ').slice(0, 23))}  ${(e.type === 'Warning' ? yellow(e.reason) : e.reason).padEnd(14)} ${e.instance ?? e.service ?? e.node ?? '-'}  ${e.message}`;
  const first = await fetchNew();
  if (!o.follow) {
    if (o.json) process.stdout.write(JSON.stringify(first) + '\n');
    else if (first.length === 0) process.stdout.write('no events\n');
    else
      process.stdout.write(
        table(
          ['TIME', 'TYPE', 'REASON', 'OBJECT', 'MESSAGE'],
          first.map((e) => [e.at.replace('T', ' ').slice(0, 23), e.type === 'Warning' ? red(e.type) : e.type, e.reason, e.instance ?? e.service ?? e.node ?? '-', e.message]),
        ) + '\n',
      );
    return;
  }
  const print = (list: StoredEvent[]) => {
    for (const e of list) process.stdout.write((o.json ? JSON.stringify(e) : line(e)) + '\n');
  };
  print(first);
  let busy = false;
  const poll = async () => {
    if (busy) return;
    busy = true;
    try {
      print(await fetchNew());
    } catch {
      // a failed poll is retried at the next tick; the control plane may be restarting
    } finally {
      busy = false;
    }
  };
  try {
    await subscribeSse(c.opts, '/api/v1/watch', () => void poll(), () => {});
  } catch {
    // without the watch stream the loop below still polls every second
  }
  for (;;) {
    await sleep(1000);
    await poll();
  }
}
