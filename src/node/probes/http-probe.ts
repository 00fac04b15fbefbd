// HTTP probe: GET host:port/path; any status 200–399 is success (Kubernetes httpGet semantics).
// Frequent probes may keep their connection open between checks (see create-probe.ts); a check
// that fails on a kept connection the server had already closed is retried once on a fresh one,
// so keeping it never turns a healthy app into a failed check.
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

/** The body is read (to keep the connection reusable) up to this size; beyond it the connection is dropped. Kubernetes reads 10 KiB. */
const MAX_BODY_BYTES = 10 * 1024;

export class HttpProbe implements Probe {
  readonly kind = 'http';
  private readonly agent: http.Agent | undefined;

  constructor(
    private readonly target: HttpProbeTarget,
    opts: { keepAlive?: boolean } = {},
  ) {
    if (opts.keepAlive && target.scheme === 'http') this.agent = new http.Agent({ keepAlive: true, maxSockets: 1, maxFreeSockets: 1 });
  }

  close(): void {
    this.agent?.destroy();
  }

  async check(options: ProbeCheckOptions): Promise<ProbeResult> {
    const timer = timeoutSignal(options);
    try {
      const first = await this.attempt(timer.signal, this.agent);
      // A kept connection the server closed meanwhile: once more, on a new connection.
      if (first.staleConnection && !timer.signal.aborted) return (await this.attempt(timer.signal, false)).result;
      return first.result;
    } finally {
      timer.done();
    }
  }

  private attempt(signal: AbortSignal, agent: http.Agent | false | undefined): Promise<{ result: ProbeResult; staleConnection?: boolean }> {
    const { host, port, path, scheme } = this.target;
    const headers: Record<string, string> = { 'user-agent': 'berth-probe/1', accept: '*/*' };
    for (const h of this.target.headers) headers[h.name.toLowerCase()] = h.value;
    return new Promise((resolve) => {
      let settled = false;
      const finish = (result: ProbeResult, staleConnection = false): void => {
        if (settled) return;
        settled = true;
        resolve({ result, staleConnection });
      };
      const requestFn = scheme === 'https' ? https.request : http.request;
      const req = requestFn({
        host,
        port,
        path: path.startsWith('/') ? path : `/${path}`,
        method: 'GET',
        headers,
        agent: agent ?? false,
        signal,
        rejectUnauthorized: false,
      });
      req.on('response', (res) => {
        const status = res.statusCode ?? 0;
        const result = { ok: status >= 200 && status < 400, message: `HTTP ${status}` };
        if (!agent) {
          res.resume();
          res.on('error', () => {});
          req.destroy();
          return finish(result);
        }
        // Read the body to its end so the connection can be reused; a big one is not worth it.
        let bytes = 0;
        res.on('data', (chunk: Buffer) => {
          bytes += chunk.length;
          if (bytes > MAX_BODY_BYTES) {
            req.destroy();
            finish(result);
          }
        });
        res.on('end', () => finish(result));
        res.on('error', () => finish(result));
        res.on('aborted', () => finish(result));
      });
      req.on('error', (err) => {
        const code = (err as NodeJS.ErrnoException).code;
        const stale = req.reusedSocket && !signal.aborted && (code === 'ECONNRESET' || code === 'EPIPE');
        finish({ ok: false, message: signal.aborted ? errorMessage(signal.reason) : errorMessage(err) }, stale);
      });
      req.end();
    });
  }
}
