// Issue 12 point 12: copytruncate with the real logrotate while an app writes. Every line that
// logrotate kept on disk (app.log and its copies) reaches a file sink exactly once: the copy is
// recognised by its content fingerprint and read on from where the agent was, never from offset 0.
// (A file sink, not the embedded store, which would hide duplicates by deduplicating record ids.)
// Needs logrotate (Debian package `logrotate`); in CI a missing logrotate is a failure.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { agentConfig, tempDir, waitFor } from '../unit/logs/helpers.js';
import { countSeq, fileSinkMessages, spawnAgent } from './logs-agent-proc.js';

const logrotate = ['/usr/sbin/logrotate', '/sbin/logrotate', '/usr/bin/logrotate'].find(existsSync);
const TOTAL = Number(process.env.BERTH_TEST_COPYTRUNCATE_LINES ?? 60_000);
const ROUNDS = 10;

/** An app appending `seq=<n>` lines (O_APPEND, as logrotate's copytruncate expects) at a steady pace. */
const writer = (path: string, total: number) => `
const fs = require('node:fs');
const fd = fs.openSync(${JSON.stringify(path)}, 'a');
let n = 0;
const pad = 'w'.repeat(80);
const t = setInterval(() => {
  let s = '';
  for (let i = 0; i < 300 && n < ${total}; i++, n++) s += 'seq=' + n + ' ' + pad + '\\n';
  fs.writeSync(fd, s);
  if (n >= ${total}) { clearInterval(t); fs.closeSync(fd); }
}, 5);
`;

test('copytruncate by the real logrotate while the app writes: every line kept on disk arrives exactly once (file sink)', async (t) => {
  if (!logrotate) {
    if (process.env.CI) assert.fail('logrotate is not installed (apt-get install logrotate)');
    process.stdout.write('# skipped: logrotate not installed (apt-get install logrotate)\n');
    t.skip('logrotate not installed');
    return;
  }
  const dir = tempDir();
  const logs = join(dir, 'logs');
  mkdirSync(logs);
  const app = join(logs, 'app.log');
  writeFileSync(app, '');
  const out = join(dir, 'out.jsonl');
  const conf = join(dir, 'logrotate.conf');
  writeFileSync(conf, `${app} {\n  copytruncate\n  rotate 50\n  missingok\n  nocompress\n}\n`);
  const agent = spawnAgent(join(dir, '.berth'), agentConfig(dir, { files: ['logs/app.log*'], sinks: [{ type: 'file', name: 'out', path: out }] }));
  const child = spawn(process.execPath, ['-e', writer(app, TOTAL)], { stdio: 'ignore' });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  let done = false;
  void exited.then(() => (done = true));
  try {
    // Rotate whenever the file has grown by about 1/ROUNDS of the total, while lines keep coming.
    const step = (TOTAL * 86) / ROUNDS;
    let rounds = 0;
    while (!done && rounds < ROUNDS) {
      await waitFor('the file to grow', () => done || (existsSync(app) && statSync(app).size >= step * 0.8), 30_000);
      if (done) break;
      const r: SpawnSyncReturns<string> = spawnSync(logrotate as string, ['-f', '-s', join(dir, 'logrotate.state'), conf], { encoding: 'utf8' });
      assert.equal(r.status, 0, `logrotate: ${r.stderr}`);
      rounds++;
    }
    await exited;
    assert.ok(rounds >= 3, `only ${rounds} rotations happened`);
    // What logrotate kept: lines in app.log and its copies (copytruncate itself may lose the lines
    // written between its copy and its truncate; those are on no disk and cannot be asked for).
    const onDisk: string[] = [];
    for (const f of readdirSync(logs)) onDisk.push(...readFileSync(join(logs, f), 'utf8').split('\n').filter(Boolean));
    const kept = new Set(onDisk.map((l) => Number(/^seq=(\d+) /.exec(l)?.[1])));
    const wanted = (): number[] => {
      const got = new Set(fileSinkMessages(out).map((m) => Number(/^seq=(\d+) /.exec(m)?.[1])));
      return [...kept].filter((n) => !got.has(n));
    };
    await waitFor('every line kept on disk', () => wanted().length === 0, 30_000).catch((err: Error) => {
      throw new Error(`${err.message}: ${wanted().length} missing; agent: ${agent.stderr()}`);
    });
    const { duplicates } = countSeq(fileSinkMessages(out), 0, TOTAL);
    const status = readFileSync(join(dir, '.berth', 'logs-agent', 'web-1', 'status.json'), 'utf8');
    process.stdout.write(`# tailer: ${JSON.stringify((JSON.parse(status) as { tailer: unknown }).tailer)}\n`);
    process.stdout.write(`# ${rounds} copytruncate rounds, ${kept.size}/${TOTAL} lines kept on disk, ${duplicates} duplicates\n`);
    assert.equal(duplicates, 0, `${duplicates} lines shipped twice`);
  } finally {
    child.kill();
    await agent.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
