// The reports of `berth replay` runs, kept in the app's `.berth/replays/<time>.json` (the newest
// REPLAY_REPORTS_KEPT; older ones are deleted as a new one is written), so the dashboard can show
// them. The CLI writes them; the control plane lists and reads them (GET /api/v1/replays[/:id]).
import { mkdir, readdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { DiffReport } from './diff.js';

export const REPLAY_REPORTS_KEPT = 50;

/** What one stored run holds: the --json output of `berth replay` with an id, a time and the HAR files. */
export interface StoredReplayReport {
  /** The file's name without `.json`: a sortable UTC time (`20261205T141503123Z`). */
  id: string;
  at: string;
  files: string[];
  passed: boolean;
  to: string;
  against?: string;
  baseline?: string;
  sent: number;
  ok: number;
  failed: number;
  diff: number;
  durationMs: number;
  report: DiffReport;
  [more: string]: unknown;
}

/** One line of the list: the run without its per-endpoint report. */
export type ReplayReportSummary = Pick<StoredReplayReport, 'id' | 'at' | 'files' | 'passed' | 'to' | 'against' | 'sent' | 'failed' | 'diff'> & {
  diffPercent: number;
  endpoints: number;
};

export const replaysDir = (stateDir: string): string => join(stateDir, 'replays');

const ID = /^\d{8}T\d{9}Z(-\d+)?$/;

/** Writes a run's report (0600, via a temp file) and deletes the oldest beyond `keep`; returns its id. */
export async function saveReplayReport(stateDir: string, run: Omit<StoredReplayReport, 'id' | 'at'>, now = new Date(), keep = REPLAY_REPORTS_KEPT): Promise<string> {
  const dir = replaysDir(stateDir);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const base = now.toISOString().replace(/[-:.]/g, '');
  let id = base;
  for (let i = 1; await exists(join(dir, `${id}.json`)); i++) id = `${base}-${i}`;
  const tmp = join(dir, `.${id}.json.tmp`);
  await writeFile(tmp, JSON.stringify({ id, at: now.toISOString(), ...run }) + '\n', { mode: 0o600 });
  await rename(tmp, join(dir, `${id}.json`));
  const ids = await reportIds(dir);
  // Pruning old reports is best effort: one already gone (another run pruned it) or unremovable is left for the next run.
  for (const old of ids.slice(keep)) await unlink(join(dir, `${old}.json`)).catch(() => {});
  return id;
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** The stored ids, newest first. */
async function reportIds(dir: string): Promise<string[]> {
  const names = await readdir(dir).catch(() => [] as string[]);
  return names
    .filter((n) => n.endsWith('.json') && ID.test(n.slice(0, -5)))
    .map((n) => n.slice(0, -5))
    .sort()
    .reverse();
}

/** A stored run, or undefined when there is no such id (or the file is not a report). */
export async function readReplayReport(stateDir: string, id: string): Promise<StoredReplayReport | undefined> {
  if (!ID.test(id)) return undefined;
  try {
    const r = JSON.parse(await readFile(join(replaysDir(stateDir), `${id}.json`), 'utf8')) as StoredReplayReport;
    return r && typeof r === 'object' && r.report && Array.isArray(r.report.endpoints) ? r : undefined;
  } catch {
    return undefined;
  }
}

/** The stored runs, newest first, without their endpoints (an unreadable file is left out). */
export async function listReplayReports(stateDir: string): Promise<ReplayReportSummary[]> {
  const out: ReplayReportSummary[] = [];
  for (const id of await reportIds(replaysDir(stateDir))) {
    const r = await readReplayReport(stateDir, id);
    if (!r) continue;
    out.push({ id, at: r.at, files: r.files ?? [], passed: r.passed, to: r.to, ...(r.against ? { against: r.against } : {}), sent: r.sent, failed: r.failed, diff: r.diff, diffPercent: r.report.diffPercent, endpoints: r.report.endpoints.length });
  }
  return out;
}
