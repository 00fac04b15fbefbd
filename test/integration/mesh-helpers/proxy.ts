// Helpers for tests that run a real berth-proxy process from a saved snapshot (no control plane).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { httpRequest, repoRoot, waitFor } from '../harness/berth.js';
import type { MeshSnapshot } from '../../../src/lib/mesh-protocol.js';

export const HOST = '127.0.0.1';
const proxyMain = join(repoRoot, 'dist', 'src', 'sidecar', 'proxy', 'main.js');

/** A tiny upstream: answers "<name> <method> <url>" with x-served-by, or runs `handler`. */
export function upstream(port: number, name: string, handler?: http.RequestListener): Promise<http.Server> {
  const s = http.createServer(
    handler ??
      ((req, res) => {
        res.setHeader('x-served-by', name);
        res.end(`${name} ${req.method} ${req.url}`);
      }),
  );
  return new Promise((r) => s.listen(port, HOST, () => r(s)));
}

export interface ProxyUnderTest {
  child: ChildProcess;
  stateDir: string;
  stderr(): string;
}

/** Starts a sidecar proxy whose outbound listeners are `outbound` (service → port), from `snapshot`; `control`: a stand-in control plane's port. */
export async function startProxy(opts: { id: string; inbound: number; app: number; admin: number; outbound: Record<string, number>; snapshot: MeshSnapshot; env?: Record<string, string>; control?: number }): Promise<ProxyUnderTest> {
  const stateDir = mkdtempSync(join(tmpdir(), 'berth-proxy-'));
  mkdirSync(join(stateDir, 'mesh'), { recursive: true });
  writeFileSync(join(stateDir, 'mesh', `${opts.id}.json`), JSON.stringify(opts.snapshot));
  if (opts.control !== undefined) {
    writeFileSync(join(stateDir, 'token'), 'secret\n');
    writeFileSync(join(stateDir, 'control.json'), JSON.stringify({ pid: process.pid, startTime: 0, port: opts.control, app: 'test' }));
  }
  let err = '';
  const child = spawn(process.execPath, [proxyMain], {
    env: {
      ...process.env,
      BERTH_PROXY_MODE: 'sidecar',
      BERTH_STATE_DIR: stateDir,
      BERTH_INSTANCE: opts.id,
      BERTH_SERVICE: 'self',
      HOST,
      BERTH_PROXY_PORT: String(opts.inbound),
      BERTH_PROXY_APP_PORT: String(opts.app),
      BERTH_PROXY_ADMIN_PORT: String(opts.admin),
      BERTH_PROXY_OUTBOUND: Object.entries(opts.outbound).map(([s, p]) => `${s}=${p}`).join(','),
      ...opts.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.resume();
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  await waitFor('proxy admin port', async () => (await httpRequest(`http://${HOST}:${opts.admin}/healthz`)).status === 200);
  return { child, stateDir, stderr: () => err };
}

export interface Reply {
  status: number;
  body: string;
  headers: http.IncomingHttpHeaders;
}

/** One request on a fresh connection, with headers and an optional body. */
export function request(url: string, opts: { method?: string; headers?: Record<string, string>; body?: string; timeoutMs?: number } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: opts.method ?? 'GET', headers: opts.headers, agent: false, timeout: opts.timeoutMs ?? 5000 }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(opts.body);
  });
}
