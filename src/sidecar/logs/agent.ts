// Assembles one log agent from its configuration: checkpoints, tailer, record builder, one
// delivery per sink, the pipeline, and a status file (counters) beside the checkpoints.
// main.ts runs it as the `berth-logs` process; tests and the benchmark run it in-process.
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import type { LogAgentConfig } from '../../lib/log-agent-config.js';
import { CheckpointStore } from './checkpoints.js';
import { Delivery } from './delivery.js';
import { RecordBuilder, type Identity } from './enrich.js';
import { makeParser } from './parsers.js';
import { Pipeline, type PipelineOptions } from './pipeline.js';
import { compileRoute } from './route.js';
import { createSink } from './sinks/index.js';
import type { LogSink } from './sinks/sink.js';
import { Tailer } from './tailer.js';
import { writeStatus } from './status-file.js';
import { ReaderLocks } from './reader-lock.js';
import { SharedCheckpoints } from './shared-checkpoints.js';

/** In a `logs.files` glob, makes the file this instance's own (expanded to the instance id). */
const INSTANCE_VAR = '${BERTH_INSTANCE}';
import type { BackoffOptions } from './retry.js';

export interface LogAgentOptions {
  config: LogAgentConfig;
  identity: Identity;
  /** `.berth/` (the embedded sink finds the control plane there). */
  stateDir: string;
  /** Where checkpoints, disk buffers and status live (e.g. `.berth/logs-agent/<instance>`). */
  workDir: string;
  /** Checkpoints of the service's shared `logs.files` (default `<stateDir>/logs-files/<service>`). */
  filesDir?: string;
  /** Pre-built sinks (tests, bench) used instead of config.sinks. */
  sinks?: LogSink[];
  pipeline?: PipelineOptions;
  pollMs?: number;
  noWatch?: boolean;
  backoff?: BackoffOptions;
  /** How often status.json is rewritten (default 1000 ms). */
  statusMs?: number;
  log?: (msg: string) => void;
  /** The pipeline cannot go on (see PipelineOptions.onFatal); main.ts exits so the agent is restarted. */
  onFatal?: (err: Error) => void;
}

export interface RunningLogAgent {
  readonly pipeline: Pipeline;
  readonly tailer: Tailer;
  readonly deliveries: Delivery[];
  status(): Record<string, unknown>;
  /** Stops reading, lets in-flight batches finish (up to graceMs), writes checkpoints. */
  stop(graceMs?: number): Promise<void>;
}

export function startLogAgent(o: LogAgentOptions): RunningLogAgent {
  const cfg = o.config;
  const checkpoints = new CheckpointStore(o.workDir);
  // A glob naming ${BERTH_INSTANCE} is this instance's own; any other belongs to the service: one
  // agent of the service reads each matched file (reader-lock.ts), checkpointed per service.
  const own: string[] = [];
  const shared: string[] = [];
  for (const g of cfg.files) {
    if (g.includes(INSTANCE_VAR)) own.push(g.split(INSTANCE_VAR).join(o.identity.instance));
    else shared.push(g);
  }
  const filesDir = o.filesDir ?? join(o.stateDir, 'logs-files', o.identity.service);
  const sharedCheckpoints = shared.length > 0 ? new SharedCheckpoints(filesDir) : undefined;
  // The tailer scans again as soon as a reader lock is taken (it is built right below).
  const late: { tailer?: Tailer } = {};
  const locks = shared.length > 0 ? new ReaderLocks(`${resolve(o.stateDir)}\0${o.identity.app}\0${o.identity.service}`, () => late.tailer?.rescan(), o.log) : undefined;
  const tailer = new Tailer({
    captureDir: cfg.captureDir,
    excludeProcesses: cfg.excludeProcesses,
    files: own,
    sharedFiles: shared,
    sharedCheckpoints,
    locks,
    cwd: cfg.cwd,
    maxLineBytes: cfg.maxLineBytes,
    multiline: cfg.multiline,
    checkpoints,
    pollMs: o.pollMs,
    noWatch: o.noWatch,
    decompress: cfg.decompress,
    decompressDir: join(o.workDir, 'decompressed'),
    log: o.log,
  });
  late.tailer = tailer;
  const builder = new RecordBuilder(o.identity, cfg.parsers.map(makeParser));
  const sinkCtx = { stateDir: o.stateDir, cwd: cfg.cwd, hostname: hostname() };
  const sinks = o.sinks ?? cfg.sinks.map((s) => createSink(s, sinkCtx));
  const deliveries = sinks.map((sink, i) => {
    const sc = o.sinks ? undefined : cfg.sinks[i];
    return new Delivery(sink, compileRoute(sc?.route), {
      maxRecords: cfg.buffer.maxRecords,
      maxBytes: cfg.buffer.maxBytes,
      whenFull: cfg.buffer.whenFull,
      diskDir: cfg.buffer.type === 'disk' ? join(o.workDir, 'buffer', sink.name.replace(/[^\w.-]/g, '_')) : undefined,
      batchMaxRecords: sc?.batchMaxRecords,
      backoff: o.backoff,
      log: o.log,
    });
  });
  const pipeline = new Pipeline(tailer, builder, deliveries, checkpoints, { flushMs: cfg.flushMs, ...o.pipeline, onFatal: o.onFatal ?? o.pipeline?.onFatal }, sharedCheckpoints);
  pipeline.start().catch((err: unknown) => {
    const e = err instanceof Error ? err : new Error(String(err));
    process.stderr.write(`berth-logs: the pipeline stopped: ${e.stack ?? e.message}\n`);
    (o.onFatal ?? o.pipeline?.onFatal)?.(e);
  });

  const status = (): Record<string, unknown> => ({
    pid: process.pid,
    at: new Date().toISOString(),
    pipeline: pipeline.stats,
    tailer: tailer.stats,
    sinks: Object.fromEntries(deliveries.map((d) => [d.sink.name, { type: d.sink.type, ...d.stats }])),
    memory: { rssBytes: process.memoryUsage.rss() },
  });
  const statusPath = join(o.workDir, 'status.json');
  const statusTimer = setInterval(() => {
    try {
      writeStatus(statusPath, JSON.stringify(status()) + '\n');
    } catch {
      // the status file is informational; the next tick writes it again
    }
  }, o.statusMs ?? 1000);
  statusTimer.unref();

  return {
    pipeline,
    tailer,
    deliveries,
    status,
    async stop(graceMs = 3000) {
      clearInterval(statusTimer);
      await pipeline.stop(graceMs);
      tailer.close();
      await Promise.all(deliveries.map((d) => d.close()));
      try {
        writeStatus(statusPath, JSON.stringify(status()) + '\n');
      } catch {
        // the status file is informational; shutting down goes on
      }
    },
  };
}
