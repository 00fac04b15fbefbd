// Integration tests for the node agent: a real agent process, real instance processes on their own
// loopback addresses, driven over the agent's HTTP API. Every wait is a condition with a deadline.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import type { InstanceObserved, InstanceSpec, ServiceForward } from '../../src/lib/agent-protocol.js';
import { groupMembers, isProcessAlive } from '../../src/lib/proc.js';
import { agentInfoPath } from '../../src/node/index.js';
import { desired, httpProbe, instanceSpec, liveRecordedProcesses, pickPort, startTestAgent, waitFor, type InstanceOptions, type TestAgent } from './node-helpers/harness.js';

let agent: TestAgent;
let generation = 0;
const held = new Map<string, InstanceSpec>();
let services: ServiceForward[] = [];
let nextHost = 2;

before(async () => {
  agent = await startTestAgent();
});

after(async () => {
  await agent?.cleanup();
});

/** A fresh loopback address for one instance, and a free port on it. */
async function address(): Promise<{ host: string; port: number }> {
  const host = `127.77.1.${nextHost++}`;
  return { host, port: await pickPort(host) };
}

/** Adds (or replaces) instances in the desired set and PUTs the whole set. */
async function apply(add: InstanceSpec[] = [], remove: string[] = []): Promise<void> {
  for (const s of add) held.set(s.id, s);
  for (const id of remove) held.delete(id);
  await agent.put(desired(++generation, [...held.values()], services));
}

async function appInstance(o: Partial<InstanceOptions> & { id: string }): Promise<InstanceSpec> {
  const addr = o.host && o.port ? { host: o.host, port: o.port } : await address();
  return instanceSpec({ script: agent.script('app'), logDir: join(agent.dir, 'logs', o.id), ...addr, ...o });
}

function waitStatus(id: string, pred: (i: InstanceObserved) => boolean, what: string, timeoutMs = 10_000): Promise<InstanceObserved> {
  return waitFor(async () => {
    const i = await agent.instance(id);
    return i && pred(i) ? i : undefined;
  }, timeoutMs, `${id}: ${what}`);
}

const waitReady = (id: string, timeoutMs = 10_000): Promise<InstanceObserved> => waitStatus(id, (i) => i.status === 'ready' && i.ready, 'ready', timeoutMs);

function httpGet(host: string, port: number, path = '/'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host, port, path, agent: false, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
  });
}

async function eventsFor(id: string, reason?: string): Promise<{ reason: string; message: string; seq: number }[]> {
  return (await agent.events()).filter((e) => e.instance === id && (!reason || e.reason === reason));
}

test('rejects requests without the token and bad bodies, without crashing', async () => {
  assert.equal((await agent.request('GET', '/healthz', undefined, 'wrong')).status, 401);
  const health = await agent.request('GET', '/healthz');
  assert.equal(health.status, 200);
  assert.equal((health.body as { node: string }).node, 'node-1');
  assert.equal((await agent.request('PUT', '/desired', '{not json')).status, 400);
  const invalid = await agent.request('PUT', '/desired', { generation: 1, instances: [{ id: 'x' }] });
  assert.equal(invalid.status, 400);
  assert.match((invalid.body as { error: string }).error, /desired\.instances\[0\]\.app/);
  assert.equal((await agent.request('GET', '/events?after=abc')).status, 400);
  assert.equal((await agent.request('GET', '/nope')).status, 404);
  assert.equal((await agent.request('DELETE', '/desired')).status, 405);
  assert.equal((await agent.request('GET', '/healthz')).status, 200);
  const info = JSON.parse(readFileSync(agentInfoPath(agent.stateDir, agent.node), 'utf8'));
  assert.equal(info.pid, agent.child.pid);
  assert.equal(info.port, agent.info.port);
  assert.equal(typeof info.startTime, 'number');
});

