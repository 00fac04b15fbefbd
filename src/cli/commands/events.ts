// `berth events`: what the platform did and why (Started, Ready, Unhealthy, Killing, BackOff…).
import type { StoredEvent } from '../../control/index.js';
import { subscribeSse } from '../../lib/http.js';
import { requireControl, resolveContext, sleep } from '../context.js';
import { dim, red, table, yellow } from '../output.js';

export async function events(o: { file?: string; follow?: boolean; json?: boolean }): Promise<void> {
  const ctx = resolveContext(o.file, false);
  const c = requireControl(ctx);
  let after = 0;
  const fetchNew = async () => {
    const all: StoredEvent[] = [];
    for (;;) {
      const batch = await c.get<StoredEvent[]>(`/api/v1/events?after=${after}&limit=5000`);
      all.push(...batch);
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
