// `berth logs`: reads the capture files the node agents write (`.berth/logs/<service>/<instance>/
// <process>.log`, CRI format, rotated to .1 .2 …) and merges instances in time order with a prefix.
// Files, not the API: logs stay readable while the control plane is down.
import { closeSync, existsSync, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { resolveContext, sleep } from '../context.js';
import { errors } from '../errors.js';
import { cyan, dim, green, parseDuration, yellow, red } from '../output.js';

interface LogOptions {
  file?: string;
  follow?: boolean;
  since?: string;
  tail?: string;
  instance?: string;
  container?: string;
  json?: boolean;
}

export interface LogRecord {
  time: string;
  service: string;
  instance: string;
  stream: string;
  message: string;
}

/** Parses one CRI log line: `<RFC3339Nano> <stream> <P|F> <message>`; P (partial) pieces join with the next. */
export function parseCriLine(line: string): { time: string; stream: string; partial: boolean; message: string } | undefined {
  const a = line.indexOf(' ');
  const b = line.indexOf(' ', a + 1);
  const c = line.indexOf(' ', b + 1);
  if (a < 0 || b < 0) return undefined;
  const tag = c < 0 ? line.slice(b + 1) : line.slice(b + 1, c);
  return { time: line.slice(0, a), stream: line.slice(a + 1, b), partial: tag === 'P', message: c < 0 ? '' : line.slice(c + 1) };
}

function listDirs(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name);
  } catch {
    return [];
  }
}

/** Files of one process, oldest rotation first. */
function processFiles(dir: string, name: string): string[] {
  const base = join(dir, `${name}.log`);
  const rotated: string[] = [];
  for (let i = 1; i < 100 && existsSync(`${base}.${i}`); i++) rotated.unshift(`${base}.${i}`);
  return existsSync(base) ? [...rotated, base] : rotated;
}

function recordsOf(text: string, service: string, instance: string, carry: { partial: string }): LogRecord[] {
  const out: LogRecord[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    const p = parseCriLine(line);
    if (!p) continue;
    if (p.partial) {
      carry.partial += p.message;
      continue;
    }
    out.push({ time: p.time, service, instance, stream: p.stream, message: carry.partial + p.message });
    carry.partial = '';
  }
  return out;
}

const palette = [cyan, green, yellow, red];

export async function logs(service: string | undefined, o: LogOptions): Promise<void> {
  const ctx = resolveContext(o.file, false);
  const root = ctx.layout.logs;
  const services = service ? [service] : listDirs(root);
  if (service && !existsSync(join(root, service))) throw errors.usage(`no logs for service "${service}" (in ${root})`, 'see `berth ps` for service names');
  const sinceMs = o.since ? parseDuration(o.since) : undefined;
  if (o.since && sinceMs === undefined) throw errors.usage(`--since: expected a duration like 30s, 5m, 2h; got "${o.since}"`);
  const tail = o.tail !== undefined ? Number(o.tail) : undefined;
  if (tail !== undefined && (!Number.isInteger(tail) || tail < 0)) throw errors.usage(`--tail: expected a whole number, got "${o.tail}"`);
  const since = sinceMs !== undefined ? new Date(Date.now() - sinceMs).toISOString() : undefined;
  const proc = o.container ?? 'app';

  const colorOf = new Map<string, (s: string) => string>();
  const emit = (r: LogRecord) => {
    if (o.json) {
      process.stdout.write(JSON.stringify(r) + '\n');
      return;
    }
    if (!colorOf.has(r.instance)) colorOf.set(r.instance, palette[colorOf.size % palette.length]);
    const prefix = colorOf.get(r.instance)!(`${r.instance} |`);
    process.stdout.write(`${prefix} ${r.stream === 'stderr' ? dim(r.message) : r.message}\n`);
  };

  // Offsets already printed per file (for --follow), keyed by path.
  const offsets = new Map<string, { ino: number; offset: number; carry: { partial: string } }>();
  const instancesOf = (svc: string) => listDirs(join(root, svc)).filter((i) => !o.instance || i === o.instance);

  let records: LogRecord[] = [];
  for (const svc of services) {
    for (const inst of instancesOf(svc)) {
      const carry = { partial: '' };
      for (const f of processFiles(join(root, svc, inst), proc)) {
        let text: string;
        try {
          text = readFileSync(f, 'utf8');
        } catch {
          continue;
        }
        records.push(...recordsOf(text, svc, inst, carry));
        const st = statSync(f);
        offsets.set(f, { ino: st.ino, offset: Buffer.byteLength(text), carry });
      }
    }
  }
  if (since) records = records.filter((r) => r.time >= since);
  records.sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0));
  if (tail !== undefined) records = records.slice(Math.max(0, records.length - tail));
  for (const r of records) emit(r);
  if (!o.follow) return;

  for (;;) {
    await sleep(200);
    const fresh: LogRecord[] = [];
    for (const svc of services.length ? services : listDirs(root)) {
      for (const inst of instancesOf(svc)) {
        const f = join(root, svc, inst, `${proc}.log`);
        let st;
        try {
          st = statSync(f);
        } catch {
          continue;
        }
        let state = offsets.get(f);
        if (!state || state.ino !== st.ino || st.size < state.offset) {
          // New file, or rotated/truncated: read it from the start.
          state = { ino: st.ino, offset: 0, carry: state?.carry ?? { partial: '' } };
          offsets.set(f, state);
        }
        if (st.size === state.offset) continue;
        const fd = openSync(f, 'r');
        try {
          const buf = Buffer.alloc(st.size - state.offset);
          const n = readSync(fd, buf, 0, buf.length, state.offset);
          const text = buf.subarray(0, n).toString('utf8');
          const lastNl = text.lastIndexOf('\n');
          if (lastNl < 0) continue;
          state.offset += Buffer.byteLength(text.slice(0, lastNl + 1));
          fresh.push(...recordsOf(text.slice(0, lastNl + 1), svc, inst, state.carry));
        } finally {
          closeSync(fd);
        }
      }
    }
    fresh.sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0));
    for (const r of fresh) emit(r);
  }
}
