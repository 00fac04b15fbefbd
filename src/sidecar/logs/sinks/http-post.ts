// One POST with a keep-alive connection pool, optional gzip and headers; maps the reply to a
// SinkError (retryable for 408/429/5xx and network errors, honouring Retry-After).
import http from 'node:http';
import https from 'node:https';
import { gzipSync } from 'node:zlib';
import { httpStatusError, SinkError } from './sink.js';

export interface PostOptions {
  url: string;
  headers?: Record<string, string>;
  gzip?: boolean;
  timeoutMs?: number;
  contentType: string;
}

const agents = { http: new http.Agent({ keepAlive: true, maxSockets: 4 }), https: new https.Agent({ keepAlive: true, maxSockets: 4 }) };

/**
 * Posts `body`; resolves the response text on 2xx, rejects with SinkError otherwise. Settles only
 * once the request has been written out too (a server may answer before reading everything), so
 * the caller may reuse `body` afterwards.
 */
export function post(opts: PostOptions, body: Buffer | string): Promise<string> {
  const u = new URL(opts.url);
  let payload = typeof body === 'string' ? Buffer.from(body) : body;
  const headers: Record<string, string> = { 'content-type': opts.contentType, ...opts.headers };
  if (opts.gzip) {
    payload = gzipSync(payload, { level: 1 });
    headers['content-encoding'] = 'gzip';
  }
  headers['content-length'] = String(payload.length);
  const mod = u.protocol === 'https:' ? https : http;
  return new Promise((resolveReply, rejectReply) => {
    let finished = false;
    let outcome: (() => void) | undefined;
    const settle = (f: () => void): void => {
      if (outcome) return;
      outcome = f;
      if (finished) f();
    };
    const resolve = (text: string): void => settle(() => resolveReply(text));
    const reject = (e: unknown): void => settle(() => rejectReply(e));
    const req = mod.request(
      { method: 'POST', hostname: u.hostname, port: u.port || undefined, path: u.pathname + u.search, headers, agent: u.protocol === 'https:' ? agents.https : agents.http },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (e) => reject(new SinkError(e.message, true)));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const err = httpStatusError(res.statusCode ?? 0, text, res.headers['retry-after']);
          if (err) reject(err);
          else resolve(text);
        });
      },
    );
    req.on('finish', () => {
      finished = true;
      outcome?.();
    });
    req.on('close', () => {
      // Destroyed (error, timeout): nothing of it is written any more.
      finished = true;
      outcome?.();
    });
    req.setTimeout(opts.timeoutMs ?? 10_000, () => req.destroy(new Error(`timed out after ${opts.timeoutMs ?? 10_000} ms`)));
    req.on('error', (e) => reject(e instanceof SinkError ? e : new SinkError(`${u.host}: ${e.message}`, true)));
    req.end(payload);
  });
}
