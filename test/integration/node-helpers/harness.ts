// Test harness for the node agent: starts the real agent process on a temp state dir, talks to its API,
// builds instance specs, waits on conditions with deadlines, and cleans up every process it caused.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, openSync, closeSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AgentDesired, AgentEvent, AgentInfo, InstanceObserved, InstanceSpec, ProbeConfig, ServiceForward } from '../../../src/lib/agent-protocol.js';
import { agentInfoPath, fenceRecordedProcesses, processesPath, readProcessesFile } from '../../../src/node/index.js';
import { isProcessAlive } from '../../../src/lib/proc.js';
import { GRPC_APP, HTTP_APP, LOGGER, SIDECAR } from './apps.js';

const here = fileURLToPath(new URL('.', import.meta.url));
/** dist/src/node/main.js, next to this compiled file's tree. */
export const AGENT_MAIN = resolve(here, '../../../src/node/main.js');

/** Polls `fn` every 25 ms until it returns a truthy value; throws after `timeoutMs`. */
export async function waitFor<T>(fn: () => T | undefined | null | false | Promise<T | undefined | null | false>, timeoutMs: number, what: string): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      lastError = err;
    }
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? ` (last error: ${(lastError as Error).message})` : ''}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A free port on `host` in 41000–49000 (below the ephemeral range), checked by binding it. */
export async function pickPort(host: string): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = 41000 + Math.floor(Math.random() * 8000);
    const free = await new Promise<boolean>((r) => {
      const s = net.createServer();
      s.once('error', () => r(false));
      s.listen({ host, port, exclusive: true }, () => s.close(() => r(true)));
    });
    if (free) return port;
  }
  throw new Error(`no free port on ${host}`);
}

export interface TestAgent {
  dir: string;
  stateDir: string;
  node: string;
  token: string;
  info: AgentInfo;
  child: ChildProcess;
  exited: Promise<number | null>;
  request(method: string, path: string, body?: unknown, token?: string): Promise<{ status: number; body: unknown }>;
  put(desired: AgentDesired): Promise<void>;
  instances(): Promise<InstanceObserved[]>;
  instance(id: string): Promise<InstanceObserved | undefined>;
  events(after?: number): Promise<AgentEvent[]>;
  /** Writes one of the app programs into the temp dir and returns its path. */
  script(name: 'app' | 'sidecar' | 'logger' | 'grpc'): string;
  /** Stops the agent (POST /shutdown, then SIGKILL + fencing if it hangs) and removes the temp dir. */
  cleanup(): Promise<void>;
}

const SCRIPTS = { app: HTTP_APP, sidecar: SIDECAR, logger: LOGGER, grpc: GRPC_APP };

