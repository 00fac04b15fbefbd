// Calls from the proxy to its own app (subscription deliveries, input bindings, GET /dapr/subscribe):
// plain HTTP/1.1 to where the app listens, with APP_API_TOKEN as `dapr-api-token` when set.
import http from 'node:http';

export interface AppAddress {
  host: string;
  port: number;
}

export interface AppAnswer {
  status: number;
  body: Buffer;
  contentType: string;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

export function callApp(
  addr: AppAddress,
  req: { method: string; path: string; body?: Buffer; headers?: Record<string, string>; token?: string; timeoutMs?: number },
): Promise<AppAnswer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...req.headers };
    if (req.body) headers['content-length'] = String(req.body.length);
    if (req.token) headers['dapr-api-token'] = req.token;
    const r = http.request({ host: addr.host, port: addr.port, method: req.method, path: req.path, headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), contentType: String(res.headers['content-type'] ?? '') }));
      res.on('error', reject);
    });
    r.setTimeout(req.timeoutMs ?? 60_000, () => r.destroy(new Error(`the app did not answer ${req.method} ${req.path} in time`)));
    r.on('error', reject);
    r.end(req.body);
  });
}

export function closeAppChannel(): void {
  agent.destroy();
}
