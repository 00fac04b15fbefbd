// Issue 12 point 12: `logs.files` belong to the service. Real `berth-logs` processes over one
// working directory: (1) a new instance's agent (a rollout) resumes from the old agent's checkpoints
// instead of re-shipping the file from its head; (2) replicas sharing the directory read each file
// once between them (one reader elected per file), records attributed to the service (no instance),
// and when the reader is SIGKILLed another agent takes over with nothing lost; (3) a path with
// ${BERTH_INSTANCE} is each instance's own file, read by that instance and attributed to it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LogAgentConfig } from '../../src/lib/log-agent-config.js';
import { agentConfig, tempDir, waitFor, writeSeq } from '../unit/logs/helpers.js';
import { countSeq, spawnAgent, type AgentProc } from './logs-agent-proc.js';

interface Out {
  message: string;
  instance: string;
  id: string;
}

function read(paths: string[]): Out[] {
  const out: Out[] = [];
  for (const p of paths) {
    if (!existsSync(p)) continue;
    for (const l of readFileSync(p, 'utf8').split('\n')) {
      try {
        if (l) out.push(JSON.parse(l) as Out);
      } catch {
        // A line being written: read on the next poll.
      }
    }
  }
  return out;
}

function config(dir: string, out: string, files = ['logs/*.log']): LogAgentConfig {
  return agentConfig(dir, { files, sinks: [{ type: 'file', name: 'out', path: out }] });
}

test('a rollout (new instance, new agent) resumes logs.files from the old agent checkpoints, not from the file heads', async () => {
  const dir = tempDir();
  mkdirSync(join(dir, 'logs'));
  const state = join(dir, '.berth');
  const out = join(dir, 'out.jsonl');
  const app = join(dir, 'logs', 'app.log');
  const a = spawnAgent(state, config(dir, out), 'web-1');
  let b: AgentProc | undefined;
  try {
    writeSeq(app, 0, 1000);
    await waitFor('the old agent ships 0..1000', () => countSeq(read([out]).map((r) => r.message), 0, 1000).missing.length === 0);
    await a.stop();
    b = spawnAgent(state, config(dir, out), 'web-2');
    writeSeq(app, 1000, 2000);
    await waitFor('the new agent ships 1000..2000', () => countSeq(read([out]).map((r) => r.message), 1000, 2000).missing.length === 0);
    const { missing, duplicates } = countSeq(read([out]).map((r) => r.message), 0, 2000);
    assert.deepEqual(missing, []);
    assert.equal(duplicates, 0, 'the new agent re-shipped lines the old one had shipped');
  } finally {
    await a.stop();
    await b?.stop();
  }
});

test('replicas sharing a working directory: each file is read once, attributed to the service; the reader SIGKILLed, another takes over', async () => {
  const dir = tempDir();
  mkdirSync(join(dir, 'logs'));
  const state = join(dir, '.berth');
  const outs = [join(dir, 'out-1.jsonl'), join(dir, 'out-2.jsonl')];
  const app = join(dir, 'logs', 'app.log');
  const agents = [spawnAgent(state, config(dir, outs[0]), 'web-1'), spawnAgent(state, config(dir, outs[1]), 'web-2')];
  try {
    writeSeq(app, 0, 5000);
    await waitFor('0..5000', () => countSeq(read(outs).map((r) => r.message), 0, 5000).missing.length === 0);
    // Let a second reader (if there were one) catch up before counting: a marker after the lines.
    writeSeq(app, 100_000, 100_001);
    await waitFor('the marker', () => read(outs).some((r) => r.message.startsWith('seq=100000 ')));
    const all = read(outs);
    assert.equal(countSeq(all.map((r) => r.message), 0, 5000).duplicates, 0, 'both replicas read the file');
    assert.deepEqual([...new Set(all.map((r) => r.instance))], [''], 'records of a shared file name no instance');
    assert.ok(all.every((r) => r.id.startsWith('@web/')), `ids: ${all[0]?.id}`);

    const reader = read([outs[0]]).length > 0 ? 0 : 1;
    agents[reader].child.kill('SIGKILL');
    await agents[reader].stop();
    writeSeq(app, 5000, 8000);
    await waitFor('the other agent takes over 5000..8000', () => countSeq(read(outs).map((r) => r.message), 0, 8000).missing.length === 0, 20_000);
    const other = read([outs[1 - reader]]);
    assert.ok(other.some((r) => r.message.startsWith('seq=7999 ')), 'the other agent read on');
  } finally {
    for (const a of agents) await a.stop();
  }
});

test('a files path with ${BERTH_INSTANCE} is each instance own file: read by it, attributed to it', async () => {
  const dir = tempDir();
  mkdirSync(join(dir, 'logs'));
  const state = join(dir, '.berth');
  const outs = [join(dir, 'out-1.jsonl'), join(dir, 'out-2.jsonl')];
  const files = ['logs/${BERTH_INSTANCE}.log'];
  const agents = [spawnAgent(state, config(dir, outs[0], files), 'web-1'), spawnAgent(state, config(dir, outs[1], files), 'web-2')];
  try {
    writeSeq(join(dir, 'logs', 'web-1.log'), 0, 100);
    writeSeq(join(dir, 'logs', 'web-2.log'), 100, 200);
    await waitFor('both files', () => countSeq(read(outs).map((r) => r.message), 0, 200).missing.length === 0);
    const one = read([outs[0]]);
    const two = read([outs[1]]);
    assert.deepEqual(countSeq(one.map((r) => r.message), 0, 100), { missing: [], duplicates: 0 });
    assert.deepEqual(countSeq(two.map((r) => r.message), 100, 200), { missing: [], duplicates: 0 });
    assert.ok(one.every((r) => r.instance === 'web-1') && two.every((r) => r.instance === 'web-2'));
    assert.equal(one.length + two.length, 200);
  } finally {
    for (const a of agents) await a.stop();
  }
});
