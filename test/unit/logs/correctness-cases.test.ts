// Vector's file-source correctness cases (and ours), kept as data: each case is a list of steps on
// real files while an in-process agent tails them into a counting sink; every case asserts that no
// sequence number is lost and reports duplicates (allowed by at-least-once, expected to be rare).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, copyFileSync, mkdirSync, renameSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SinkError, type RunningLogAgent } from '../../../src/sidecar/logs/index.js';
import type { LogAgentConfig } from '../../../src/lib/log-agent-config.js';
import { account, CollectSink, startAgent, tempDir, waitFor, writeSeq } from './helpers.js';

interface Ctx {
  dir: string;
  sink: CollectSink;
  agent: RunningLogAgent;
  config: Partial<LogAgentConfig>;
}

type Step =
  | { write: string; from: number; to: number }
  | { rename: [string, string] }
  | { copy: [string, string] }
  | { truncate: string }
  | { waitSeen: number }
  | { restartAgent: true }
  | { sinkDown: boolean }
  | { sinkErrors: number | false; retryAfterMs?: number }
  | { sleepMs: number };

interface Case {
  name: string;
  config?: Partial<LogAgentConfig>;
  steps: Step[];
  /** Sequence numbers [from, to) that must all arrive. */
  expect: [number, number];
  maxDuplicates?: number;
}

const cases: Case[] = [
  {
    name: 'create-rotation: the renamed file is read to its end, the new file from its head',
    steps: [{ write: 'logs/app.log', from: 0, to: 500 }, { rename: ['logs/app.log', 'logs/app.log.1'] }, { write: 'logs/app.log', from: 500, to: 1000 }],
    expect: [0, 1000],
    maxDuplicates: 0,
  },
  {
    name: 'create-rotation twice while the agent is busy (glob covers rotated names)',
    config: { files: ['logs/app.log*'] },
    steps: [
      { write: 'logs/app.log', from: 0, to: 3000 },
      { rename: ['logs/app.log', 'logs/app.log.1'] },
      { write: 'logs/app.log', from: 3000, to: 6000 },
      { rename: ['logs/app.log.1', 'logs/app.log.2'] },
      { rename: ['logs/app.log', 'logs/app.log.1'] },
      { write: 'logs/app.log', from: 6000, to: 7000 },
    ],
    expect: [0, 7000],
    maxDuplicates: 0,
  },
  {
    name: 'copytruncate: the copy carries the old fingerprint and is resumed at the stored offset',
    steps: [
      { write: 'logs/app.log', from: 0, to: 200 },
      { waitSeen: 100 },
      { write: 'logs/app.log', from: 200, to: 2000 },
      { copy: ['logs/app.log', 'logs/app.log.1'] },
      { truncate: 'logs/app.log' },
      { write: 'logs/app.log', from: 2000, to: 2500 },
    ],
    expect: [0, 2500],
    maxDuplicates: 0,
  },
  {
    name: 'truncation: a file cut to zero is read again from its head',
    steps: [{ write: 'logs/app.log', from: 0, to: 300 }, { waitSeen: 300 }, { truncate: 'logs/app.log' }, { write: 'logs/app.log', from: 300, to: 600 }],
    expect: [0, 600],
    maxDuplicates: 0,
  },
  {
    name: 'a new file matching the glob appears later',
    steps: [{ write: 'logs/a.log', from: 0, to: 100 }, { waitSeen: 100 }, { write: 'logs/b.log', from: 100, to: 200 }],
    expect: [0, 200],
    maxDuplicates: 0,
  },
  {
    name: 'rename within the glob: same content, same source, no re-read',
    steps: [{ write: 'logs/a.log', from: 0, to: 100 }, { waitSeen: 100 }, { rename: ['logs/a.log', 'logs/b.log'] }, { write: 'logs/b.log', from: 100, to: 200 }],
    expect: [0, 200],
    maxDuplicates: 0,
  },
  {
    name: 'agent restart mid-stream resumes from the checkpoint',
    steps: [{ write: 'logs/app.log', from: 0, to: 20_000 }, { waitSeen: 3000 }, { restartAgent: true }, { write: 'logs/app.log', from: 20_000, to: 21_000 }],
    expect: [0, 21_000],
  },
  {
    name: 'sink down for a while, then back (block: reading pauses, nothing lost)',
    config: { buffer: { type: 'memory', maxRecords: 500, maxBytes: 1 << 20, whenFull: 'block' } },
    steps: [{ sinkDown: true }, { write: 'logs/app.log', from: 0, to: 5000 }, { sleepMs: 500 }, { sinkDown: false }],
    expect: [0, 5000],
    maxDuplicates: 0,
  },
  {
    name: 'sink answers 500 (and 429 with Retry-After) for a while',
    steps: [{ sinkErrors: 500 }, { write: 'logs/app.log', from: 0, to: 1000 }, { sleepMs: 300 }, { sinkErrors: 429, retryAfterMs: 200 }, { sleepMs: 300 }, { sinkErrors: false }],
    expect: [0, 1000],
    maxDuplicates: 0,
  },
  {
    name: 'disk buffer: batches accepted to disk survive an agent restart while the sink is down',
    config: { buffer: { type: 'disk', maxRecords: 100, maxBytes: 64 << 20, whenFull: 'block' } },
    steps: [{ sinkDown: true }, { write: 'logs/app.log', from: 0, to: 3000 }, { sleepMs: 800 }, { restartAgent: true }, { sleepMs: 200 }, { sinkDown: false }],
    expect: [0, 3000],
  },
  {
    name: '100 files in one glob',
    steps: Array.from({ length: 100 }, (_, i) => ({ write: `logs/f${String(i).padStart(3, '0')}.log`, from: i * 50, to: i * 50 + 50 })),
    expect: [0, 5000],
    maxDuplicates: 0,
  },
];

