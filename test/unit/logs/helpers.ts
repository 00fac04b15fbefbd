// Test helpers for the log agent: a collecting sink that can be taken down or made to fail, an
// in-process agent over a temp directory, sequence-numbered line writers and loss/duplicate counts.
import { appendFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SinkError, startLogAgent, type LogRecord, type LogSink, type RunningLogAgent, type SinkFeature } from '../../../src/sidecar/logs/index.js';
import type { LogAgentConfig } from '../../../src/lib/log-agent-config.js';

export class CollectSink implements LogSink {
  readonly type = 'collect';
  readonly features: readonly SinkFeature[] = ['ack', 'batch', 'fields'];
  records: LogRecord[] = [];
  /** While set, send() fails with this (retryable unless said otherwise). */
  failure: SinkError | undefined;
  attempts = 0;
  constructor(readonly name = 'collect') {}
  async send(records: readonly LogRecord[]): Promise<void> {
    this.attempts++;
    if (this.failure) throw this.failure;
    this.records.push(...records);
  }
  async close(): Promise<void> {}
}

export function tempDir(prefix = 'berth-logs-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export const identity = { app: 'demo', service: 'web', variant: 'default', revision: 'r1', instance: 'web-1', node: 'node-1' };

export function agentConfig(dir: string, over: Partial<LogAgentConfig> = {}): LogAgentConfig {
  return {
    excludeProcesses: ['logs'],
    files: ['logs/*.log'],
    cwd: dir,
    parsers: [],
    maxLineBytes: 64 * 1024,
    buffer: { type: 'memory', maxRecords: 5000, maxBytes: 64 * 1024 * 1024, whenFull: 'block' },
    sinks: [],
    ...over,
  };
}

export function startAgent(dir: string, sink: LogSink, over: Partial<LogAgentConfig> = {}): RunningLogAgent {
  return startLogAgent({
    config: agentConfig(dir, over),
    identity,
    stateDir: join(dir, '.berth'),
    workDir: join(dir, '.berth', 'logs-agent', 'web-1'),
    sinks: [sink],
    pollMs: 50,
    backoff: { initialMs: 20, maxMs: 200 },
  });
}

/** Appends lines `seq=<n> <pad>` for n in [from, to). */
export function writeSeq(path: string, from: number, to: number, pad = 'x'.repeat(40)): void {
  let text = '';
  for (let n = from; n < to; n++) text += `seq=${n} ${pad}\n`;
  appendFileSync(path, text);
}

/** Sequence numbers seen (from `seq=<n>` in messages): missing ones and duplicates. */
export function account(records: readonly LogRecord[], from: number, to: number): { missing: number[]; duplicates: number; seen: number } {
  const count = new Map<number, number>();
  for (const r of records) {
    const m = /seq=(\d+)/.exec(r.message);
    if (m) count.set(Number(m[1]), (count.get(Number(m[1])) ?? 0) + 1);
  }
  const missing: number[] = [];
  let duplicates = 0;
  for (let n = from; n < to; n++) {
    const c = count.get(n) ?? 0;
    if (c === 0) missing.push(n);
    else duplicates += c - 1;
  }
  return { missing, duplicates, seen: count.size };
}

export async function waitFor(what: string, cond: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
