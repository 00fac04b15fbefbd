// What the release tests and bench/release share: a web app that answers its revision's VERSION as
// JSON, the spec of a `web` service behind the ingress with a release block, the control plane's API
// called with the app's token (a CLI process per poll would be too slow for 1 s analysis windows),
// and one GET that reads which version answered.
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ReleaseStatus } from '../../../src/control/release/status.js';

/**
 * The app (web.mjs): answers `{ version }` from VERSION. FAIL_PCT: exactly that share of requests
 * answers 500 (every (100/FAIL_PCT)-th, not a random share); DELAY_MS: every answer waits that long.
 */
export const VERSIONED_WEB_JS = `
import http from 'node:http';
const version = process.env.VERSION;
const failPct = Number(process.env.FAIL_PCT || 0);
const delay = Number(process.env.DELAY_MS || 0);
let n = 0;
http.createServer((req, res) => {
  n++;
  const fail = failPct > 0 && n % Math.round(100 / failPct) === 0;
  const answer = () => {
    res.writeHead(fail ? 500 : 200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ version }));
  };
  if (delay > 0) setTimeout(answer, delay);
  else answer();
}).listen(Number(process.env.PORT), process.env.HOST);
process.on('SIGTERM', () => process.exit(0));
`;

export interface WebSpec {
  app: string;
  ingressPort: number;
  webPort: number;
  replicas: number;
  /** The service's command (default `node web.mjs`, the app above). */
  run?: string;
  labels?: Record<string, string>;
  env: Record<string, string | number>;
  /** The lines under `release:` (indented six spaces). */
  release: string;
  /** The `analysisTemplates:` map's lines (indented two spaces), if any. */
  analysisTemplates?: string;
  stopGracePeriodSeconds?: number;
}

/** berth.yaml: the ingress routing everything to `web` (ready on TCP), released as `release` says. */
export function webSpec(o: WebSpec): string {
  const map = (m: Record<string, string | number>): string =>
    Object.entries(m)
      .map(([k, v]) => `${k}: "${v}"`)
      .join(', ');
  return `app: ${o.app}
ingress:
  port: ${o.ingressPort}
  routes:
    - to: web
services:
  web:
    run: ${o.run ?? 'node web.mjs'}
    port: ${o.webPort}
    replicas: ${o.replicas}
${o.labels ? `    labels: { ${map(o.labels)} }\n` : ''}    env: { ${map(o.env)} }
    probes:
      readiness: { tcp: {}, periodSeconds: 0.2 }
    stopGracePeriodSeconds: ${o.stopGracePeriodSeconds ?? 2}
    release:
${o.release}
${o.analysisTemplates ? `analysisTemplates:\n${o.analysisTemplates}` : ''}`;
}

/** GET `path` on the control plane's API of the app in `dir`, with its token; the JSON answer. */
export async function controlApi(dir: string, path: string): Promise<unknown> {
  const info = JSON.parse(readFileSync(join(dir, '.berth', 'control.json'), 'utf8')) as { port: number };
  const token = readFileSync(join(dir, '.berth', 'token'), 'utf8').trim();
  const res = await fetch(`http://127.0.0.1:${info.port}${path}`, { headers: { authorization: `Bearer ${token}` } });
  return res.json();
}

/** The release status of `service` straight from the API. */
export async function releaseStatus(dir: string, service = 'web'): Promise<ReleaseStatus> {
  return (await controlApi(dir, `/api/v1/release/${service}`)) as ReleaseStatus;
}

export interface VersionReply {
  status: number;
  /** The answering revision's VERSION, or '?' when the body is not the app's JSON (a proxy's error). */
  version: string;
  body: string;
}

/** One GET: which version answered. Rejects on a connection error or after `timeoutMs` (5 s). */
export function getVersion(o: { port: number; agent: http.Agent; path?: string; headers?: Record<string, string>; timeoutMs?: number }): Promise<VersionReply> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port: o.port, path: o.path ?? '/', headers: o.headers ?? {}, agent: o.agent, timeout: o.timeoutMs ?? 5000 }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => {
        let version = '?';
        try {
          version = (JSON.parse(body) as { version: string }).version;
        } catch {
          // not the app's answer (a proxy error): '?'
        }
        resolve({ status: res.statusCode ?? 0, version, body });
      });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}