async function runStep(c: Ctx, s: Step): Promise<void> {
  const p = (f: string) => join(c.dir, f);
  if ('write' in s) writeSeq(p(s.write), s.from, s.to, `file=${s.write}`);
  else if ('rename' in s) renameSync(p(s.rename[0]), p(s.rename[1]));
  else if ('copy' in s) copyFileSync(p(s.copy[0]), p(s.copy[1]));
  else if ('truncate' in s) truncateSync(p(s.truncate), 0);
  else if ('waitSeen' in s) await waitFor(`${s.waitSeen} records`, () => c.sink.records.length >= s.waitSeen);
  else if ('restartAgent' in s) {
    await c.agent.stop(2000);
    c.agent = startAgent(c.dir, c.sink, c.config);
  } else if ('sinkDown' in s) c.sink.failure = s.sinkDown ? new SinkError('connection refused', true) : undefined;
  else if ('sinkErrors' in s) c.sink.failure = s.sinkErrors === false ? undefined : new SinkError(`HTTP ${s.sinkErrors}`, true, s.retryAfterMs);
  else if ('sleepMs' in s) await new Promise((r) => setTimeout(r, s.sleepMs));
}

for (const k of cases) {
  test(k.name, async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'logs'));
    const sink = new CollectSink();
    const c: Ctx = { dir, sink, agent: startAgent(dir, sink, k.config), config: k.config ?? {} };
    try {
      for (const s of k.steps) await runStep(c, s);
      await waitFor('every line', () => account(sink.records, ...k.expect).missing.length === 0, 20_000).catch(() => {});
      const a = account(sink.records, ...k.expect);
      assert.deepEqual(a.missing.slice(0, 20), [], `lost ${a.missing.length} lines`);
      if (a.duplicates > 0) console.log(`# ${k.name}: ${a.duplicates} duplicates`);
      if (k.maxDuplicates !== undefined) assert.ok(a.duplicates <= k.maxDuplicates, `${a.duplicates} duplicates`);
    } finally {
      await c.agent.stop(500);
    }
  });
}

test('CRI capture files: P pieces of each stream are joined; the agent skips its own capture file', async () => {
  const dir = tempDir();
  const cap = join(dir, 'capture');
  mkdirSync(cap);
  const t = '2026-11-26T22:34:19.123456789Z';
  writeFileSync(join(cap, 'app.log'), `${t} stdout P seq=1 first-\n${t} stderr F seq=2 err\n${t} stdout F half\n`);
  writeFileSync(join(cap, 'logs.log'), `${t} stderr F seq=99 agent noise\n`);
  const sink = new CollectSink();
  const agent = startAgent(dir, sink, { captureDir: cap, files: [] });
  try {
    await waitFor('2 records', () => sink.records.length >= 2);
    appendFileSync(join(cap, 'app.log'), `${t} stdout F seq=3 last\n`);
    await waitFor('3 records', () => sink.records.length >= 3);
    const msgs = sink.records.map((r) => `${r.stream}:${r.message}`).sort();
    assert.deepEqual(msgs, ['stderr:seq=2 err', 'stdout:seq=1 first-half', 'stdout:seq=3 last']);
    assert.equal(sink.records[0].time, t);
    assert.equal(sink.records[0].process, 'app');
  } finally {
    await agent.stop(500);
  }
});

