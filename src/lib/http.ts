// Small JSON-over-HTTP client for Berth's loopback APIs (control plane and node agents).
// Plain node:http with keep-alive off (these calls are rare and must never hang a CLI), unless the
// caller brings a keep-alive agent for a call it repeats (the node agent's heartbeat).
import http from 'node:http';

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
    message: string,
  ) {
    super(message);
  }
}

export interface RequestOptions {
  port: number;
  host?: string;
  token?: string;
  timeoutMs?: number;
  /** A keep-alive agent for frequent calls; default: a new connection per call. */
  agent?: http.Agent;
  /** Aborts the request (destroys its socket): the caller's overall deadline, where timeoutMs is an idle timeout. */
  signal?: AbortSignal;
}

/** Sends one request with an optional JSON body; resolves the parsed JSON (or text) reply, rejects on non-2xx with HttpError. */
export function requestJson<T>(opts: RequestOptions, method: string, path: string, body?: unknown): Promise<T> {
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  return new Promise<T>((resolve, reject) => {
    const req = http.request(
      {
        host: opts.host ?? '127.0.0.1',
        port: opts.port,
        method,
        path,
        agent: opts.agent ?? false,
        ...(opts.signal ? { signal: opts.signal } : {}),
        headers: {
          ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
          ...(payload ? { 'content-type': 'application/json', 'content-length': String(payload.length) } : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = text;
          if ((res.headers['content-type'] ?? '').includes('json') && text.length > 0) {
            try {
              parsed = JSON.parse(text);
            } catch {
              parsed = text;
            }
          }
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) resolve(parsed as T);
          else {
            const msg = typeof parsed === 'object' && parsed && 'error' in parsed ? String((parsed as { error: unknown }).error) : text;
            reject(new HttpError(status, parsed, `${method} ${path}: ${status} ${msg}`));
          }
        });
      },
    );
    req.setTimeout(opts.timeoutMs ?? 10_000, () => req.destroy(new Error(`${method} ${path}: timed out`)));
    req.on('error', reject);
    if (payload) req.write(payload);
    req.end();
  });
}

/**
 * Subscribes to a text/event-stream endpoint; calls onEvent per event; resolves a close function. Rejects if
 * the connection fails, or when `timeoutMs` is given and the response headers do not come within it (a
 * frozen server accepts the connection and never answers; the open stream itself has no timeout).
 */
export function subscribeSse(
  opts: RequestOptions,
  path: string,
  onEvent: (event: string, data: string) => void,
  onClose: (err?: Error) => void,
): Promise<() => void> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: opts.host ?? '127.0.0.1',
        port: opts.port,
        method: 'GET',
        path,
        agent: false,
        headers: { accept: 'text/event-stream', ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}) },
      },
      (res) => {
        req.setTimeout(0);
        if (res.statusCode !== 200) {
          res.resume();
          reject(new HttpError(res.statusCode ?? 0, undefined, `GET ${path}: ${res.statusCode}`));
          return;
        }
        let buf = '';
        let closed = false;
        const finish = (err?: Error) => {
          if (closed) return;
          closed = true;
          onClose(err);
        };
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buf += chunk;
          let idx: number;
          while ((idx = buf.indexOf('\n\n')) >= 0) {
            const block = buf.slice(0, idx);
            buf = buf.slice(idx + 2);
            let event = 'message';
            const data: string[] = [];
            for (const line of block.split('\n')) {
              if (line.startsWith('event:')) event = line.slice(6).trim();
              else if (line.startsWith('data:')) data.push(line.slice(5).trimStart());
            }
            if (data.length > 0 || event !== 'message') onEvent(event, data.join('\n'));
          }
        });
        res.on('end', () => finish());
        res.on('error', (e) => finish(e));
        res.on('close', () => finish());
        resolve(() => {
          closed = true;
          req.destroy();
        });
      },
    );
    if (opts.timeoutMs !== undefined) req.setTimeout(opts.timeoutMs, () => req.destroy(new Error(`GET ${path}: no answer within ${opts.timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}
