// HTTP probe: GET host:port/path; any status 200–399 is success (Kubernetes httpGet semantics).
import http from 'node:http';
import https from 'node:https';
import type { Probe, ProbeCheckOptions, ProbeResult } from './probe.js';
import { errorMessage, timeoutSignal } from './probe.js';

export interface HttpProbeTarget {
  host: string;
  port: number;
  path: string;
  scheme: 'http' | 'https';
  headers: { name: string; value: string }[];
}

export class HttpProbe implements Probe {
  readonly kind = 'http';
  constructor(private readonly target: HttpProbeTarget) {}

  check(options: ProbeCheckOptions): Promise<ProbeResult> {
    const { host, port, path, scheme } = this.target;
    const headers: Record<string, string> = { 'user-agent': 'berth-probe/1', accept: '*/*' };
    for (const h of this.target.headers) headers[h.name.toLowerCase()] = h.value;
    const timer = timeoutSignal(options);
    return new Promise<ProbeResult>((resolve) => {
      let settled = false;
      const finish = (result: ProbeResult): void => {
        if (settled) return;
        settled = true;
        timer.done();
        resolve(result);
      };
      const requestFn = scheme === 'https' ? https.request : http.request;
      const req = requestFn({
        host,
        port,
        path: path.startsWith('/') ? path : `/${path}`,
        method: 'GET',
        headers,
        agent: false,
        signal: timer.signal,
        rejectUnauthorized: false,
      });
      req.on('response', (res) => {
        const status = res.statusCode ?? 0;
        res.resume();
        res.on('error', () => {});
        req.destroy();
        finish({ ok: status >= 200 && status < 400, message: `HTTP ${status}` });
      });
      req.on('error', (err) => finish({ ok: false, message: timer.signal.aborted ? errorMessage(timer.signal.reason) : errorMessage(err) }));
      req.end();
    });
  }
}