test('an instance becomes ready; kill -9 restarts it at once, same id, restarts counted', { timeout: 30_000 }, async () => {
  const spec = await appInstance({ id: 'web-1', probes: { readiness: httpProbe('/ready', 0) } });
  spec.probes.readiness = httpProbe('/ready', spec.port as number);
  await apply([spec]);
  const ready = await waitReady('web-1');
  assert.equal(ready.restarts, 0);
  assert.equal((await httpGet(spec.host, spec.port as number)).body, 'web-1');
  const pid = ready.pid as number;
  assert.ok(isProcessAlive(pid, ready.main.startTime));

  const t0 = performance.now();
  process.kill(pid, 'SIGKILL');
  const again = await waitStatus('web-1', (i) => i.ready && i.pid !== pid, 'ready again with a new pid');
  const ms = performance.now() - t0;
  assert.equal(again.id, 'web-1');
  assert.equal(again.restarts, 1);
  assert.equal(again.main.lastExit?.signal, 'SIGKILL');
  assert.equal(again.main.lastExit?.reason, 'Error');
  assert.ok(ms < 1000, `first restart should be immediate; kill → ready took ${ms.toFixed(0)} ms`);
  const reasons = (await eventsFor('web-1')).map((e) => e.reason);
  assert.deepEqual(reasons.slice(-3), ['Exited', 'Started', 'Ready']);
});

test('re-sending the same desired set restarts nothing', async () => {
  const before = await agent.instances();
  const lastSeq = Math.max(0, ...(await agent.events()).map((e) => e.seq));
  await apply();
  await apply();
  const health = await agent.request('GET', '/healthz');
  assert.equal((health.body as { generation: number }).generation, generation);
  const after = await agent.instances();
  assert.deepEqual(
    after.map((i) => [i.id, i.pid, i.restarts]),
    before.map((i) => [i.id, i.pid, i.restarts]),
  );
  const started = (await agent.events(lastSeq)).filter((e) => e.reason === 'Started' || e.reason === 'Killing');
  assert.deepEqual(started, []);
});

test('liveness failure: Unhealthy and Killing events, app restarted', { timeout: 30_000 }, async () => {
  const addr = await address();
  const spec = await appInstance({
    id: 'live-1',
    ...addr,
    // initialDelaySeconds: a restarted app gets a second to listen before liveness counts (as in Kubernetes,
    // liveness without it kills a slow starter: on a loaded 2-core machine Node can take more than the 0.4 s
    // that period × threshold would leave, and the test then saw a crash loop, not one restart).
    probes: { liveness: httpProbe('/healthz', addr.port, { periodSeconds: 0.2, failureThreshold: 2, initialDelaySeconds: 1 }), readiness: httpProbe('/ready', addr.port) },
  });
  await apply([spec]);
  const ready = await waitReady('live-1');
  await httpGet(addr.host, addr.port, '/sick');
  const restarted = await waitStatus('live-1', (i) => i.restarts === 1 && i.ready && i.pid !== ready.pid, 'restarted after liveness failure');
  assert.equal(restarted.main.lastExit?.reason, 'Unhealthy');
  // The app exits on SIGTERM by itself (code 0): it was asked, not SIGKILLed.
  assert.equal(restarted.main.lastExit?.signal, null, JSON.stringify(restarted.main.lastExit));
  const reasons = (await eventsFor('live-1')).map((e) => e.reason);
  assert.ok(reasons.includes('Unhealthy'), reasons.join());
  assert.ok(reasons.indexOf('Killing') > reasons.indexOf('Unhealthy'), reasons.join());
  assert.ok(!isProcessAlive(ready.pid as number, ready.main.startTime));
});

