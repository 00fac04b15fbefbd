// `berth record start|stop|ls`: on-demand traffic recording in the services' inbound sidecars and the
// gateway (HAR 1.2 files under .berth/recordings/<id>/, see docs/replay.md). The control plane puts
// the recording into the mesh snapshots; `stop` returns once the proxies let go and `--out` is written.
import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { MeshRecording } from '../../lib/mesh-protocol.js';
import { HttpError } from '../../lib/http.js';
import type { RecordingInfo } from '../../control/index.js';
import { FilterError, parseFilter } from '../../replay/index.js';
import { requireControl, resolveContext, type ControlClient } from '../context.js';
import { errors } from '../errors.js';
import { bold, dim, parseDuration, table } from '../output.js';

type Match = NonNullable<MeshRecording['match']>[number];

/** `--match`: a route match object (YAML/JSON flow) or the short form `[METHOD[,METHOD]] PATH` (prefix, `=exact`, `~regex`). */
export function parseMatch(text: string): Match {
  try {
    parseFilter(text); // the same grammar as replay's --filter: its errors are the user's
  } catch (err) {
    if (err instanceof FilterError) throw errors.usage(`--match: ${err.message}`);
    throw err;
  }
  const t = text.trim();
  if (t.startsWith('{')) return parseYaml(t) as Match;
  const parts = t.split(/\s+/);
  let [methods, path] = parts.length === 2 ? parts : [undefined, parts[0]];
  if (parts.length === 1 && !/^[/~=]/.test(path)) [methods, path] = [path, '/'];
  const p = path.startsWith('~') ? { regex: path.slice(1) } : path.startsWith('=') ? { exact: path.slice(1) } : { prefix: path };
  return { path: p, ...(methods ? { method: methods.split(',').map((m) => m.trim().toUpperCase()) } : {}) };
}

/** Control-plane refusals (unknown service, already recording, bad value) are the user's errors. */
async function call<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof HttpError && err.status >= 400 && err.status < 500) {
      const msg = (err.body as { error?: string } | undefined)?.error ?? err.message;
      throw err.status === 404 || err.status === 409 ? errors.failed(msg) : errors.usage(msg);
    }
    throw err;
  }
}

const client = (file: string | undefined): ControlClient => requireControl(resolveContext(file, false));

function mib(bytes: number): string {
  return bytes < 1024 * 1024 ? `${(bytes / 1024).toFixed(1)} KiB` : `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

export async function recordStart(
  service: string,
  o: { file?: string; duration?: string; sample?: string; match?: string[]; out?: string; maxBodyBytes?: string; redactHeader?: string[]; json?: boolean },
): Promise<void> {
  const body: Record<string, unknown> = { service };
  if (o.duration !== undefined) {
    const ms = parseDuration(o.duration);
    if (ms === undefined || ms <= 0) throw errors.usage(`--duration must be a duration like 30s or 10m, got ${o.duration}`);
    body.durationSeconds = ms / 1000;
  }
  if (o.sample !== undefined) {
    const s = Number(o.sample);
    if (!(s > 0 && s <= 1)) throw errors.usage(`--sample must be a fraction in (0, 1], got ${o.sample}`);
    body.sample = s;
  }
  if (o.maxBodyBytes !== undefined) {
    const n = Number(o.maxBodyBytes);
    if (!Number.isInteger(n) || n < 0) throw errors.usage(`--max-body-bytes must be a whole number >= 0, got ${o.maxBodyBytes}`);
    body.maxBodyBytes = n;
  }
  if (o.match?.length) body.match = o.match.map(parseMatch);
  if (o.redactHeader?.length) body.redactHeaders = o.redactHeader.flatMap((h) => h.split(',')).map((h) => h.trim()).filter(Boolean);
  if (o.out !== undefined) body.out = resolve(o.out);
  const c = client(o.file);
  const r = await call(() => c.post<RecordingInfo>('/api/v1/recordings', body));
  if (o.json) return void process.stdout.write(JSON.stringify(r) + '\n');
  process.stdout.write(`${bold('recording')} ${service} (${r.id}, sample ${r.sample})${r.until ? ` until ${r.until}` : ''}\n`);
  process.stdout.write(dim(`stop it with \`berth record stop ${service}\`${r.out ? `; the HAR goes to ${r.out}` : ''}`) + '\n');
}

export async function recordStop(service: string, o: { file?: string; json?: boolean }): Promise<void> {
  const c = client(o.file);
  const r = await call(() => c.post<RecordingInfo>('/api/v1/recordings/stop', { service }));
  if (o.json) return void process.stdout.write(JSON.stringify(r) + '\n');
  process.stdout.write(`${bold('stopped')} ${r.id}: ${r.files.length} file(s), ${mib(r.bytes)}${r.out ? `, written to ${r.out}` : ''}\n`);
  for (const f of r.files) process.stdout.write(dim(`  ${f}`) + '\n');
}

export async function recordLs(o: { file?: string; json?: boolean }): Promise<void> {
  const c = client(o.file);
  const { recordings } = await call(() => c.get<{ recordings: RecordingInfo[] }>('/api/v1/recordings'));
  if (o.json) return void process.stdout.write(JSON.stringify(recordings) + '\n');
  if (recordings.length === 0) return void process.stdout.write('no recordings\n');
  process.stdout.write(
    table(
      ['ID', 'SERVICE', 'STATE', 'SOURCE', 'STARTED', 'SAMPLE', 'ENTRIES', 'FILES', 'SIZE'],
      recordings.map((r) => [r.id, r.service, r.state, r.source, r.startedAt || '-', String(r.sample), String(r.entries), String(r.files.length), mib(r.bytes)]),
    ) + '\n',
  );
}

export async function recordGet(id: string, o: { file?: string; out?: string }): Promise<void> {
  const c = client(o.file);
  const har = await call(() => c.get<unknown>(`/api/v1/recordings/${encodeURIComponent(id)}/har`));
  const text = JSON.stringify(har) + '\n';
  if (o.out === undefined) return void process.stdout.write(text);
  try {
    await writeFile(o.out, text, { mode: 0o600 });
  } catch (err) {
    throw errors.failed(`cannot write ${o.out}: ${(err as Error).message}`);
  }
}
