// `berth replay FILE.har… --to SERVICE[@variant] | --to URL`: sends recorded traffic to a live
// target and reports, per endpoint, what changed. Exit 0 when nothing differs beyond noise (and
// the --max-diff-percent threshold), 1 otherwise, 2 for usage errors.
import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { MockSummary, PsRow } from '../../control/index.js';
import type { MeshConfig } from '../../lib/mesh-protocol.js';
import {
  anyOf,
  DEFAULT_COMPARED_HEADERS,
  FilterError,
  HarReadError,
  parseFilter,
  parseRate,
  RateError,
  readHar,
  renderHtmlReport,
  replay,
  replaysDir,
  saveReplayReport,
  type StoredReplayReport,
  type RecordedExchange,
  type ReplayProgress,
  type ReplayResult,
  type ReplayTarget,
} from '../../replay/index.js';
import { requireControl, resolveContext } from '../context.js';
import { mockCalls, startMock, type ActiveMock } from './replay-mocks.js';
import { errors } from '../errors.js';
import { bold, dim, green, parseDuration, red, table, yellow } from '../output.js';

export interface ReplayCliOptions {
  file?: string;
  to?: string;
  rate?: string;
  concurrency?: string;
  filter?: string[];
  loop?: boolean;
  duration?: string;
  allowSideEffects?: boolean;
  mockDependencies?: boolean;
  json?: boolean;
  against?: string;
  baseline?: string;
  ignore?: string[];
  compareHeader?: string[];
  maxDiffPercent?: string;
  report?: string;
  timeout?: string;
}

interface ServiceStatus {
  name: string;
  port: number | null;
}

/** The target service's `replay.ignore` from the running app's spec (none for a URL target). */
async function specIgnore(to: string, file: string | undefined): Promise<string[]> {
  const m = /^([a-z0-9][a-z0-9-]*)(?:@[a-z0-9-]+)?$/.exec(to);
  if (!m) return [];
  const c = requireControl(resolveContext(file, false));
  const { desired } = await c.get<{ desired: { mesh?: MeshConfig } | null }>('/api/v1/desired');
  return desired?.mesh?.services?.[m[1]]?.ignore ?? [];
}

/** `SERVICE` → its address on 127.0.0.1 (through the gateway, as clients reach it); `SERVICE@variant` → the ready instances of that variant, at their inbound sidecars. */
async function resolveTarget(text: string, flag: string, file: string | undefined): Promise<ReplayTarget> {
  if (/^https?:\/\//i.test(text)) {
    let u: URL;
    try {
      u = new URL(text);
    } catch {
      throw errors.usage(`${flag}: not a URL: ${text}`);
    }
    if (u.protocol !== 'http:') throw errors.usage(`${flag}: only http:// targets are supported, got ${text}`);
    return { name: text, bases: [u] };
  }
  const m = /^([a-z0-9]([a-z0-9-]*[a-z0-9])?)(?:@([a-z0-9]([a-z0-9-]*[a-z0-9])?))?$/.exec(text);
  if (!m) throw errors.usage(`${flag}: give SERVICE, SERVICE@variant or an http:// URL, got ${JSON.stringify(text)}`);
  const [service, variant] = [m[1], m[3]];
  const c = requireControl(resolveContext(file, false));
  const status = await c.get<{ services: ServiceStatus[] }>('/api/v1/status');
  const svc = status.services.find((s) => s.name === service);
  if (!svc) throw errors.usage(`${flag}: no service ${service} in this app`, `services: ${status.services.map((s) => s.name.split('.')[0]).filter((v, i, a) => a.indexOf(v) === i).join(', ') || 'none'}`);
  if (variant === undefined) {
    if (svc.port === null) throw errors.usage(`${flag}: service ${service} has no port to replay to`);
    return { name: text, bases: [new URL(`http://127.0.0.1:${svc.port}`)] };
  }
  const deployment = variant === 'default' ? service : `${service}.${variant}`;
  const rows = (await c.get<PsRow[]>('/api/v1/instances')).filter((r) => r.service === deployment && r.ready && r.port !== null);
  if (rows.length === 0) throw errors.failed(`${flag}: no ready instance of ${service}@${variant}`, 'check `berth ps`: the variant must be deployed and ready');
  return { name: text, bases: rows.map((r) => new URL(`http://${r.host.includes(':') ? `[${r.host}]` : r.host}:${r.port}`)) };
}

function positiveInt(text: string | undefined, flag: string, dflt: number): number {
  if (text === undefined) return dflt;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw errors.usage(`${flag} must be a whole number >= 1, got ${text}`);
  return n;
}