test('liveness failure: SIGTERM first, SIGKILL only after the grace period (Kubernetes semantics)', { timeout: 30_000 }, async () => {
  const addr = await address();
  const stopLog = join(agent.dir, 'live-grace.log');
  const spec = await appInstance({
    id: 'live-2',
    ...addr,
    // The app traps SIGTERM, notes it and keeps running: only the SIGKILL after the grace period ends it.
    env: { IGNORE_SIGTERM: '1', STOP_LOG: stopLog },
    probes: { liveness: httpProbe('/healthz', addr.port, { periodSeconds: 0.2, failureThreshold: 2, initialDelaySeconds: 1 }), readiness: httpProbe('/ready', addr.port) },
    restart: { policy: 'never' },
    grace: 1.5,
  });
  await apply([spec]);
  const ready = await waitReady('live-2');
  await httpGet(addr.host, addr.port, '/sick');
  const exited = await waitStatus('live-2', (i) => i.main.lastExit?.reason === 'Unhealthy', 'killed after liveness failure');
  assert.equal(readFileSync(stopLog, 'utf8').trim(), 'app SIGTERM live-2', 'the app got SIGTERM first');
  assert.equal(exited.main.lastExit?.signal, 'SIGKILL', 'it ignored SIGTERM, so SIGKILL ended it');
  const killing = (await eventsFor('live-2', 'Killing')).find((e) => e.message.includes('liveness'));
  const exit = (await eventsFor('live-2', 'Exited')).at(-1);
  assert.ok(killing && exit, 'Killing and Exited events');
  const all = await agent.events();
  const at = (seq: number): number => Date.parse(all.find((e) => e.seq === seq)!.at);
  const waited = at(exit.seq) - at(killing.seq);
  assert.ok(waited >= 1400, `SIGKILL came ${waited} ms after Killing, not before the 1.5 s grace period`);
  assert.ok(!isProcessAlive(ready.pid as number, ready.main.startTime));
});

test('a startup probe gates liveness: a slow starter is not killed', { timeout: 30_000 }, async () => {
  const gated = await address();
  const ungated = await address();
  const slow = { STARTUP_DELAY_MS: '1500' };
  const live = (port: number) => httpProbe('/healthz', port, { periodSeconds: 0.1, failureThreshold: 2 });
  const withStartup = await appInstance({
    id: 'slow-1',
    ...gated,
    env: slow,
    probes: { startup: httpProbe('/healthz', gated.port, { periodSeconds: 0.2, failureThreshold: 50 }), liveness: live(gated.port) },
  });
  // The control: the same app without a startup probe is killed by its liveness probe while warming up.
  const without = await appInstance({ id: 'slow-2', ...ungated, env: slow, probes: { liveness: live(ungated.port) }, restart: { policy: 'never' } });
  await apply([withStartup, without]);
  const ok = await waitReady('slow-1');
  assert.equal(ok.restarts, 0);
  const killed = await waitStatus('slow-2', (i) => i.main.lastExit?.reason === 'Unhealthy', 'killed by liveness');
  assert.equal(killed.status, 'stopped');
  assert.deepEqual(await eventsFor('slow-1', 'Unhealthy'), []);
  await apply([], ['slow-2']);
});

test('memory limit: OOMKilled event and restart', { timeout: 30_000 }, async () => {
  const addr = await address();
  const spec = await appInstance({ id: 'hog-1', ...addr, memoryMiB: 120, probes: { readiness: httpProbe('/ready', addr.port) } });
  await apply([spec]);
  const ready = await waitReady('hog-1');
  await httpGet(addr.host, addr.port, '/alloc?mb=200').catch(() => undefined);
  const again = await waitStatus('hog-1', (i) => i.restarts === 1 && i.ready && i.pid !== ready.pid, 'restarted after OOM', 15_000);
  assert.equal(again.main.lastExit?.reason, 'OOMKilled');
  const oom = await eventsFor('hog-1', 'OOMKilled');
  assert.equal(oom.length, 1);
  assert.match(oom[0].message, /above its limit of 120 MiB/);
});

test('a crashed sidecar restarts alone; an app restart leaves the sidecar alone', { timeout: 30_000 }, async () => {
  const addr = await address();
  const spec = await appInstance({
    id: 'side-1',
    ...addr,
    sidecars: [{ name: 'proxy', script: agent.script('sidecar') }],
    probes: { readiness: httpProbe('/ready', addr.port) },
  });
  await apply([spec]);
  const first = await waitReady('side-1');
  const sidecarPid = first.sidecars[0].pid as number;
  assert.ok(sidecarPid > 0);
  assert.ok((first.sidecars[0].startTime ?? 0) <= (first.main.startTime ?? 0), 'sidecar starts before the app');

  process.kill(sidecarPid, 'SIGKILL');
  const afterSidecar = await waitStatus('side-1', (i) => i.sidecars[0].restarts === 1 && i.sidecars[0].state === 'running', 'sidecar restarted');
  assert.equal(afterSidecar.pid, first.pid, 'app pid unchanged');
  assert.equal(afterSidecar.restarts, 0);
  assert.equal(afterSidecar.status, 'ready');
  assert.equal((await eventsFor('side-1', 'SidecarRestarted')).length, 1);

  const newSidecarPid = afterSidecar.sidecars[0].pid;
  process.kill(first.pid as number, 'SIGKILL');
  const afterApp = await waitStatus('side-1', (i) => i.restarts === 1 && i.ready, 'app restarted');
  assert.equal(afterApp.sidecars[0].pid, newSidecarPid, 'sidecar pid unchanged');
  assert.equal(afterApp.sidecars[0].restarts, 1);
});

