// `berth history SERVICE [--json]` against a real control plane (issue 14 point 1): every applied
// change of a service is a numbered revision with its hash, status, why and when; an unchanged
// apply adds nothing; `berth restart` is a new revision; revisionHistoryLimit prunes; the history
// survives a control-plane restart; unknown services and a missing argument exit 1 and 2.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { berth, berthOk, ps, tempApp, waitFor } from './harness/berth.js';

const spec = (version: string, limit = 3) => `app: hist
services:
  worker:
    run: node worker.mjs
    env: { VERSION: "${version}" }
    probes: { readiness: none }
    stopGracePeriodSeconds: 2
    release: { strategy: rolling, revisionHistoryLimit: ${limit} }
`;
const workerJs = `setInterval(() => {}, 1000); process.on('SIGTERM', () => process.exit(0));\n`;

interface History {
  service: string;
  revisions: { number: number; revision: string; status: string; why: string; at: string; specFile: string; message?: string }[];
}

describe('berth history', () => {
  const dir = tempApp({ 'worker.mjs': workerJs, 'berth.yaml': spec('v1') });
  after(async () => {
    await berth(dir, ['down']);
  });
  const history = async (): Promise<History> => JSON.parse((await berthOk(dir, ['history', 'worker', '--json'])).stdout) as History;
  const apply = async (version: string, limit?: number) => {
    writeFileSync(join(dir, 'berth.yaml'), spec(version, limit));
    await berthOk(dir, ['apply']);
  };

  test('applies, an unchanged apply, a restart and a return to an old spec, numbered in order; pruned to the limit', async () => {
    await berthOk(dir, ['up', '-d', '--wait', '--timeout', '30']);
    let h = await history();
    assert.equal(h.service, 'worker');
    assert.equal(h.revisions.length, 1);
    const first = h.revisions[0];
    assert.equal(first.number, 1);
    assert.equal(first.status, 'current');
    assert.equal(first.why, 'applied');
    assert.equal(first.specFile, join(dir, 'berth.yaml'));
    assert.ok(Math.abs(Date.parse(first.at) - Date.now()) < 60_000);
    assert.equal((await ps(dir))[0].revision, first.revision, 'the hash is the one instances carry');

    await apply('v1'); // unchanged
    assert.equal((await history()).revisions.length, 1);
    await apply('v2');
    await apply('v1');
    await waitFor('v1 instance running again', async () => (await ps(dir)).every((r) => r.revision === first.revision));
    // A restart folds a new generation into the hash: a revision of its own.
    await berthOk(dir, ['restart', 'worker']);
    h = await history();
    assert.deepEqual(
      h.revisions.map((r) => [r.number, r.status, r.message ?? '']),
      [
        [1, 'replaced', ''],
        [2, 'replaced', ''],
        [3, 'replaced', ''],
        [4, 'current', 'berth restart'],
      ],
    );
    assert.notEqual(h.revisions[1].revision, first.revision);
    assert.equal(h.revisions[2].revision, first.revision, 'v1 again: the same hash under a new number');
    assert.notEqual(h.revisions[3].revision, first.revision);

    // The human table names the same things.
    const table = await berthOk(dir, ['history', 'worker']);
    assert.match(table.stdout, /^REVISION\s+HASH\s+STATUS\s+WHY\s+WHEN/);
    assert.match(table.stdout, new RegExp(`\\n3\\s+${first.revision}\\s+replaced\\s+applied\\s+`));
    assert.match(table.stdout, /\n4\s+\w+\s+current\s+applied\s+\S+\s+\S+\s+berth restart/);

    // A lower limit prunes the oldest at the next recorded revision; the current one stays.
    await apply('v3', 1);
    h = await history();
    assert.deepEqual(h.revisions.map((r) => [r.number, r.status]), [
      [4, 'replaced'],
      [5, 'current'],
    ]);
  });

  test('the history survives a control-plane restart', async () => {
    const before = await history();
    const info = JSON.parse(readFileSync(join(dir, '.berth', 'control.json'), 'utf8')) as { pid: number };
    process.kill(info.pid, 'SIGKILL');
    await berthOk(dir, ['up', '-d', '--wait', '--timeout', '30']);
    const again = await history();
    assert.deepEqual(again, before);
  });

  test('an unknown service exits 1 with a hint; a missing argument exits 2; --help explains', async () => {
    const unknown = await berth(dir, ['history', 'nope']);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /no service "nope"/);
    assert.equal((await berth(dir, ['history'])).code, 2);
    const help = await berthOk(dir, ['history', '--help']);
    assert.match(help.stdout, /--json/);
  });
});
