// The foreground screen of `berth up` and `berth attach`, like docker compose's: the output of every
// instance interleaved, each line prefixed with its instance in a colour of its own (NO_COLOR and
// non-terminals get none), and the platform's events as `berth |` lines. Key `t` (or --table) shows
// the live status table instead; `t` again goes back to the logs. Ctrl-C stops the app (`up`) or only
// leaves the screen (`attach`).
import type { PsRow } from '../../control/index.js';
import { subscribeSse } from '../../lib/http.js';
import { controlClient, requireRunningApp, resolveContext, type Context, type ControlClient } from '../context.js';
import { bold, dim, green, red, statusColor, table, age, useColor, yellow } from '../output.js';
import { fromFiles, type LogRecord } from './logs.js';

interface ServiceStatus {
  name: string;
  replicas: number;
  ready: number;
  address: string | null;
}

interface Status {
  app?: string;
  env?: string;
  services: ServiceStatus[];
}

interface EventRow {
  seq: number;
  at: string;
  type: string;
  reason: string;
  message: string;
  instance?: string;
}

export interface ScreenOptions {
  /** Start with the status table instead of the logs. */
  table?: boolean;
  /** What Ctrl-C does: stop the app (`berth up`) or leave the screen (`berth attach`). */
  onInterrupt: 'stop' | 'detach';
  /** `berth up --watch`: closed before stopping. */
  loop?: { close(): void };
  /** `attach`: the last lines to show first (default: only lines from now on). */
  tail?: number;
  /** The app stops by this (down.ts's stopApp), imported by `up` only. */
  stop?: (ctx: Context) => Promise<unknown>;
}

/** Where the dev loop and the screen print their own lines: above the table, or between log lines. */
export interface Screen {
  say(line: string): void;
}

// Instance colours in compose's order; red is left for errors.
const PALETTE = ['36', '33', '32', '35', '34', '96', '93', '92', '95', '94'];

