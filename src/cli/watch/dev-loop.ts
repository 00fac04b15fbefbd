// `berth up --watch`: a saved file under a service's `watch:` paths, or a saved berth.yaml / .env,
// re-applies the spec (debounced). The watched files' digest is part of each service's revision, so
// only the services whose files changed get a new revision, replaced with the usual rollout. Each new
// revision is followed until it serves, or until it fails (crash, failed probe): then the error is
// printed and the previous revision, which the rollout kept, goes on serving.
import { basename, dirname, join, relative } from 'node:path';
import { formatSpecErrors, loadSpec } from '../../contract/index.js';
import { watchInput } from '../../plan/index.js';
import { ignoreTest } from '../../lib/source-digest.js';
import type { PsRow } from '../../control/index.js';
import type { ControlClient } from '../context.js';
import { CliError } from '../errors.js';
import { useColor } from '../output.js';
import { watchTree, type TreeWatcher, type WatchRoot } from './tree-watcher.js';

type LoadedSpec = Extract<Awaited<ReturnType<typeof loadSpec>>, { ok: true }>;

export interface AppliedChange {
  service: string;
  change: string;
  from?: string;
  to?: string;
}

export interface DevLoopOptions {
  specFile: string;
  env: string | undefined;
  client: ControlClient;
  /** Validates policies and applies (what `berth apply` does); returns the changes. */
  apply: (loaded: LoadedSpec) => Promise<AppliedChange[]>;
  /** One line of output (the foreground screen decides where it goes). */
  say: (line: string, kind?: 'info' | 'ok' | 'error') => void;
  /** Tests: poll instead of inotify. */
  forcePoll?: boolean;
}

interface RootWithDelay extends WatchRoot {
  debounceMs: number;
}

interface EventRow {
  seq: number;
  type: string;
  reason: string;
  message: string;
  instance?: string;
}

const FOLLOW_TIMEOUT_MS = 180_000;
/** A new instance running this long with a failing readiness probe is reported. */
const UNREADY_REPORT_MS = 5_000;

/**
 * How long a new instance's failing probe waits to be reported. A refused connection means the app
 * is not listening yet — its start waits for its sidecars, seconds on a loaded machine, and the
 * instance's age counts from its creation — so it gets three times as long: reported at 5 s, a
 * slow start read "not ready (connect ECONNREFUSED)" while the app was about to answer 503.
 */
function unreadyReportAfter(message: string | undefined): number {
  return /ECONNREFUSED/.test(message ?? '') ? 3 * UNREADY_REPORT_MS : UNREADY_REPORT_MS;
}

/** The watched roots of a loaded spec: each watched service's paths, plus the spec file and the .env beside it. */
function rootsOf(loaded: LoadedSpec, specFile: string): RootWithDelay[] {
  const dir = dirname(specFile);
  const roots: RootWithDelay[] = [];
  for (const svc of Object.values(loaded.spec.services)) {
    const input = watchInput(svc, dir);
    if (!input) continue;
    for (const p of input.paths) roots.push({ path: p, ignored: ignoreTest(p, input), debounceMs: svc.watch!.debounceMs });
  }
  for (const f of [specFile, join(dir, '.env')]) roots.push({ path: f, ignored: (abs) => abs !== f, debounceMs: 200 });
  return roots;
}

const rootsKey = (roots: RootWithDelay[]) => JSON.stringify(roots.map((r) => [r.path, r.debounceMs]));

export interface DevLoop {
  readonly mode: () => 'native' | 'poll';
  close(): void;
}

