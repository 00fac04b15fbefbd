// The private PORT at the node agent, without the mesh: the agent serves HOST:<spec port> itself and
// pipes it to wherever the app bound its PORT (here `localhost`), a TCP probe on the spec port
// follows it there, and when another program holds an instance's PORT the app moves to a new one.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import type { InstanceSpec } from '../../src/lib/agent-protocol.js';
import { desired, instanceSpec, pickPort, startTestAgent, waitFor, type TestAgent } from './node-helpers/harness.js';

/** Answers with its PORT; binds BIND (or every address) once GO_FILE exists (EADDRINUSE ends it). */
const APP = `
import http from 'node:http';
import { existsSync } from 'node:fs';
const server = http.createServer((req, res) => res.end(process.env.PORT));
const start = () => (process.env.BIND ? server.listen(Number(process.env.PORT), process.env.BIND) : server.listen(Number(process.env.PORT)));
const wait = () => (!process.env.GO_FILE || existsSync(process.env.GO_FILE) ? start() : setTimeout(wait, 20));
wait();
process.on('SIGTERM', () => process.exit(0));
`;

let agent: TestAgent;
let generation = 0;
const held: InstanceSpec[] = [];

before(async () => {
  agent = await startTestAgent();
  writeFileSync(join(agent.dir, 'port-app.mjs'), APP);
});
after(async () => {
  await agent?.cleanup();
});

/** Runs one instance of APP on `host` with a fresh spec port; `probes` are built for that port. */
async function run(id: string, host: string, env: Record<string, string>, probes: (port: number) => InstanceSpec['probes'] = () => ({})): Promise<{ spec: InstanceSpec; port: number }> {
  const port = await pickPort(host);
  const spec = instanceSpec({ id, host, port, script: join(agent.dir, 'port-app.mjs'), env, probes: probes(port), logDir: join(agent.dir, 'logs', id) });
  held.push(spec);
  await agent.put(desired(++generation, held));
  return { spec, port };
}

function get(host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    http.get({ host, port, agent: false, timeout: 3000 }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
}

test('without a mesh sidecar: HOST:<spec port> and a TCP probe on it reach an app listening on localhost:PORT', async () => {
  const host = '127.78.1.2';
  // The probe aims at the spec port; the agent re-aims it at PORT where the app bound it.
  const { port } = await run('local-1', host, { BIND: 'localhost' }, (p) => ({
    readiness: { handler: { tcp: { port: p } }, initialDelaySeconds: 0, periodSeconds: 0.2, timeoutSeconds: 1, successThreshold: 1, failureThreshold: 3 },
  }));
  const obs = await waitFor(async () => {
    const i = await agent.instance('local-1');
    return i?.ready && i.appPort ? i : undefined;
  }, 15_000, 'local-1 ready');
  assert.ok(obs.appPort! >= 61000 && obs.appPort !== port, `a private PORT (${obs.appPort})`);
  assert.equal(await get(host, port), String(obs.appPort));
});

test('another program holding the PORT: the app moves to a new PORT and serves', async () => {
  const host = '127.78.1.3';
  const goFile = join(agent.dir, 'go-mover');
  const { port } = await run('mover-1', host, { GO_FILE: goFile });
  const first = await waitFor(async () => (await agent.instance('mover-1'))?.appPort, 10_000, 'mover-1 has a PORT');
  // Take its PORT (all addresses) before the app binds it, then let the app try.
  const squatter = net.createServer((s) => s.end());
  await new Promise<void>((resolve, reject) => {
    squatter.once('error', reject);
    squatter.listen(first, () => resolve());
  });
  try {
    writeFileSync(goFile, '');
    const moved = await waitFor(async () => {
      const i = await agent.instance('mover-1');
      return i && i.appPort !== first && i.status === 'ready' ? i : undefined;
    }, 15_000, 'mover-1 on a new PORT');
    const events = await agent.events();
    assert.ok(events.some((e) => e.reason === 'PortReassigned' && e.instance === 'mover-1' && e.message.includes(`PORT ${first}`)), 'a PortReassigned event');
    assert.equal(await waitFor(() => get(host, port).catch(() => undefined), 10_000, 'HOST:port answers'), String(moved.appPort));
  } finally {
    squatter.close();
  }
});