function progressLine(p: ReplayProgress): string {
  const rps = p.elapsedMs > 0 ? Math.round((p.sent / p.elapsedMs) * 1000) : 0;
  return `sent ${p.sent}  ok ${green(String(p.ok), process.stderr)}  failed ${p.failed ? red(String(p.failed), process.stderr) : '0'}  diff ${p.diff ? red(String(p.diff), process.stderr) : '0'}  skipped ${p.skipped}  ${dim(`${rps} req/s`, process.stderr)}`;
}

function printHuman(r: ReplayResult, passed: boolean): void {
  const s = r.skipped;
  const out: string[] = [];
  out.push(`${bold('replayed')} ${r.progress.sent} requests in ${(r.durationMs / 1000).toFixed(1)} s (${Math.round(r.rps)} req/s): ${r.progress.ok} answered, ${r.progress.failed} failed, ${r.report.diffs} with differences (${r.report.diffPercent}%)`);
  if (s.sideEffects + s.filtered + s.unreplayable) out.push(dim(`skipped: ${s.sideEffects} write requests (use --allow-side-effects), ${s.filtered} filtered out, ${s.unreplayable} not replayable`));
  if (r.report.endpoints.length) {
    out.push(
      table(
        ['ENDPOINT', 'REQUESTS', 'DIFFS', 'FAILED', 'TOP FIELDS'],
        r.report.endpoints.map((e) => [e.endpoint, String(e.requests), e.diffs ? red(String(e.diffs)) : '0', String(e.failed), e.fields.slice(0, 3).map((f) => `${f.path} (${f.count})`).join(', ') || (e.noise.length ? dim(`noise: ${e.noise.slice(0, 3).join(', ')}`) : '')]),
      ),
    );
  }
  for (const e of r.report.endpoints)
    for (const f of e.fields.slice(0, 3)) {
      const x = f.examples[0];
      out.push(`  ${e.endpoint}  ${bold(f.path)}: ${x.expected} → ${x.actual}  ${dim(x.request)}`);
    }
  for (const [why, n] of Object.entries(r.failures).slice(0, 5)) out.push(red(`no answer ×${n}: ${why}`));
  out.push(passed ? green('no difference beyond noise') : red(r.progress.failed ? `${r.progress.failed} requests got no answer` : 'differences found beyond noise'));
  process.stdout.write(out.join('\n') + '\n');
}

/**
 * Inside an app's folder the run's report is also kept in `.berth/replays/` (the dashboard shows it).
 * A report that cannot be written is a warning: the replay itself ran.
 */
async function keepReport(files: string[], run: Omit<StoredReplayReport, 'id' | 'at' | 'files'>, file: string | undefined): Promise<void> {
  let ctx;
  try {
    ctx = resolveContext(file, false);
  } catch {
    return;
  }
  if (!ctx.specFile) return;
  try {
    await saveReplayReport(ctx.stateDir, { ...run, files: files.map((f) => resolve(f)) });
  } catch (err) {
    process.stderr.write(`${yellow('warning', process.stderr)}: the report was not kept in ${replaysDir(ctx.stateDir)}: ${(err as Error).message}\n`);
  }
}

