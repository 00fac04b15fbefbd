// Compiling a spec into desired state: revisions are stable, change with the template only, and
// instances get the URLs of the services they use.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateSpecText, type AppSpec } from '../../../src/contract/index.js';
import { compile } from '../../../src/plan/index.js';

function spec(yaml: string): { spec: AppSpec; dir: string; file: string } {
  const dir = mkdtempSync(join(tmpdir(), 'berth-plan-'));
  const file = join(dir, 'berth.yaml');
  writeFileSync(file, yaml);
  const r = validateSpecText(yaml, file);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return { spec: r.spec, dir, file };
}

const base = `app: shop
services:
  web:
    run: node web.js --name "my web"
    port: 8080
    replicas: 2
    uses: [orders]
    dependsOn: { orders: ready }
    probes:
      readiness: { http: { path: /ready } }
  orders:
    run: [node, orders.js]
    port: 8081
`;

test('start order puts dependencies first; argv is shell-split; URLs point at service addresses', () => {
  const { spec: s, dir, file } = spec(base);
  const d = compile(s, { dir, specFile: file });
  assert.deepEqual(d.services.map((x) => x.name), ['orders', 'web']);
  const web = d.services[1];
  assert.deepEqual(web.template.main.argv, ['node', 'web.js', '--name', 'my web']);
  // Through the mesh: used services via the instance's own sidecar ($(HOST) is expanded per instance).
  // The app's private PORT is allocated per instance by the node agent (it replaces PORT and $(PORT));
  // probes stay aimed at the spec port, which the agent re-aims at that PORT.
  assert.equal(web.template.main.env.BERTH_ORDERS_URL, 'http://$(HOST):15010');
  assert.equal(web.template.main.env.PORT, '8080');
  assert.equal(web.template.main.cwd, dir);
  assert.deepEqual(web.template.probes.readiness?.handler, { http: { path: '/ready', port: 8080, scheme: 'http', headers: [] } });
  assert.equal(web.template.sidecars[0].name, 'berth-proxy');
  assert.equal(web.template.sidecars[0].env.BERTH_PROXY_PORT, '8080');
  assert.equal(web.template.sidecars[0].env.BERTH_PROXY_APP_PORT, '$(PORT)');
});

test('revisions: stable for the same spec, unchanged by replicas, changed by env or restart generation', () => {
  const a = spec(base);
  const r1 = compile(a.spec, { dir: a.dir, specFile: a.file }).services[1].revision;
  const r2 = compile(a.spec, { dir: a.dir, specFile: a.file }).services[1].revision;
  assert.equal(r1, r2);
  const scaled = spec(base.replace('replicas: 2', 'replicas: 5'));
  assert.equal(compile(scaled.spec, { dir: a.dir, specFile: a.file }).services[1].revision, r1);
  const changed = spec(base.replace('replicas: 2', 'replicas: 2\n    env: { A: b }'));
  assert.notEqual(compile(changed.spec, { dir: a.dir, specFile: a.file }).services[1].revision, r1);
  assert.notEqual(compile(a.spec, { dir: a.dir, specFile: a.file, restartGenerations: { web: 1 } }).services[1].revision, r1);
});

test('envFile values are loaded underneath env', () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-plan-'));
  writeFileSync(join(dir, '.env'), 'A=from-file\nB=file\n');
  const file = join(dir, 'berth.yaml');
  const yaml = `app: x\nservices:\n  s:\n    run: node s.js\n    envFile: .env\n    env: { B: inline }\n`;
  writeFileSync(file, yaml);
  const r = validateSpecText(yaml, file);
  assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
  const d = compile(r.spec, { dir, specFile: file });
  assert.equal(d.services[0].template.main.env.A, 'from-file');
  assert.equal(d.services[0].template.main.env.B, 'inline');
});

test('default readiness: a service with a port and no readiness probe gets a tcp probe on the app\'s port; `none` and port-less services get none', () => {
  const { spec: s, dir, file } = spec(`app: shop
services:
  plain:
    run: node plain.js
    port: 8080
  optout:
    run: node optout.js
    port: 8081
    probes: { readiness: none }
  worker:
    run: node worker.js
  declared:
    run: node declared.js
    port: 8082
    probes: { readiness: { http: { path: /ready } } }
`);
  const d = compile(s, { dir, specFile: file });
  const by = (n: string) => d.services.find((x) => x.name === n)!.template;
  const plain = by('plain');
  // The probe targets where the app listens: the same port a declared probe on the service port is re-aimed at.
  const appPort = Number(plain.main.env.PORT);
  assert.deepEqual(plain.probes.readiness?.handler, { tcp: { port: appPort } });
  assert.equal(plain.probes.readiness?.periodSeconds, 0.2);
  assert.equal(by('optout').probes.readiness, undefined);
  assert.equal(by('worker').probes.readiness, undefined);
  assert.equal(by('declared').probes.readiness?.handler.http?.path, '/ready');
  assert.equal(by('declared').probes.readiness?.handler.http?.port, Number(by('declared').main.env.PORT));
});

test('volumes: a directory each under .berth/volumes/<service>/, named in BERTH_VOLUME_<NAME> for the app and its own sidecars; variants share it', () => {
  const { spec: s, dir, file } = spec(`app: shop
services:
  db:
    run: node db.js
    port: 8080
    sidecars: [{ name: backup, run: node backup.js }]
    volumes:
      - { name: data, path: /var/lib/db, sizeMiB: 512 }
      - { name: wal-archive, path: /wal, sizeMiB: 64, accessMode: ReadWriteMany }
    variants: { v2: { env: { V: "2" } } }
`.replace('sizeMiB: 512 }', 'sizeMiB: 512, accessMode: ReadWriteMany }'));
  const d = compile(s, { dir, specFile: file });
  const [db, v2] = d.services;
  const want = [
    { name: 'data', dir: join(dir, '.berth', 'volumes', 'db', 'data') },
    { name: 'wal-archive', dir: join(dir, '.berth', 'volumes', 'db', 'wal-archive') },
  ];
  assert.deepEqual(db.template.main.volumes, want);
  assert.equal(db.template.main.env.BERTH_VOLUME_DATA, want[0].dir);
  assert.equal(db.template.main.env.BERTH_VOLUME_WAL_ARCHIVE, want[1].dir);
  const backup = db.template.sidecars.find((x) => x.name === 'backup')!;
  assert.deepEqual(backup.volumes, want);
  assert.equal(backup.env.BERTH_VOLUME_DATA, want[0].dir);
  for (const platform of db.template.sidecars.filter((x) => x.name !== 'backup')) assert.equal(platform.volumes, undefined, platform.name);
  assert.equal(v2.name, 'db.v2');
  assert.deepEqual(v2.template.main.volumes, want, 'a variant uses its service\'s volumes');
  // A service without volumes has none (and its revision is what it was).
  const plain = compile(spec(base).spec, { dir, specFile: file }).services[0];
  assert.equal(plain.template.main.volumes, undefined);
  assert.equal(Object.keys(plain.template.main.env).some((k) => k.startsWith('BERTH_VOLUME_')), false);
});

test('mesh.trustedHops reaches the mesh config the proxies get; absent or 0 leaves it out (the edge default)', () => {
  const withHops = (n: string): string => base.replace('services:', `mesh:\n  trustedHops: ${n}\nservices:`);
  const a = spec(withHops('2'));
  assert.equal(compile(a.spec, { dir: a.dir, specFile: a.file }).mesh?.trustedHops, 2);
  const b = spec(withHops('0'));
  assert.equal(compile(b.spec, { dir: b.dir, specFile: b.file }).mesh?.trustedHops, undefined);
});