test('a traffic sidecar (listenPort) gates readiness: ready only once it listens, unready while it restarts', { timeout: 30_000 }, async () => {
  const addr = await address();
  const sidecarPort = await pickPort(addr.host);
  const spec = await appInstance({
    id: 'listen-1',
    ...addr,
    sidecars: [{ name: 'proxy', script: agent.script('sidecar'), env: { LISTEN_PORT: String(sidecarPort), LISTEN_AFTER_MS: '1500' }, listenPort: sidecarPort }],
    probes: { readiness: httpProbe('/ready', addr.port) },
  });
  await apply([spec]);
  // The app passes its readiness probe long before the sidecar listens (1.5 s after its start).
  const early = await waitStatus('listen-1', (i) => /waiting for sidecar proxy to listen/.test(i.message ?? ''), 'app ready, sidecar not listening');
  assert.equal(early.ready, false, 'not ready while the traffic sidecar does not listen');
  assert.equal(early.status, 'starting');
  const ready = await waitReady('listen-1');
  const readyEvent = (await eventsFor('listen-1', 'Ready')).at(-1);
  assert.match(readyEvent?.message ?? '', /sidecar proxy listening/);

  process.kill(ready.sidecars[0].pid as number, 'SIGKILL');
  await waitStatus('listen-1', (i) => !i.ready, 'unready while the sidecar is down');
  const again = await waitReady('listen-1');
  assert.equal(again.pid, ready.pid, 'the app was not restarted');
  await apply([], ['listen-1']);
});

test('forwarder round-robins over ready instances and skips an unready one', { timeout: 30_000 }, async () => {
  const servicePort = await pickPort('127.0.0.1');
  services = [{ name: 'rr', host: '127.0.0.1', port: servicePort }];
  const specs: InstanceSpec[] = [];
  for (const [id, env] of [
    ['rr-1', {}],
    ['rr-2', {}],
    ['rr-3', { NOT_READY: '1' }],
  ] as const) {
    const addr = await address();
    specs.push(await appInstance({ id, service: 'rr', ...addr, env, probes: { readiness: httpProbe('/ready', addr.port) } }));
  }
  await apply(specs);
  await waitReady('rr-1');
  await waitReady('rr-2');
  await waitStatus('rr-3', (i) => i.status === 'starting', 'running but not ready');
  const seen: string[] = [];
  await waitFor(() => httpGet('127.0.0.1', servicePort).then(() => true), 5000, 'service listener');
  for (let i = 0; i < 6; i++) seen.push((await httpGet('127.0.0.1', servicePort)).body);
  assert.ok(!seen.includes('rr-3'), seen.join());
  assert.equal(seen.filter((s) => s === 'rr-1').length, 3, seen.join());
  assert.equal(seen.filter((s) => s === 'rr-2').length, 3, seen.join());
  for (let i = 1; i < seen.length; i++) assert.notEqual(seen[i], seen[i - 1], `alternates: ${seen.join()}`);

  // Removing the service closes its listener.
  services = [];
  await apply([], ['rr-1', 'rr-2', 'rr-3']);
  await waitFor(() => httpGet('127.0.0.1', servicePort).then(() => false, () => true), 5000, 'listener closed');
});

test('a busy service port gives a PortInUse warning', { timeout: 15_000 }, async () => {
  const port = await pickPort('127.0.0.1');
  const blocker = http.createServer();
  await new Promise<void>((r) => blocker.listen(port, '127.0.0.1', r));
  try {
    services = [{ name: 'busy', host: '127.0.0.1', port }];
    await apply();
    await waitFor(async () => (await agent.events()).some((e) => e.reason === 'PortInUse' && e.service === 'busy'), 5000, 'PortInUse event');
  } finally {
    services = [];
    await apply();
    blocker.close();
  }
});