export async function replayCommand(files: string[], o: ReplayCliOptions): Promise<void> {
  if (!o.to) throw errors.usage('give --to SERVICE[@variant] or --to URL');
  const mockTarget = o.mockDependencies ? /^([a-z0-9][a-z0-9-]*)(?:@([a-z0-9][a-z0-9-]*))?$/.exec(o.to) : undefined;
  if (o.mockDependencies && !mockTarget) throw errors.usage('--mock-dependencies needs --to SERVICE or SERVICE@variant: the target\'s sidecars answer its downstream calls', 'a URL target has no Berth sidecar to answer them');
  if (files.length === 0) throw errors.usage('give at least one HAR file');
  let rate;
  try {
    rate = parseRate(o.rate ?? 'original');
  } catch (err) {
    if (err instanceof RateError) throw errors.usage(err.message);
    throw err;
  }
  const concurrency = positiveInt(o.concurrency, '--concurrency', 32);
  const timeoutMs = positiveInt(o.timeout, '--timeout', 30) * 1000;
  const maxDiffPercent = o.maxDiffPercent === undefined ? 0 : Number(o.maxDiffPercent);
  if (!Number.isFinite(maxDiffPercent) || maxDiffPercent < 0 || maxDiffPercent > 100) throw errors.usage(`--max-diff-percent must be between 0 and 100, got ${o.maxDiffPercent}`);
  let maxDurationMs: number | undefined;
  if (o.duration !== undefined) {
    maxDurationMs = parseDuration(o.duration);
    if (maxDurationMs === undefined || maxDurationMs <= 0) throw errors.usage(`--duration must be a duration like 30s or 5m, got ${o.duration}`);
  }
  let filter;
  try {
    filter = o.filter?.length ? anyOf(o.filter.map(parseFilter)) : undefined;
  } catch (err) {
    if (err instanceof FilterError) throw errors.usage(`--filter: ${err.message}`);
    throw err;
  }
  const ignore = (o.ignore ?? []).flatMap((x) => x.split(',')).map((x) => x.trim()).filter(Boolean);
  ignore.push(...(await specIgnore(o.to, o.file)));
  const headers = o.compareHeader?.length ? o.compareHeader.flatMap((x) => x.split(',')).map((x) => x.trim().toLowerCase()).filter(Boolean) : DEFAULT_COMPARED_HEADERS;

  const exchanges: RecordedExchange[] = [];
  for (const f of files) {
    try {
      exchanges.push(...(await readHar(f)).exchanges);
    } catch (err) {
      if (err instanceof HarReadError) throw errors.usage(err.message, 'give a HAR 1.2 file (exported by a browser, Playwright or `berth record`)');
      throw err;
    }
  }
  const to = await resolveTarget(o.to, '--to', o.file);
  const against = o.against ? await resolveTarget(o.against, '--against', o.file) : undefined;
  const baseline = o.baseline ? await resolveTarget(o.baseline, '--baseline', o.file) : undefined;

  let mock: ActiveMock | undefined;
  if (mockTarget) {
    const calls = mockCalls(exchanges);
    if (calls.length === 0) process.stderr.write(`${yellow('warning', process.stderr)}: the recording holds no downstream calls (only \`berth record\` keeps them): every call of the target is a miss\n`);
    const ctx = resolveContext(o.file, false);
    mock = await startMock(requireControl(ctx), ctx.stateDir, mockTarget[1], mockTarget[2], calls);
  }
  let mocks: MockSummary | undefined;

  const ac = new AbortController();
  const onSigint = () => ac.abort();
  process.once('SIGINT', onSigint);
  const tty = !o.json && process.stderr.isTTY;
  let result: ReplayResult;
  try {
    result = await replay({
      exchanges,
      to,
      against,
      baseline,
      rate,
      concurrency,
      filter,
      loop: o.loop,
      maxDurationMs,
      allowSideEffects: o.allowSideEffects,
      diff: { ignore, headers },
      timeoutMs,
      signal: ac.signal,
      onProgress: tty ? (p) => process.stderr.write(`\r\x1b[2K${progressLine(p)}`) : undefined,
    });
  } finally {
    process.off('SIGINT', onSigint);
    if (tty) process.stderr.write('\n');
    if (mock) mocks = await mock.stop();
  }
  if (result.progress.sent === 0) process.stderr.write(`${yellow('warning', process.stderr)}: nothing was replayed (every request was skipped or filtered out)\n`);
  // A downstream call the recording cannot answer is a change in behaviour too.
  const passed = result.progress.failed === 0 && result.report.diffPercent <= maxDiffPercent && (maxDiffPercent > 0 || result.report.diffs === 0) && (mocks?.misses ?? 0) === 0;
  if (o.report) {
    const title = `berth replay → ${to.name}${against ? ` against ${against.name}` : ''}${baseline ? `, noise from ${baseline.name}` : ''}`;
    const html = renderHtmlReport(result.report, {
      title,
      summary: { files: files.join(', '), sent: result.progress.sent, 'req/s': Math.round(result.rps), 'skipped (writes)': result.skipped.sideEffects, 'skipped (filter)': result.skipped.filtered, verdict: passed ? 'pass' : 'fail' },
    });
    try {
      await writeFile(o.report, html);
    } catch (err) {
      throw errors.failed(`cannot write the report to ${o.report}: ${(err as Error).message}`);
    }
  }
  const run = {
    passed,
    to: to.name,
    ...(against ? { against: against.name } : {}),
    ...(baseline ? { baseline: baseline.name } : {}),
    sent: result.progress.sent,
    ok: result.progress.ok,
    failed: result.progress.failed,
    failures: result.failures,
    diff: result.report.diffs,
    skipped: result.skipped,
    durationMs: Math.round(result.durationMs),
    rps: Math.round(result.rps),
    lagMs: result.lagMs,
    report: result.report,
    ...(mocks ? { mocks } : {}),
  };
  await keepReport(files, run, o.file);
  if (o.json) {
    process.stdout.write(JSON.stringify(run) + '\n');
  } else {
    printHuman(result, passed);
    if (mocks) {
      process.stdout.write(`downstream calls answered from the recording: ${mocks.hits}, misses: ${mocks.misses}\n`);
      for (const m of mocks.missed.slice(0, 5)) process.stdout.write(red(`  no recorded answer: ${m.method} ${m.path} to ${m.service}`) + '\n');
    }
  }
  if (!passed) process.exitCode = 1;
}
