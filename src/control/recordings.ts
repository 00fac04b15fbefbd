// On-demand recordings (`berth record start|stop|ls`): which services record, with what settings,
// until when. The control plane puts them into the mesh snapshots (config.recordings, over what the
// spec's `record:` asks for), the proxies write HAR files into `<stateDir>/recordings/<id>/`, one
// per proxy. The list survives a control-plane restart (recordings/index.json).
//
//   GET  /api/v1/recordings                 → { recordings: RecordingInfo[] }
//   POST /api/v1/recordings                 {service, sample?, match?, durationSeconds?, out?, maxBodyBytes?, redactHeaders?} → RecordingInfo
//   POST /api/v1/recordings/stop            {service} → RecordingInfo (after the proxies let go; `out` written)
//   GET  /api/v1/recordings/:id/har         → the recording's entries from every proxy, as one HAR 1.2 document
import type http from 'node:http';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { open, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { MeshConfig, MeshRecording } from '../lib/mesh-protocol.js';
import { readHar, type Har, type HarEntry } from '../replay/index.js';

export const RECORD_DEFAULTS = { sample: 1, maxBodyBytes: 1048576, maxFileMiB: 100 } as const;

export interface RecordingInfo {
  id: string;
  service: string;
  /** `cli` (berth record start) or `spec` (the service's `record:`). */
  source: 'cli' | 'spec';
  state: 'recording' | 'stopped';
  startedAt: string;
  stoppedAt?: string;
  until?: string;
  sample: number;
  match?: MeshRecording['match'];
  out?: string;
  /** HAR files the proxies wrote (absolute paths). */
  files: string[];
  bytes: number;
  /** Entries (recorded requests) in the files so far. */
  entries: number;
}

interface Stored {
  settings: MeshRecording;
  service: string;
  startedAt: number;
  stoppedAt?: number;
  out?: string;
}

export class RecordingError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export interface RecordingsHost {
  /** The services the desired state has (a recording of an unknown service is refused). */
  services(): string[];
  /** The spec's recordings (desired.mesh.recordings). */
  specRecordings(): Record<string, MeshRecording>;
  /** The recordings changed: publish a new snapshot. */
  changed(): void;
  /** Resolves once every proxy holds the current snapshot (or after the timeout). */
  synced(timeoutMs: number): Promise<void>;
}

/**
 * Entries in the proxies' HAR files, counted as the files grow: HarWriter starts every entry on a
 * line of its own (`\n{`; JSON.stringify puts no newline inside one), so only the bytes appended
 * since the last count are read — a list of recordings does not re-read 100 MiB files.
 */
const ENTRY_START = Buffer.from('\n{');

class EntryCounter {
  private readonly seen = new Map<string, { bytes: number; entries: number }>();

  /** Reads asynchronously, in 1 MiB pieces: a first count of a 100 MiB file does not hold the control plane's event loop. */
  async count(file: string, size: number): Promise<number> {
    const prev = this.seen.get(file);
    if (prev && prev.bytes === size) return prev.entries;
    // A file that shrank is not one this counter saw grow: count it from the start.
    const from = prev && prev.bytes < size ? prev.bytes : 0;
    let entries = from === 0 ? 0 : prev!.entries;
    // One byte before `from`: a `\n{` split across the previous read's end is counted now.
    const start = Math.max(0, from - 1);
    const fh = await open(file, 'r');
    try {
      const buf = Buffer.allocUnsafe(1 << 20);
      let last = 0;
      for (let pos = start; pos < size; ) {
        const { bytesRead: n } = await fh.read(buf, 0, Math.min(buf.length, size - pos), pos);
        if (n <= 0) break;
        const got = buf.subarray(0, n);
        // Buffer.indexOf is native: a byte-by-byte loop in JS took three times as long.
        if (last === 0x0a && got[0] === 0x7b) entries++;
        for (let i = got.indexOf(ENTRY_START); i !== -1; i = got.indexOf(ENTRY_START, i + 1)) entries++;
        last = got[n - 1];
        pos += n;
      }
    } finally {
      await fh.close();
    }
    this.seen.set(file, { bytes: size, entries });
    return entries;
  }
}

export class Recordings {
  private readonly all: Stored[] = [];
  private readonly entries = new EntryCounter();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly dir: string;

  constructor(
    stateDir: string,
    private readonly host: RecordingsHost,
    private readonly log: (msg: string) => void = () => {},
  ) {
    this.dir = join(stateDir, 'recordings');
    try {
      const list = JSON.parse(readFileSync(join(this.dir, 'index.json'), 'utf8')) as Stored[];
      if (Array.isArray(list)) this.all.push(...list);
    } catch {
      // Safe to ignore: no recording was ever started (or the index is unreadable: start afresh).
    }
    for (const r of this.all) if (r.stoppedAt === undefined) this.arm(r);
  }

  /** The snapshot's config with the on-demand recordings laid over the spec's. */
  overlay(config: MeshConfig): MeshConfig {
    const active = this.all.filter((r) => r.stoppedAt === undefined);
    if (active.length === 0) return config;
    const recordings = { ...config.recordings };
    for (const r of active) recordings[r.service] = r.settings;
    return { ...config, recordings };
  }

  async start(body: Record<string, unknown>): Promise<RecordingInfo> {
    const service = body.service;
    if (typeof service !== 'string' || !service) throw new RecordingError(400, 'expected {"service": string, …}');
    if (!this.host.services().includes(service)) throw new RecordingError(404, service === 'ingress' ? 'the running app has no ingress' : `no service "${service}" with a port (and so a sidecar to record in) in the running app`);
    if (this.active(service)) throw new RecordingError(409, `${service} is already being recorded (${this.active(service)!.settings.id}); stop it first`);
    const sample = body.sample === undefined ? RECORD_DEFAULTS.sample : Number(body.sample);
    if (!(sample > 0 && sample <= 1)) throw new RecordingError(400, `sample must be in (0, 1], got ${String(body.sample)}`);
    const maxBodyBytes = body.maxBodyBytes === undefined ? RECORD_DEFAULTS.maxBodyBytes : Number(body.maxBodyBytes);
    if (!Number.isInteger(maxBodyBytes) || maxBodyBytes < 0) throw new RecordingError(400, `maxBodyBytes must be a whole number >= 0, got ${String(body.maxBodyBytes)}`);
    const maxFileMiB = body.maxFileMiB === undefined ? RECORD_DEFAULTS.maxFileMiB : Number(body.maxFileMiB);
    if (!(maxFileMiB > 0)) throw new RecordingError(400, `maxFileMiB must be > 0, got ${String(body.maxFileMiB)}`);
    const duration = body.durationSeconds === undefined ? undefined : Number(body.durationSeconds);
    if (duration !== undefined && !(duration > 0)) throw new RecordingError(400, `durationSeconds must be > 0, got ${String(body.durationSeconds)}`);
    const match = body.match === undefined ? undefined : (body.match as MeshRecording['match']);
    if (match !== undefined && (!Array.isArray(match) || match.some((m) => m === null || typeof m !== 'object'))) throw new RecordingError(400, 'match must be a list of route matches');
    const redact = body.redactHeaders === undefined ? [] : body.redactHeaders;
    if (!Array.isArray(redact) || redact.some((h) => typeof h !== 'string')) throw new RecordingError(400, 'redactHeaders must be a list of header names');
    const now = Date.now();
    const id = `${service}-${new Date(now).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}`;
    const settings: MeshRecording = {
      id: this.all.some((r) => r.settings.id === id) ? `${id}-${this.all.length}` : id,
      sample,
      ...(match ? { match } : {}),
      redactHeaders: (redact as string[]).map((h) => h.toLowerCase()),
      maxBodyBytes,
      maxFileMiB,
      ...(duration !== undefined ? { until: now + duration * 1000 } : {}),
    };
    const r: Stored = { settings, service, startedAt: now, ...(typeof body.out === 'string' ? { out: body.out } : {}) };
    this.all.push(r);
    this.save();
    this.arm(r);
    this.host.changed();
    this.log(`recording ${service} started (${settings.id})`);
    return this.info(r);
  }

  async stop(service: string): Promise<RecordingInfo> {
    const r = this.active(service);
    if (!r) throw new RecordingError(404, `${service} is not being recorded by \`berth record start\``);
    return this.finish(r);
  }

  async list(): Promise<RecordingInfo[]> {
    const out: RecordingInfo[] = [];
    for (const r of this.all) out.push(await this.info(r));
    const spec = this.host.specRecordings();
    for (const [service, settings] of Object.entries(spec)) {
      if (this.active(service)) continue;
      out.push({ ...(await this.describe(settings, service)), source: 'spec', state: 'recording', startedAt: '' });
    }
    return out;
  }

  /** Every entry of a recording (all proxies' files), oldest first, as one HAR document. */
  async har(id: string): Promise<Har> {
    const known = this.all.some((r) => r.settings.id === id) || Object.values(this.host.specRecordings()).some((s) => s.id === id);
    if (!known || !/^[\w.-]+$/.test(id)) throw new RecordingError(404, `no recording "${id}" (see berth record ls)`);
    const entries: HarEntry[] = [];
    for (const f of this.files(id)) entries.push(...(await readHar(f)).har.log.entries);
    entries.sort((a, b) => (a.startedDateTime < b.startedDateTime ? -1 : a.startedDateTime > b.startedDateTime ? 1 : 0));
    return { log: { version: '1.2', creator: { name: 'berth', version: '0.1.0' }, entries } };
  }

  close(): void {
    for (const t of this.timers.values()) clearTimeout(t);
  }

  private active(service: string): Stored | undefined {
    return this.all.find((r) => r.service === service && r.stoppedAt === undefined);
  }

  /** Ends the recording when its duration is up. */
  private arm(r: Stored): void {
    if (r.settings.until === undefined) return;
    const t = setTimeout(() => void this.finish(r).catch((err: Error) => this.log(`recording ${r.settings.id}: ${err.message}`)), Math.max(0, r.settings.until - Date.now()));
    t.unref();
    this.timers.set(r.settings.id, t);
  }

  private async finish(r: Stored): Promise<RecordingInfo> {
    if (r.stoppedAt === undefined) {
      r.stoppedAt = Date.now();
      clearTimeout(this.timers.get(r.settings.id));
      this.save();
      this.host.changed();
      this.log(`recording ${r.service} stopped (${r.settings.id})`);
    }
    // The proxies close their files once they hold the snapshot without the recording.
    await this.host.synced(5000);
    await new Promise((res) => setTimeout(res, 300));
    if (r.out) await writeFile(r.out, JSON.stringify(await this.har(r.settings.id)) + '\n', { mode: 0o600 });
    return this.info(r);
  }

  private files(id: string): string[] {
    const d = join(this.dir, id);
    if (!existsSync(d)) return [];
    return readdirSync(d)
      .filter((f) => f.endsWith('.har'))
      .sort()
      .map((f) => join(d, f));
  }

  private async describe(s: MeshRecording, service: string): Promise<Omit<RecordingInfo, 'source' | 'state' | 'startedAt'>> {
    const files = this.files(s.id);
    let bytes = 0;
    let entries = 0;
    for (const f of files) {
      const size = statSync(f).size;
      bytes += size;
      entries += await this.entries.count(f, size).catch(() => 0); // a file rotated away meanwhile counts as empty
    }
    return { id: s.id, service, ...(s.until !== undefined ? { until: new Date(s.until).toISOString() } : {}), sample: s.sample, ...(s.match ? { match: s.match } : {}), files, bytes, entries };
  }

  private async info(r: Stored): Promise<RecordingInfo> {
    return {
      ...(await this.describe(r.settings, r.service)),
      source: 'cli',
      state: r.stoppedAt === undefined ? 'recording' : 'stopped',
      startedAt: new Date(r.startedAt).toISOString(),
      ...(r.stoppedAt !== undefined ? { stoppedAt: new Date(r.stoppedAt).toISOString() } : {}),
      ...(r.out ? { out: r.out } : {}),
    };
  }

  private save(): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const tmp = join(this.dir, 'index.json.tmp');
    writeFileSync(tmp, JSON.stringify(this.all, null, 1), { mode: 0o600 });
    renameSync(tmp, join(this.dir, 'index.json'));
  }
}

