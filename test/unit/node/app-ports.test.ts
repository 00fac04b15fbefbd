// The machine-wide private-port registry: announcements of live agents are respected, a dead
// agent's are cleared, released ports are no longer announced, and the range avoids ephemeral ports.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppPorts, candidatePorts, PORT_RANGE } from '../../../src/node/app-ports.js';
import { readProcStat } from '../../../src/lib/proc.js';

const self = { pid: process.pid, startTime: readProcStat(process.pid)!.startTime };

test('candidate ports lie in PORT_RANGE and outside the kernel ephemeral range', () => {
  const [lo, hi] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
  const c = candidatePorts();
  assert.ok(c.length > 1000);
  for (const p of c) assert.ok(p >= PORT_RANGE.first && p <= PORT_RANGE.last && (p < lo || p > hi), `port ${p}`);
});

test('two live agents never get the same port; release drops it; a dead agent is forgotten', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-ports-test-'));
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  try {
    await new Promise((r) => child.once('spawn', r));
    const other = { pid: child.pid!, startTime: readProcStat(child.pid!)!.startTime };
    const a = new AppPorts(self, dir);
    const b = new AppPorts(other, dir);
    const got = new Set<number>();
    for (let i = 0; i < 200; i++) {
      for (const p of [a.claim(`a-${i}`), b.claim(`b-${i}`)]) {
        assert.ok(!got.has(p), `port ${p} handed out twice`);
        got.add(p);
      }
    }
    const fileA = join(dir, `agent-${self.pid}-${self.startTime}.json`);
    const first = Number(Object.keys((JSON.parse(readFileSync(fileA, 'utf8')) as { ports: Record<string, string> }).ports)[0]);
    a.release(first);
    assert.equal((JSON.parse(readFileSync(fileA, 'utf8')) as { ports: Record<string, string> }).ports[String(first)], undefined);
    // A dead agent's announcement (a pid that cannot be alive with that start time) is removed on the next claim.
    const dead = join(dir, 'agent-999999999-1.json');
    writeFileSync(dead, JSON.stringify({ pid: 999999999, startTime: 1, ports: { [String(PORT_RANGE.first)]: 'gone-1' } }));
    a.claim('a-next');
    assert.equal(existsSync(dead), false);
    a.close();
    assert.equal(existsSync(fileA), false);
    assert.equal(readdirSync(dir).length, 1); // b's file
  } finally {
    child.kill('SIGKILL');
  }
});