/** Starts `node dist/src/node/main.js` on a fresh temp state dir and waits for agent.json. */
export async function startTestAgent(env: Record<string, string> = {}, reuseDir?: string): Promise<TestAgent> {
  const dir = reuseDir ?? mkdtempSync(join(tmpdir(), 'berth-agent-test-'));
  const stateDir = join(dir, '.berth');
  const node = 'node-1';
  let token = `t-${Math.random().toString(36).slice(2)}`;
  if (reuseDir) token = readFileSync(join(dir, 'token'), 'utf8').trim();
  else writeFileSync(join(dir, 'token'), token + '\n', { mode: 0o600 });
  const logFd = openSync(join(dir, 'agent.log'), 'a');
  const child = spawn(process.execPath, [AGENT_MAIN, '--state-dir', stateDir, '--node', node, '--token-file', join(dir, 'token')], {
    stdio: ['ignore', logFd, logFd],
    env: { ...process.env, ...env },
  });
  closeSync(logFd);
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const infoFile = agentInfoPath(stateDir, node);
  const info = await waitFor(
    () => {
      if (child.exitCode !== null) throw new Error(`agent exited: ${readFileSync(join(dir, 'agent.log'), 'utf8')}`);
      try {
        const found = JSON.parse(readFileSync(infoFile, 'utf8')) as AgentInfo;
        return found.pid === child.pid ? found : undefined; // not a dead predecessor's file
      } catch {
        return undefined;
      }
    },
    10_000,
    'agent.json',
  );
  const base = `http://127.0.0.1:${info.port}`;
  const request = async (method: string, path: string, body?: unknown, tok = token): Promise<{ status: number; body: unknown }> => {
    const res = await fetch(base + path, {
      method,
      headers: { authorization: `Bearer ${tok}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not JSON: the body is returned as text
    }
    return { status: res.status, body: parsed };
  };
  const written = new Map<string, string>();
  const agent: TestAgent = {
    dir,
    stateDir,
    node,
    token,
    info,
    child,
    exited,
    request,
    async put(desired) {
      const r = await request('PUT', '/desired', desired);
      if (r.status !== 200) throw new Error(`PUT /desired → ${r.status} ${JSON.stringify(r.body)}`);
    },
    async instances() {
      return (await request('GET', '/instances')).body as InstanceObserved[];
    },
    async instance(id) {
      return (await agent.instances()).find((i) => i.id === id);
    },
    async events(after = 0) {
      return (await request('GET', `/events?after=${after}`)).body as AgentEvent[];
    },
    script(name) {
      let p = written.get(name);
      if (!p) {
        p = join(dir, `${name}.mjs`);
        writeFileSync(p, SCRIPTS[name]);
        written.set(name, p);
      }
      return p;
    },
    async cleanup() {
      if (child.exitCode === null && child.signalCode === null) {
        try {
          await request('POST', '/shutdown');
        } catch {
          // the agent may be gone already: it is SIGKILLed below if still running
        }
        const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
        await exited;
        clearTimeout(timer);
      }
      // Whatever a killed agent left behind.
      fenceRecordedProcesses(processesPath(stateDir, node));
      if (!reuseDir) rmSync(dir, { recursive: true, force: true });
    },
  };
  return agent;
}

/** PIDs recorded in processes.json that are still alive (zombies count as dead). */
export function liveRecordedProcesses(agent: TestAgent): number[] {
  const file = readProcessesFile(processesPath(agent.stateDir, agent.node));
  return (file?.processes ?? []).filter((p) => isProcessAlive(p.pid, p.startTime)).map((p) => p.pid);
}

export interface InstanceOptions {
  id: string;
  host: string;
  port: number;
  service?: string;
  revision?: string;
  script: string;
  env?: Record<string, string>;
  sidecars?: { name: string; script: string; env?: Record<string, string>; listenPort?: number }[];
  probes?: InstanceSpec['probes'];
  restart?: Partial<InstanceSpec['restart']>;
  memoryMiB?: number;
  grace?: number;
  logDir: string;
  /** Working directory (default: the script's directory). */
  cwd?: string;
}

/** An InstanceSpec for a node script, with the standard Berth environment. */
export function instanceSpec(o: InstanceOptions): InstanceSpec {
  const service = o.service ?? o.id.replace(/-\d+$/, '');
  const revision = o.revision ?? 'r1';
  const baseEnv = { HOST: o.host, PORT: String(o.port), BERTH_APP: 'test', BERTH_SERVICE: service, BERTH_REVISION: revision, BERTH_INSTANCE: o.id, BERTH_NODE: 'node-1' };
  return {
    id: o.id,
    app: 'test',
    service,
    revision,
    node: 'node-1',
    host: o.host,
    port: o.port,
    main: { name: 'app', argv: [process.execPath, o.script], cwd: o.cwd ?? dirname(o.script), env: { ...baseEnv, ...o.env } },
    sidecars: (o.sidecars ?? []).map((s) => ({ name: s.name, argv: [process.execPath, s.script], cwd: o.cwd ?? dirname(o.script), env: { ...baseEnv, ...s.env }, ...(s.listenPort !== undefined ? { listenPort: s.listenPort } : {}) })),
    probes: o.probes ?? {},
    restart: { policy: 'always', initialSeconds: 0.2, maxSeconds: 2, resetAfterSeconds: 10, ...o.restart },
    ...(o.memoryMiB !== undefined ? { memoryMiB: o.memoryMiB } : {}),
    stopGracePeriodSeconds: o.grace ?? 2,
    logDir: o.logDir,
  };
}

/** An HTTP GET probe with fast local timings. */
export function httpProbe(path: string, port: number, timing: Partial<Omit<ProbeConfig, 'handler'>> = {}): ProbeConfig {
  return {
    handler: { http: { path, port, scheme: 'http', headers: [] } },
    initialDelaySeconds: 0,
    periodSeconds: 0.2,
    timeoutSeconds: 1,
    successThreshold: 1,
    failureThreshold: 3,
    ...timing,
  };
}

/** A desired-state document. */
export function desired(generation: number, instances: InstanceSpec[], services: ServiceForward[] = []): AgentDesired {
  return { generation, instances, services };
}