test('stdout and stderr are written in CRI format, long lines split, last partial line flushed', { timeout: 20_000 }, async () => {
  const addr = await address();
  const logDir = join(agent.dir, 'logs', 'log-1');
  const spec = instanceSpec({ id: 'log-1', ...addr, script: agent.script('logger'), logDir, restart: { policy: 'never' } });
  await apply([spec]);
  await waitStatus('log-1', (i) => i.status === 'stopped' && i.main.lastExit?.reason === 'Completed', 'completed');
  const file = join(logDir, 'app.log');
  const lines = await waitFor(() => {
    const l = existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];
    return l.some((x) => x.endsWith('tail without newline')) ? l : undefined;
  }, 5000, 'log flushed');
  const rec = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z) (stdout|stderr) ([FP]) (.*)$/;
  for (const l of lines) assert.match(l, rec);
  const parsed = lines.map((l) => rec.exec(l) as RegExpExecArray);
  assert.ok(parsed.some((m) => m[2] === 'stdout' && m[3] === 'F' && m[4] === 'hello stdout'));
  assert.ok(parsed.some((m) => m[2] === 'stderr' && m[3] === 'F' && m[4] === 'hello stderr'));
  const long = parsed.filter((m) => m[4].startsWith('xxxx'));
  assert.deepEqual(long.map((m) => [m[3], m[4].length]), [['P', 16384], ['F', 20000 - 16384]]);
  // The partial last line closes stdout's records. (Not necessarily the file's: stdout and stderr are
  // two pipes read independently, as kubelet reads them, so stderr's line may be read after it.)
  const stdout = parsed.filter((m) => m[2] === 'stdout');
  assert.equal(stdout[stdout.length - 1][4], 'tail without newline');
  await apply([], ['log-1']);
});

test('tcp, exec and grpc probes', { timeout: 30_000 }, async () => {
  mkdirSync(join(agent.dir, 'logs'), { recursive: true });
  const g1 = await address();
  const g2 = await address();
  const t1 = await address();
  const grpcProbe = (port: number) => ({ ...httpProbe('/', port), handler: { grpc: { port } } });
  const serving = instanceSpec({ id: 'grpc-1', service: 'grpc', ...g1, script: agent.script('grpc'), logDir: join(agent.dir, 'logs', 'grpc-1'), probes: { readiness: grpcProbe(g1.port) } });
  const notServing = instanceSpec({ id: 'grpc-2', service: 'grpc', ...g2, script: agent.script('grpc'), env: { GRPC_STATUS: '2' }, logDir: join(agent.dir, 'logs', 'grpc-2'), probes: { readiness: grpcProbe(g2.port) } });
  const tcpExec = await appInstance({
    id: 'tcp-1',
    ...t1,
    probes: {
      liveness: { ...httpProbe('/', t1.port), handler: { tcp: { port: t1.port } } },
      readiness: { ...httpProbe('/', t1.port), handler: { exec: { command: ['sh', '-c', 'test "$BERTH_INSTANCE" = tcp-1'] } } },
    },
  });
  await apply([serving, notServing, tcpExec]);
  await waitReady('grpc-1');
  await waitReady('tcp-1');
  const ns = await waitStatus('grpc-2', (i) => (i.message ?? '').includes('NOT_SERVING'), 'NOT_SERVING reported');
  assert.equal(ns.ready, false);
  await apply([], ['grpc-1', 'grpc-2', 'tcp-1']);
});

