// `berth logs`: with a running control plane, queries the embedded log store (every record the log
// agents shipped: full-text --grep, --level, --since/--until, across services); otherwise reads the
// capture files the node agents write (`.berth/logs/<service>/<instance>/<process>.log`, CRI format,
// rotated to .1 .2 …), so logs stay readable while the control plane is down.
// --json prints one JSON record per line (NDJSON); with a time range there is no row limit.
import { closeSync, existsSync, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { controlClient, resolveContext, sleep, type ControlClient } from '../context.js';
import { errors } from '../errors.js';
import { cyan, dim, green, parseDuration, yellow, red } from '../output.js';

interface LogOptions {
  file?: string;
  follow?: boolean;
  since?: string;
  until?: string;
  tail?: string;
  instance?: string;
  container?: string;
  grep?: string;
  level?: string;
  json?: boolean;
  /** Read the capture files even when the control plane runs. */
  files?: boolean;
}

export interface LogRecord {
  time: string;
  service: string;
  instance: string;
  stream: string;
  message: string;
  level?: string;
  [field: string]: unknown;
}

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'];
/** Without a time range or --tail, the store answers with at most this many (most recent) records. */
const DEFAULT_LIMIT = 10_000;

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

const LEVEL_IN_TEXT = /\b(TRACE|DEBUG|INFO|WARN|WARNING|ERROR|ERR|FATAL|CRITICAL)\b|"level":"(\w+)"|level=(\w+)/i;
function guessLevel(message: string): number {
  const m = LEVEL_IN_TEXT.exec(message.slice(0, 200));
  if (!m) return -1;
  const w = (m[1] ?? m[2] ?? m[3]).toLowerCase();
  const n = w === 'warning' ? 'warn' : w === 'err' ? 'error' : w === 'critical' ? 'fatal' : w;
  return LEVELS.indexOf(n);
}

/** A --since/--until value: a duration ago (30s, 5m, 2h) or an RFC 3339 time. */
function parseTimeArg(flag: string, v: string | undefined): string | undefined {
  if (v === undefined) return undefined;
  const ms = parseDuration(v);
  if (ms !== undefined) return new Date(Date.now() - ms).toISOString();
  if (/^\d{4}-\d\d-\d\d/.test(v) && !Number.isNaN(Date.parse(v))) return new Date(Date.parse(v)).toISOString();
  throw errors.usage(`${flag}: expected a duration like 30s, 5m, 2h or an RFC 3339 time; got "${v}"`);
}

const palette = [cyan, green, yellow, red];

export async function logs(service: string | undefined, o: LogOptions): Promise<void> {
  const ctx = resolveContext(o.file, false);
  const services = service ? service.split(',').filter(Boolean) : [];
  // Names become paths under .berth/logs/ with --files: a name must not climb out of it.
  for (const [what, name] of [...services.map((s) => ['service', s]), ['--instance', o.instance], ['--container', o.container]] as const)
    if (name !== undefined && (!/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(name) || name.includes('..')))
      throw errors.usage(`${what}: "${name}" is not a name (names cannot contain "/", "\\" or "..")`, 'see `berth ps` for service, instance and process names');
  const since = parseTimeArg('--since', o.since);
  const until = parseTimeArg('--until', o.until);
  const tail = o.tail !== undefined ? Number(o.tail) : undefined;
  if (tail !== undefined && (!Number.isInteger(tail) || tail < 0)) throw errors.usage(`--tail: expected a whole number, got "${o.tail}"`);
  if (o.level !== undefined && !LEVELS.includes(o.level)) throw errors.usage(`--level: expected one of ${LEVELS.join(', ')}; got "${o.level}"`);

  const colorOf = new Map<string, (s: string) => string>();
  const multi = services.length !== 1;
  const emit = (r: LogRecord): void => {
    if (o.json) {
      process.stdout.write(JSON.stringify(r) + '\n');
      return;
    }
    const who = multi ? `${r.instance}` : r.instance;
    if (!colorOf.has(who)) colorOf.set(who, palette[colorOf.size % palette.length]);
    const prefix = colorOf.get(who)!(`${who} |`);
    process.stdout.write(`${prefix} ${r.stream === 'stderr' ? dim(r.message) : r.message}\n`);
  };

  const client = o.files ? undefined : controlClient(ctx);
  if (client) {
    const ok = await fromStore(client, { services, since, until, tail, o, emit });
    if (ok) return;
  }
  await fromFiles(ctx.layout.logs, { services, since, until, tail, o, emit });
}

export interface QueryArgs {
  services: string[];
  since?: string;
  until?: string;
  tail?: number;
  o: LogOptions;
  emit: (r: LogRecord) => void;
}

/** Streams NDJSON records from GET /api/v1/logs; resolves the last seq seen. */
function streamStore(client: ControlClient, query: URLSearchParams, onRecord: (r: LogRecord & { seq: number }) => void): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port: client.opts.port, path: `/api/v1/logs?${query}`, method: 'GET', agent: false, headers: { authorization: `Bearer ${client.opts.token}` } },
      (res) => {
        if (res.statusCode !== 200) {
          let text = '';
          res.on('data', (c: Buffer) => (text += c.toString()));
          res.on('end', () => reject(Object.assign(new Error(text), { status: res.statusCode })));
          return;
        }
        let last = 0;
        let buf = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buf += chunk;
          let nl: number;
          while ((nl = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, nl);
            buf = buf.slice(nl + 1);
            if (!line) continue;
            const r = JSON.parse(line) as LogRecord & { seq: number };
            last = Math.max(last, r.seq);
            onRecord(r);
          }
        });
        res.on('end', () => resolve(last));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** Reads from the embedded store; false when it has nothing to say (no log store, or no matching record), so files are used. */
