// `berth diff` and policies through the real CLI and a real control plane: diff's exit codes (0
// nothing would change, 1 something would, 2 usage / invalid spec) against nothing applied, the
// running control plane and, once it is down, the last applied state; an enforced policy refusing
// validate / up / apply / render with exit 2 and file:line:col, an audited one letting them through.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { berth, berthOk, portBlock, tempApp } from './harness/berth.js';

const SERVER = "require('node:http').createServer((q, s) => s.end('ok')).listen(Number(process.env.PORT), process.env.HOST);\n";

function spec(port: number, replicas: number, extra = ''): string {
  return `app: difftest
services:
  web:
    run: node srv.js
    port: ${port}
    replicas: ${replicas}
    labels: { owner: team-a }
    probes:
      readiness: { tcp: {} }
      liveness: { tcp: {} }
${extra}`;
}

interface DiffJson {
  source: string;
  changed: boolean;
  services: { service: string; change: string; fields: { path: string; from?: unknown; to?: unknown }[] }[];
}
const diffJson = async (dir: string): Promise<{ code: number; out: DiffJson }> => {
  const r = await berth(dir, ['diff', '--json']);
  return { code: r.code, out: JSON.parse(r.stdout) as DiffJson };
};

describe('berth diff', () => {
  const port = portBlock(1);
  const dir = tempApp({ 'berth.yaml': spec(port, 1), 'srv.js': SERVER });
  after(async () => {
    await berth(dir, ['down']);
  });

  test('exit codes against nothing applied, the running control plane, and the last applied state', async () => {
    const first = await diffJson(dir);
    assert.equal(first.code, 1);
    assert.equal(first.out.source, 'none');
    assert.deepEqual(first.out.services.map((s) => [s.service, s.change]), [['web', 'added']]);

    await berthOk(dir, ['up', '-d', '--wait', '--timeout', '60'], { timeoutMs: 90_000 });
    const same = await berth(dir, ['diff']);
    assert.equal(same.code, 0, same.stdout + same.stderr);
    assert.match(same.stdout, /no changes/);
    assert.match(same.stderr, /running control plane/);

    writeFileSync(join(dir, 'berth.yaml'), spec(port, 2));
    const changed = await diffJson(dir);
    assert.equal(changed.code, 1);
    assert.equal(changed.out.source, 'control-plane');
    assert.deepEqual(changed.out.services.map((s) => [s.service, s.change, s.fields]), [['web', 'changed', [{ path: 'replicas', from: 1, to: 2 }]]]);
    const human = await berth(dir, ['diff']);
    assert.equal(human.code, 1);
    assert.match(human.stdout, /~ web/);
    assert.match(human.stdout, /replicas: 1 → 2/);

    await berthOk(dir, ['apply']);
    assert.equal((await berth(dir, ['diff'])).code, 0, 'applied: nothing left to change');

    await berthOk(dir, ['down'], { timeoutMs: 90_000 });
    const offline = await berth(dir, ['diff', '--json']);
    assert.equal(offline.code, 0, offline.stderr);
    assert.equal((JSON.parse(offline.stdout) as DiffJson).source, 'last-applied');
    writeFileSync(join(dir, 'berth.yaml'), spec(port, 3));
    const offlineChanged = await berth(dir, ['diff']);
    assert.equal(offlineChanged.code, 1);
    assert.match(offlineChanged.stderr, /no control plane is running: compared with the state last applied/);
    assert.match(offlineChanged.stdout, /replicas: 2 → 3/);
  });

  test('usage and invalid specs exit 2', async () => {
    assert.equal((await berth(dir, ['diff', '-f', 'nope.yaml'])).code, 2);
    const bad = tempApp({ 'berth.yaml': 'app: x\nservices:\n  web: { run: node a.js, replicas: many }\n' });
    const r = await berth(bad, ['diff']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /berth\.yaml:3:\d+/);
  });
});

describe('policies in the CLI', () => {
  const port = portBlock(1);
  const enforce = `policies:
  - name: ha
    action: enforce
    rules:
      - name: two-replicas
        validate:
          message: run at least 2 replicas
          pattern: { replicas: ">=2" }
`;
  const dir = tempApp({ 'berth.yaml': spec(port, 1, enforce), 'srv.js': SERVER });
  after(async () => {
    await berth(dir, ['down']);
  });

  test('an enforced violation refuses validate, up, render and apply with exit 2 at file:line:col', async () => {
    const line = 'berth.yaml:6:15: ha/two-replicas: run at least 2 replicas';
    const v = await berth(dir, ['validate']);
    assert.equal(v.code, 2);
    assert.ok(v.stderr.includes(line), v.stderr);
    const up = await berth(dir, ['up', '-d']);
    assert.equal(up.code, 2);
    assert.ok(up.stderr.includes(line), up.stderr);
    assert.equal(existsSync(join(dir, '.berth')), false, 'nothing started');
    const render = await berth(dir, ['render']);
    assert.equal(render.code, 2);
    assert.equal(render.stdout, '');
    const vj = JSON.parse((await berth(dir, ['validate', '--json'])).stdout) as { ok: boolean; violations: { line: number; col: number; result: string }[] };
    assert.equal(vj.ok, false);
    assert.deepEqual(vj.violations.map((x) => [x.line, x.col, x.result]), [[6, 15, 'fail']]);

    // Satisfied: it runs. Then a change that violates the policy is refused by apply; the running state stays.
    writeFileSync(join(dir, 'berth.yaml'), spec(port, 2, enforce));
    await berthOk(dir, ['up', '-d', '--wait', '--timeout', '60'], { timeoutMs: 90_000 });
    writeFileSync(join(dir, 'berth.yaml'), spec(port, 1, enforce));
    const apply = await berth(dir, ['apply']);
    assert.equal(apply.code, 2);
    assert.ok(apply.stderr.includes(line), apply.stderr);
    const d = await berth(dir, ['diff', '--json']);
    assert.equal(d.code, 1, 'the refused change is still pending');
    assert.equal((JSON.parse(d.stdout) as { policyRefused: boolean }).policyRefused, true);

    const report = await berth(dir, ['policy', 'report', '--json']);
    assert.equal(report.code, 1, 'a fail in the report');
    const rj = JSON.parse(report.stdout) as { summary: Record<string, number>; services: { service: string; results: { policy: string; rule: string; result: string; line: number }[] }[] };
    assert.deepEqual(rj.summary, { pass: 0, fail: 1, warn: 0, skip: 0 });
    assert.deepEqual(rj.services.map((s) => [s.service, s.results.map((r) => `${r.policy}/${r.rule}:${r.result}:${r.line}`)]), [['web', ['ha/two-replicas:fail:6']]]);
  });

  test('an audited violation is reported and applied', async () => {
    writeFileSync(join(dir, 'berth.yaml'), spec(port, 1, enforce.replace('action: enforce', 'action: audit')));
    const apply = await berth(dir, ['apply']);
    assert.equal(apply.code, 0, apply.stderr);
    assert.match(apply.stderr, /berth\.yaml:6:15: ha\/two-replicas: run at least 2 replicas \(audit\)/);
    assert.equal((await berth(dir, ['diff'])).code, 0, 'applied');
    const report = await berth(dir, ['policy', 'report']);
    assert.equal(report.code, 0);
    assert.match(report.stdout, /web\s+ha\/two-replicas\s+warn/);
    const last = JSON.parse(readFileSync(join(dir, '.berth', 'last-applied.json'), 'utf8')) as { desired: { services: { name: string; replicas: number }[] } };
    assert.deepEqual(last.desired.services.map((s) => [s.name, s.replicas]), [['web', 1]]);
  });
});