export function startDevLoop(initial: LoadedSpec, o: DevLoopOptions): DevLoop {
  const dir = dirname(o.specFile);
  let roots = rootsOf(initial, o.specFile);
  let watcher: TreeWatcher | undefined;
  let timer: NodeJS.Timeout | undefined;
  let firstChangeAt = 0;
  let changed = new Set<string>();
  let running = false;
  let again = false;
  let pollWarned = false;
  /** The revision each service's last apply made: only that one is followed. */
  const latest = new Map<string, string>();

  const onChange = (path: string) => {
    const delay = Math.min(...roots.filter((r) => path === r.path || path.startsWith(r.path + '/')).map((r) => r.debounceMs), 200);
    if (changed.size === 0) firstChangeAt = performance.now();
    changed.add(path);
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => void run(), delay);
  };

  const rewatch = () => {
    watcher?.close();
    watcher = watchTree(roots, {
      onChange,
      forcePoll: o.forcePoll || pollWarned,
      onFallback: (message) => {
        pollWarned = true;
        o.say(`watch: ${message}`, 'error');
      },
    });
  };

  const run = async (): Promise<void> => {
    if (running) {
      again = true;
      return;
    }
    running = true;
    const savedAt = firstChangeAt;
    const files = [...changed].map((f) => relative(dir, f) || basename(f));
    changed = new Set();
    try {
      await applyOnce(savedAt, files);
    } finally {
      running = false;
      if (again) {
        again = false;
        void run();
      }
    }
  };

  const applyOnce = async (savedAt: number, files: string[]) => {
    o.say(`watch: ${files.slice(0, 3).join(', ')}${files.length > 3 ? ` and ${files.length - 3} more` : ''} changed`);
    const loaded = await loadSpec(o.specFile, { env: o.env });
    if (!loaded.ok) {
      o.say(`watch: the spec is invalid, nothing applied (what runs keeps serving):\n${formatSpecErrors(loaded.errors, { color: useColor(process.stdout) })}`, 'error');
      return;
    }
    const next = rootsOf(loaded, o.specFile);
    if (rootsKey(next) !== rootsKey(roots)) {
      roots = next;
      rewatch();
    }
    let seq = 0;
    let changes: AppliedChange[];
    try {
      // The newest event so far: only later ones can be about the new revision's instances.
      for (let page = await o.client.get<EventRow[]>('/api/v1/events?after=0&limit=5000'); page.length > 0; page = await o.client.get<EventRow[]>(`/api/v1/events?after=${seq}&limit=5000`)) seq = page.at(-1)!.seq;
      changes = await o.apply(loaded);
    } catch (err) {
      const e = err as Error;
      o.say(`watch: not applied: ${e.message}${err instanceof CliError && err.hint ? ` (${err.hint})` : ''}`, 'error');
      return;
    }
    const moved = changes.filter((c) => c.change !== 'unchanged');
    if (moved.length === 0) {
      o.say('watch: no change to apply');
      return;
    }
    for (const c of moved) {
      if (c.change === 'revision' && c.to) {
        o.say(`${c.service}: revision ${c.from} → ${c.to}`);
        latest.set(c.service, c.to);
        void follow(c.service, c.from, c.to, savedAt, seq);
      } else o.say(`${c.service}: ${c.change}${c.from !== undefined ? ` ${c.from} → ${c.to}` : ''}`);
    }
  };

  /** Waits until `to` serves alone, or reports why it fails (the rollout keeps `from` serving then). */
  const follow = async (service: string, from: string | undefined, to: string, savedAt: number, afterSeq: number) => {
    const deadline = performance.now() + FOLLOW_TIMEOUT_MS;
    const prefix = `${service}-${to}-`;
    let seq = afterSeq;
    let saidUnready = false;
    while (performance.now() < deadline) {
      let rows: PsRow[];
      let evs: EventRow[];
      try {
        [rows, evs] = await Promise.all([o.client.get<PsRow[]>('/api/v1/instances'), o.client.get<EventRow[]>(`/api/v1/events?after=${seq}`)]);
      } catch {
        return; // the control plane went away (berth down): nothing left to follow
      }
      seq = evs.at(-1)?.seq ?? seq;
      const mine = rows.filter((r) => r.service === service && r.status !== 'stopped');
      const newer = mine.filter((r) => r.revision === to);
      const ids = new Set(newer.map((r) => r.instance));
      const failing = evs.find((e) => e.type === 'Warning' && e.instance !== undefined && (ids.has(e.instance) || e.instance.startsWith(prefix)));
      const crashed = newer.find((r) => r.status === 'crashloop' || r.restarts > 0);
      if (failing || crashed) {
        const why = failing ? `${failing.reason}: ${failing.message}` : `${crashed!.status}${crashed!.lastExit ? `, last exit ${crashed!.lastExit.code ?? crashed!.lastExit.signal} (${crashed!.lastExit.reason})` : ''}`;
        const old = mine.filter((r) => r.revision !== to && r.ready).length;
        o.say(`${service}: revision ${to} fails (${why}); ${old > 0 ? `revision ${from} keeps serving (${old} ready)` : 'no earlier revision is serving'}. Fix and save again; \`berth logs ${service.split('.')[0]}\` shows its output`, 'error');
        return;
      }
      // Failing its readiness probe is no crash and no event: said once it has lasted, then still followed (it may pass).
      const unready = newer.find((r) => !r.ready && r.status !== 'crashloop' && /probe/i.test(r.message ?? '') && r.startedAt !== null && Date.now() - Date.parse(r.startedAt) > unreadyReportAfter(r.message));
      if (unready && !saidUnready) {
        saidUnready = true;
        const old = mine.filter((r) => r.revision !== to && r.ready).length;
        o.say(`${service}: revision ${to} is not ready (${unready.message}); ${old > 0 ? `revision ${from} keeps serving (${old} ready)` : 'no earlier revision is serving'}`, 'error');
      }
      if (newer.length > 0 && newer.every((r) => r.ready) && mine.every((r) => r.revision === to)) {
        o.say(`${service}: revision ${to} serving, ${((performance.now() - savedAt) / 1000).toFixed(1)} s after the save`, 'ok');
        return;
      }
      if (latest.get(service) !== to) return; // a later save superseded it: that one is followed
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  rewatch();
  return {
    mode: () => watcher?.mode() ?? 'native',
    close() {
      if (timer) clearTimeout(timer);
      watcher?.close();
    },
  };
}