async function fromStore(client: ControlClient, a: QueryArgs): Promise<boolean> {
  const q = new URLSearchParams();
  if (a.services.length) q.set('service', a.services.join(','));
  if (a.o.instance) q.set('instance', a.o.instance);
  q.set('process', a.o.container ?? 'app');
  if (a.o.grep) q.set('grep', a.o.grep);
  if (a.o.level) q.set('level', a.o.level);
  if (a.since) q.set('since', a.since);
  if (a.until) q.set('until', a.until);
  const limit = a.tail ?? (a.since || a.until ? undefined : DEFAULT_LIMIT);
  if (limit !== undefined) q.set('limit', String(limit));
  let count = 0;
  const out = ({ seq: _seq, ...r }: LogRecord & { seq: number }): void => {
    count++;
    a.emit(r);
  };
  let last: number;
  try {
    last = await streamStore(client, q, out);
  } catch (err) {
    const status = (err as { status?: number }).status;
    if (status === 404) return false;
    if (status === 400) throw errors.usage((err as Error).message);
    throw errors.failed(`cannot query the log store: ${(err as Error).message}`);
  }
  // Nothing shipped (e.g. `logs.enabled: false`, or the agents have not caught up yet): the capture files answer.
  if (count === 0 && !a.o.follow) return false;
  if (!a.o.follow) return true;
  q.delete('limit');
  q.delete('since');
  for (;;) {
    await sleep(300);
    q.set('after', String(last));
    try {
      last = Math.max(last, await streamStore(client, q, out));
    } catch {
      // The control plane restarted or stopped: keep trying (its port may change).
    }
  }
}

/** The capture files (what `--files` reads); with `o.follow`, keeps printing new lines (the foreground screen uses this). */
export async function fromFiles(root: string, a: QueryArgs): Promise<void> {
  const { o } = a;
  const services = a.services.length ? a.services : listDirs(root);
  for (const s of a.services) if (!existsSync(join(root, s))) throw errors.usage(`no logs for service "${s}" (in ${root})`, 'see `berth ps` for service names');
  const proc = o.container ?? 'app';
  const minLevel = o.level ? LEVELS.indexOf(o.level) : -1;
  const keep = (r: LogRecord): boolean =>
    (!a.since || r.time >= a.since) && (!a.until || r.time < a.until) && (!o.grep || r.message.includes(o.grep)) && (minLevel < 0 || guessLevel(r.message) >= minLevel);

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
  records = records.filter(keep);
  records.sort((x, y) => (x.time < y.time ? -1 : x.time > y.time ? 1 : 0));
  if (a.tail !== undefined) records = records.slice(Math.max(0, records.length - a.tail));
  for (const r of records) a.emit(r);
  if (!o.follow) return;

  for (;;) {
    await sleep(200);
    const fresh: LogRecord[] = [];
    for (const svc of a.services.length ? a.services : listDirs(root)) {
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
    fresh.sort((x, y) => (x.time < y.time ? -1 : x.time > y.time ? 1 : 0));
    for (const r of fresh) if (keep(r)) a.emit(r);
  }
}