export function openScreen(ctx: Context, c: ControlClient, o: ScreenOptions): { screen: Screen; run: () => Promise<never> } {
  const out = process.stdout;
  const tty = !!out.isTTY;
  const color = useColor(out);
  let mode: 'logs' | 'table' = o.table && tty ? 'table' : 'logs';
  let drawnLines = 0;
  let stopping = false;
  let lastSeq = 0;
  const colours = new Map<string, string>();
  let width = 0;

  const write = (text: string) => {
    if (mode === 'table' && drawnLines > 0) {
      out.write(`\x1b[${drawnLines}A\x1b[J`);
      drawnLines = 0;
    }
    out.write(text);
  };
  const prefix = (who: string, code: string) => {
    width = Math.max(width, who.length);
    const p = `${who.padEnd(width)} |`;
    return color ? `\x1b[${code}m${p}\x1b[0m` : p;
  };
  const say = (line: string) => write(`${prefix('berth', '1')} ${line}\n`);

  const emitLog = (r: LogRecord) => {
    if (mode !== 'logs') return;
    if (!colours.has(r.instance)) colours.set(r.instance, PALETTE[colours.size % PALETTE.length]);
    write(`${prefix(r.instance, colours.get(r.instance)!)} ${r.stream === 'stderr' && color ? `\x1b[2m${r.message}\x1b[0m` : r.message}\n`);
  };

  const render = async () => {
    const [status, rows] = await Promise.all([c.get<Status>('/api/v1/status'), c.get<PsRow[]>('/api/v1/instances')]);
    const lines = [
      `${bold(status.app ?? 'app')}${status.env ? dim(` (${status.env})`) : ''}  ${status.services.map((s) => `${s.name} ${s.ready === s.replicas ? green(`${s.ready}/${s.replicas}`) : `${s.ready}/${s.replicas}`}`).join('  ')}`,
      ...status.services.filter((s) => s.address).map((s) => `  ${s.name}: http://${s.address}/`),
      `  dashboard: http://127.0.0.1:${c.info.port}/ ${dim('(`berth dashboard`)')}`,
      '',
      table(
        ['SERVICE', 'INSTANCE', 'STATUS', 'PID', 'RESTARTS', 'HOST', 'AGE'],
        rows.map((r) => [r.service, r.instance, statusColor(r.status), String(r.pid ?? '-'), String(r.restarts), r.host, age(r.startedAt)]),
      ),
      '',
      dim(`${o.onInterrupt === 'stop' ? 'Ctrl-C stops everything' : 'Ctrl-C leaves (the app keeps running)'}${process.stdin.isTTY ? ' · t: logs' : ''}`),
    ].join('\n');
    if (drawnLines > 0) out.write(`\x1b[${drawnLines}A\x1b[J`);
    out.write(lines + '\n');
    drawnLines = lines.split('\n').length;
  };

  /** The platform's events between log lines (sidecar starts left out: one per sidecar per instance is noise). */
  const streamEvents = async () => {
    for (;;) {
      const evs = await c.get<EventRow[]>(`/api/v1/events?after=${lastSeq}&limit=1000`);
      for (const e of evs) {
        lastSeq = e.seq;
        if (mode !== 'logs' || /^Started sidecar/.test(e.message)) continue;
        const text = `${e.reason}: ${e.message}`;
        say(e.type === 'Warning' ? (color ? yellow(text) : text) : color ? dim(text) : text);
      }
      if (evs.length < 1000) return;
    }
  };

  const refresh = async () => {
    if (stopping) return;
    try {
      if (mode === 'table') await render();
      else await streamEvents();
    } catch {
      if (!controlClient(ctx) && !stopping) {
        process.stderr.write('the control plane has stopped\n');
        process.exit(1);
      }
    }
  };

  const leave = async () => {
    if (stopping) return;
    stopping = true;
    o.loop?.close();
    if (process.stdin.isTTY) process.stdin.setRawMode(false);
    if (o.onInterrupt === 'detach') {
      out.write('\ndetached; the app keeps running (`berth attach` to come back, `berth down` to stop it)\n');
      process.exit(0);
    }
    out.write('\nstopping…\n');
    await o.stop?.(ctx);
    out.write('stopped\n');
    process.exit(0);
  };

  const run = async (): Promise<never> => {
    process.on('SIGINT', () => void leave());
    process.on('SIGTERM', () => void leave());
    // Keys: `t` toggles table and logs; in raw mode Ctrl-C arrives as a byte, not a signal.
    if (process.stdin.isTTY) {
      process.stdin.setRawMode(true);
      process.stdin.resume();
      process.stdin.on('data', (b: Buffer) => {
        const k = b.toString();
        if (k === '\x03' || k === '\x04') void leave();
        else if (k === 't' || k === 'T') {
          if (mode === 'logs') {
            mode = 'table';
            void refresh();
          } else {
            if (drawnLines > 0) out.write(`\x1b[${drawnLines}A\x1b[J`);
            drawnLines = 0;
            mode = 'logs';
          }
        }
      });
    }
    // Events from now on (what happened before is in `berth events`).
    for (let page = await c.get<EventRow[]>('/api/v1/events?after=0&limit=5000'); page.length > 0; page = await c.get<EventRow[]>(`/api/v1/events?after=${lastSeq}&limit=5000`)) lastSeq = page.at(-1)!.seq;
    const status = await c.get<Status>('/api/v1/status');
    if (mode === 'logs') {
      const addrs = status.services.filter((s) => s.address).map((s) => `${s.name} http://${s.address}/`);
      say(`${status.app ?? 'app'}${status.env ? ` (environment ${status.env})` : ''}${addrs.length ? `: ${addrs.join('  ')}` : ''}`);
      say(`dashboard http://127.0.0.1:${c.info.port}/ ${dim('(`berth dashboard` opens it logged in)', out)}`);
      say(dim(`${o.onInterrupt === 'stop' ? 'Ctrl-C stops everything' : 'Ctrl-C leaves (the app keeps running)'}${process.stdin.isTTY ? ' · t: status table' : ''}`, out));
    }
    // `up`: what the instances printed since this command began (those it started, from their first line).
    const since = o.tail === undefined ? new Date(Date.now() - process.uptime() * 1000).toISOString() : undefined;
    void fromFiles(ctx.layout.logs, { services: [], since, tail: o.tail, o: { follow: true, container: 'app' }, emit: emitLog }).catch((err: Error) => say(red(`log files: ${err.message}`)));
    await refresh();
    try {
      await subscribeSse(c.opts, '/api/v1/watch', () => void refresh(), () => {});
    } catch {
      // without the watch stream the interval below still refreshes
    }
    setInterval(() => void refresh(), tty ? 1000 : 2000);
    return new Promise<never>(() => {});
  };

  return { screen: { say }, run };
}

/** `berth attach`: the foreground screen of an app started with `berth up -d`; Ctrl-C leaves it running. */
export async function attach(o: { file?: string; table?: boolean; tail?: string }): Promise<void> {
  const { ctx, client: c } = requireRunningApp(resolveContext(o.file, false));
  const tail = o.tail === undefined ? 20 : Number(o.tail);
  if (!Number.isInteger(tail) || tail < 0) {
    const { errors } = await import('../errors.js');
    throw errors.usage(`--tail: expected a whole number, got "${o.tail}"`);
  }
  await openScreen(ctx, c, { table: o.table, onInterrupt: 'detach', tail }).run();
}