test('stop order: out of rotation, app SIGTERM, SIGKILL after grace, then sidecars', { timeout: 30_000 }, async () => {
  const addr = await address();
  const stopLog = join(agent.dir, 'stop.log');
  const spec = await appInstance({
    id: 'stop-1',
    ...addr,
    env: { IGNORE_SIGTERM: '1', STOP_LOG: stopLog },
    sidecars: [{ name: 'proxy', script: agent.script('sidecar'), env: { STOP_LOG: stopLog } }],
    probes: { readiness: httpProbe('/ready', addr.port) },
    grace: 1,
  });
  await apply([spec]);
  const ready = await waitReady('stop-1');
  const t0 = performance.now();
  await apply([], ['stop-1']);
  const stopping = await agent.instance('stop-1');
  assert.equal(stopping?.status, 'stopping');
  assert.equal(stopping?.ready, false);
  await waitFor(async () => !(await agent.instance('stop-1')), 10_000, 'instance gone');
  const took = performance.now() - t0;
  assert.ok(took >= 900, `waited the grace period before SIGKILL (${took.toFixed(0)} ms)`);
  assert.deepEqual(readFileSync(stopLog, 'utf8').trim().split('\n'), ['app SIGTERM stop-1', 'sidecar SIGTERM stop-1']);
  assert.equal(isProcessAlive(ready.pid as number, ready.main.startTime), false);
  assert.equal(isProcessAlive(ready.sidecars[0].pid as number, ready.sidecars[0].startTime), false);
  const reasons = (await eventsFor('stop-1')).map((e) => e.reason);
  assert.deepEqual(reasons.slice(-2), ['Killing', 'Stopped']);
});

test('a shell-wrapped app: the whole group gets SIGTERM, stragglers SIGKILL after the grace period', { timeout: 30_000 }, async () => {
  const addr = await address();
  const stopLog = join(agent.dir, 'stop-wrapped.log');
  const spec = await appInstance({ id: 'wrap-1', ...addr, env: { IGNORE_SIGTERM: '1', STOP_LOG: stopLog }, probes: { readiness: httpProbe('/ready', addr.port) }, grace: 1 });
  spec.main.argv = ['sh', '-c', `"${process.execPath}" "${agent.script('app')}"; echo unreachable`];
  await apply([spec]);
  const ready = await waitReady('wrap-1');
  const members = groupMembers(ready.pid as number);
  assert.equal(members.length, 2, 'sh and node share the group');
  const t0 = performance.now();
  await apply([], ['wrap-1']);
  await waitFor(async () => !(await agent.instance('wrap-1')), 10_000, 'instance gone');
  assert.ok(performance.now() - t0 >= 900, 'the node grandchild got the grace period');
  assert.equal(readFileSync(stopLog, 'utf8').trim(), 'app SIGTERM wrap-1');
  for (const pid of members) assert.equal(isProcessAlive(pid), false, `group member ${pid} gone`);
});

test('a program that cannot be spawned is reported and retried with back-off', { timeout: 20_000 }, async () => {
  const spec = await appInstance({ id: 'nofile-1', restart: { initialSeconds: 5, maxSeconds: 5 } });
  spec.main.argv = ['/nonexistent/berth-test-binary'];
  await apply([spec]);
  const i = await waitStatus('nofile-1', (x) => x.status === 'crashloop', 'crashloop');
  assert.match(i.main.lastExit?.message ?? '', /spawn failed: .*ENOENT/);
  await apply([], ['nofile-1']);
  await waitFor(async () => !(await agent.instance('nofile-1')), 5000, 'removed');
});

test('a forwarded connection waits briefly for an instance to become ready', { timeout: 20_000 }, async () => {
  const servicePort = await pickPort('127.0.0.1');
  services = [{ name: 'late', host: '127.0.0.1', port: servicePort }];
  const addr = await address();
  const spec = await appInstance({ id: 'late-1', service: 'late', ...addr, env: { STARTUP_DELAY_MS: '700' }, probes: { readiness: httpProbe('/ready', addr.port) } });
  await apply([spec]);
  const res = await waitFor(() => httpGet('127.0.0.1', servicePort), 3000, 'listener up');
  assert.equal(res.body, 'late-1');
  services = [];
  await apply([], ['late-1']);
});

test('same id with a new revision: old stopped, new started', { timeout: 30_000 }, async () => {
  const addr = await address();
  const v1 = await appInstance({ id: 'rev-1', ...addr, probes: { readiness: httpProbe('/ready', addr.port) } });
  await apply([v1]);
  const old = await waitReady('rev-1');
  await apply([{ ...v1, revision: 'r2' }]);
  const now = await waitStatus('rev-1', (i) => i.revision === 'r2' && i.ready, 'new revision ready');
  assert.notEqual(now.pid, old.pid);
  assert.equal(isProcessAlive(old.pid as number, old.main.startTime), false);
});