test('a 10 MiB line is truncated while streaming (marked, counted); lines around it arrive; invalid UTF-8 is kept', async () => {
  const dir = tempDir();
  mkdirSync(join(dir, 'logs'));
  const sink = new CollectSink();
  const agent = startAgent(dir, sink, { maxLineBytes: 4096 });
  try {
    const f = join(dir, 'logs', 'app.log');
    writeSeq(f, 0, 10);
    const chunk = Buffer.alloc(1024 * 1024, 0x41);
    for (let i = 0; i < 10; i++) appendFileSync(f, chunk);
    appendFileSync(f, '\n');
    appendFileSync(f, Buffer.concat([Buffer.from('seq=10 bad bytes '), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from('\n')]));
    writeSeq(f, 11, 20);
    await waitFor('all lines', () => account(sink.records, 0, 20).missing.length === 0 && sink.records.length >= 21);
    const long = sink.records.find((r) => r.truncated);
    assert.ok(long, 'the long line arrives truncated');
    assert.match(long.message, /…\[truncated \d+ bytes\]$/);
    assert.ok(long.message.length < 5000);
    assert.equal(agent.tailer.stats.truncatedLines, 1);
    const bad = sink.records.find((r) => r.message.startsWith('seq=10'));
    assert.ok(bad?.rawBase64);
    assert.ok(Buffer.from(bad.rawBase64, 'base64').includes(Buffer.from([0xc3, 0x28, 0xff])));
    assert.ok(process.memoryUsage.rss() < 400 * 1024 * 1024);
  } finally {
    await agent.stop(500);
  }
});

test('malformed JSON lines are kept as text; multiline stack traces become one record each', async () => {
  const dir = tempDir();
  mkdirSync(join(dir, 'logs'));
  const sink = new CollectSink();
  const agent = startAgent(dir, sink, { parsers: [{ type: 'json' }], multiline: { preset: 'node', timeoutMs: 200 } });
  try {
    const f = join(dir, 'logs', 'app.log');
    appendFileSync(f, '{"level":"info","msg":"seq=0 ok"}\n{"level":"info","msg":"seq=1 cut\n');
    appendFileSync(f, 'Error: seq=2 boom\n    at a (x.js:1:1)\n    at b (x.js:2:2)\n{"level":"warn","msg":"seq=3 after"}\n');
    await waitFor('4 records', () => sink.records.length >= 4);
    const byMsg = sink.records.map((r) => r.message);
    assert.deepEqual(byMsg, ['seq=0 ok', '{"level":"info","msg":"seq=1 cut', 'Error: seq=2 boom\n    at a (x.js:1:1)\n    at b (x.js:2:2)', 'seq=3 after']);
    assert.equal(sink.records[3].level, 'warn');
  } finally {
    await agent.stop(500);
  }
});

test('drop_newest: a full buffer drops (and counts) instead of blocking', async () => {
  const dir = tempDir();
  mkdirSync(join(dir, 'logs'));
  const sink = new CollectSink();
  sink.failure = new SinkError('down', true);
  const agent = startAgent(dir, sink, { buffer: { type: 'memory', maxRecords: 100, maxBytes: 1 << 20, whenFull: 'drop_newest' } });
  try {
    writeSeq(join(dir, 'logs', 'app.log'), 0, 2000);
    await waitFor('reading done', () => agent.pipeline.stats.linesRead >= 2000);
    const d = agent.deliveries[0].stats;
    assert.ok(d.dropped >= 1800, `dropped ${d.dropped}`);
    sink.failure = undefined;
    await waitFor('queue drained', () => agent.deliveries[0].stats.queued === 0);
    assert.equal(sink.records.length + d.dropped, 2000);
  } finally {
    await agent.stop(500);
  }
});

test('stopping drains: lines written just before the agent is told to stop are still delivered', async () => {
  const dir = tempDir();
  mkdirSync(join(dir, 'logs'));
  const sink = new CollectSink();
  const agent = startAgent(dir, sink, { multiline: { preset: 'node', timeoutMs: 60_000 } });
  await new Promise((r) => setTimeout(r, 100));
  writeSeq(join(dir, 'logs', 'app.log'), 0, 20_000);
  await agent.stop(5000);
  const a = account(sink.records, 0, 20_000);
  assert.deepEqual(a.missing.slice(0, 10), [], `lost ${a.missing.length}`);
});