function send(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** Serves /api/v1/recordings*; false for other paths. */
export async function handleRecordingsApi(
  recordings: Recordings,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  path: string,
  readBody: () => Promise<Record<string, unknown>>,
  opts: { allowOut?: boolean } = {},
): Promise<boolean> {
  const method = req.method ?? 'GET';
  try {
    if (method === 'GET' && path === '/api/v1/recordings') {
      send(res, 200, { recordings: await recordings.list() });
      return true;
    }
    if (method === 'POST' && path === '/api/v1/recordings') {
      const body = await readBody();
      if (body.out !== undefined && opts.allowOut === false) throw new RecordingError(403, 'the dashboard may not choose a file for the control plane to write ("out"): use `berth record start --out` or `berth record get`');
      send(res, 201, await recordings.start(body));
      return true;
    }
    if (method === 'POST' && path === '/api/v1/recordings/stop') {
      const body = await readBody();
      if (typeof body.service !== 'string') throw new RecordingError(400, 'expected {"service": string}');
      send(res, 200, await recordings.stop(body.service));
      return true;
    }
    const m = /^\/api\/v1\/recordings\/([^/]+)\/har$/.exec(path);
    if (method === 'GET' && m) {
      send(res, 200, await recordings.har(decodeURIComponent(m[1])));
      return true;
    }
  } catch (err) {
    if (err instanceof RecordingError) {
      send(res, err.status, { error: err.message });
      return true;
    }
    throw err;
  }
  return false;
}