test('/watch streams change events', { timeout: 15_000 }, async () => {
  const res = await fetch(`http://127.0.0.1:${agent.info.port}/watch`, { headers: { authorization: `Bearer ${agent.token}` } });
  assert.equal(res.headers.get('content-type'), 'text/event-stream');
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let text = '';
  const readUntil = async (pred: (t: string) => boolean): Promise<void> => {
    while (!pred(text)) {
      const { value, done } = await reader.read();
      if (done) throw new Error('stream ended');
      text += decoder.decode(value);
    }
  };
  await readUntil((t) => t.includes('event: change'));
  const count = (): number => text.split('event: change').length - 1;
  const n = count();
  await apply();
  await readUntil(() => count() > n);
  assert.match(text, /data: \{"generation":\d+/);
  await reader.cancel();
});

test('shutdown stops everything, removes agent.json and exits 0', { timeout: 30_000 }, async () => {
  const pids = liveRecordedProcesses(agent);
  assert.ok(pids.length >= 3, `instances still running: ${pids.join()}`);
  const r = await agent.request('POST', '/shutdown');
  assert.equal(r.status, 202);
  assert.equal(await agent.exited, 0);
  for (const pid of pids) assert.equal(isProcessAlive(pid), false, `pid ${pid} gone`);
  assert.equal(existsSync(agentInfoPath(agent.stateDir, agent.node)), false);
  assert.deepEqual(liveRecordedProcesses(agent), []);
  const events = readFileSync(join(agent.stateDir, 'nodes', 'node-1', 'events.ndjson'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(events[events.length - 1].reason, 'AgentStopped');
  for (let i = 1; i < events.length; i++) assert.equal(events[i].seq, events[i - 1].seq + 1);
});

test('a crashing app goes into crashloop with BackOff events (first restart immediate)', { timeout: 30_000 }, async (t) => {
  const a = await startTestAgent();
  t.after(() => a.cleanup());
  const addr = await address();
  const spec = instanceSpec({
    id: 'crash-1',
    ...addr,
    script: a.script('app'),
    env: { PORT: 'not-a-port' },
    logDir: join(a.dir, 'logs', 'crash-1'),
    restart: { policy: 'on-failure', initialSeconds: 1, maxSeconds: 4 },
  });
  spec.main.argv = [process.execPath, '-e', 'process.exit(3)'];
  await a.put(desired(1, [spec]));
  const looping = await waitFor(async () => {
    const i = (await a.instances()).find((x) => x.id === 'crash-1');
    return i?.status === 'crashloop' ? i : undefined;
  }, 10_000, 'crashloop');
  assert.equal(looping.restarts, 1, 'the first restart was immediate, the second waits');
  assert.equal(looping.main.lastExit?.code, 3);
  assert.match(looping.message ?? '', /back-off/);
  const events = (await a.events()).filter((e) => e.instance === 'crash-1' && e.reason !== 'Ready').map((e) => e.reason);
  assert.deepEqual(events.slice(0, 5), ['Started', 'Exited', 'Started', 'Exited', 'BackOff']);
});

test('SIGTERM to the agent stops its instances and exits 0', { timeout: 30_000 }, async (t) => {
  const a = await startTestAgent();
  t.after(() => a.cleanup());
  const addr = await address();
  const spec = instanceSpec({ id: 'term-1', ...addr, script: a.script('app'), logDir: join(a.dir, 'logs', 'term-1'), sidecars: [{ name: 'proxy', script: a.script('sidecar') }] });
  await a.put(desired(1, [spec]));
  const running = await waitFor(async () => {
    const i = (await a.instances()).find((x) => x.id === 'term-1');
    return i?.pid && i.sidecars[0].pid ? i : undefined;
  }, 10_000, 'running');
  a.child.kill('SIGTERM');
  assert.equal(await a.exited, 0);
  assert.equal(isProcessAlive(running.pid as number, running.main.startTime), false);
  assert.equal(isProcessAlive(running.sidecars[0].pid as number, running.sidecars[0].startTime), false);
});

test('after an agent is SIGKILLed, the next agent for the node fences its leftovers', { timeout: 30_000 }, async (t) => {
  const a = await startTestAgent();
  t.after(() => a.cleanup());
  const addr = await address();
  const spec = instanceSpec({ id: 'orphan-1', ...addr, script: a.script('app'), logDir: join(a.dir, 'logs', 'orphan-1') });
  await a.put(desired(1, [spec]));
  const running = await waitFor(async () => (await a.instances()).find((x) => x.id === 'orphan-1' && x.pid), 10_000, 'running');
  a.child.kill('SIGKILL');
  await a.exited;
  assert.ok(isProcessAlive(running.pid as number, running.main.startTime), 'the orphan survives its agent');
  const b = await startTestAgent({}, a.dir);
  t.after(() => b.cleanup());
  await waitFor(() => !isProcessAlive(running.pid as number, running.main.startTime), 2000, 'fenced at start-up');
  const fenced = (await b.events()).filter((e) => e.reason === 'Fenced');
  assert.equal(fenced.length, 1);
  assert.equal(fenced[0].instance, 'orphan-1');
  assert.ok((await b.events()).some((e) => e.reason === 'Started' && e.instance === 'orphan-1'), 'events of the previous agent are kept');
});

test('fencing kills an orphaned process group whose leader is dead (a shell wrapper\'s children)', { timeout: 30_000 }, async (t) => {
  const a = await startTestAgent();
  t.after(() => a.cleanup());
  const addr = await address();
  const spec = instanceSpec({ id: 'orphan-2', ...addr, script: a.script('app'), logDir: join(a.dir, 'logs', 'orphan-2') });
  spec.main.argv = ['sh', '-c', 'sleep 1000 & sleep 1000 & wait'];
  await a.put(desired(1, [spec]));
  const running = await waitFor(async () => (await a.instances()).find((x) => x.id === 'orphan-2' && x.pid), 10_000, 'running');
  const pgid = running.pid as number;
  const members = await waitFor(() => (groupMembers(pgid).length === 3 ? groupMembers(pgid) : undefined), 5000, 'sh and its two sleeps');
  // Whatever happens below, the sleeps must not outlive the test.
  t.after(() => {
    for (const pid of members) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone: that is the point of the test
      }
    }
  });
  a.child.kill('SIGKILL');
  await a.exited;
  // The leader dies with nobody to reap it (a zombie here); its children live on in its group.
  process.kill(pgid, 'SIGKILL');
  await waitFor(() => !isProcessAlive(pgid, running.main.startTime), 5000, 'leader dead');
  assert.equal(groupMembers(pgid).length, 2, 'the two sleeps survive their leader');
  const b = await startTestAgent({}, a.dir);
  t.after(() => b.cleanup());
  await waitFor(() => groupMembers(pgid).length === 0, 5000, 'the orphaned group fenced');
  assert.ok((await b.events()).some((e) => e.reason === 'Fenced' && e.instance === 'orphan-2'), 'Fenced event');
});

test('capture files rotate at the size cap given to the agent (BERTH_LOG_MAX_BYTES)', { timeout: 20_000 }, async (t) => {
  const a = await startTestAgent({ BERTH_LOG_MAX_BYTES: '4096', BERTH_LOG_KEEP: '2' });
  t.after(() => a.cleanup());
  const addr = await address();
  const logDir = join(a.dir, 'logs', 'chatty-1');
  const spec = instanceSpec({ id: 'chatty-1', ...addr, script: a.script('logger'), logDir, restart: { policy: 'never' } });
  spec.main.argv = [process.execPath, '-e', 'for (let i = 0; i < 500; i++) console.log("line " + i)'];
  await a.put(desired(1, [spec]));
  await waitFor(async () => (await a.instances()).find((i) => i.id === 'chatty-1' && i.status === 'stopped'), 10_000, 'completed');
  const files = await waitFor(() => {
    const f = readdirSync(logDir).sort();
    return f.length === 3 ? f : undefined;
  }, 5000, 'rotated files');
  assert.deepEqual(files, ['app.log', 'app.log.1', 'app.log.2']);
  for (const f of files) assert.ok(statSync(join(logDir, f)).size <= 4096, `${f} within the cap`);
  await waitFor(() => readFileSync(join(logDir, 'app.log'), 'utf8').trimEnd().endsWith('stdout F line 499'), 5000, 'last line in the current file');
});
