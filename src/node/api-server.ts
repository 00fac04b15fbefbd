// The agent's HTTP API (see src/lib/agent-protocol.ts): bearer-token auth, small JSON bodies, routing.
// Bad requests get a JSON error and a 4xx status; nothing a client sends can crash the agent.
import http from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import type { AgentDesired, AgentEvent, AgentHealth, InstanceObserved } from '../lib/agent-protocol.js';
import { DesiredValidationError, parseDesired } from './desired-validation.js';

const MAX_BODY_BYTES = 16 * 1024 * 1024;

/** What the API needs from the agent. */
export interface AgentApiBackend {
  health(): AgentHealth;
  applyDesired(desired: AgentDesired): { generation: number };
  instances(): InstanceObserved[];
  eventsAfter(seq: number): AgentEvent[];
  watch(res: http.ServerResponse): void;
  /** Restarts the sidecars called `name` (of one service, or all); apps are untouched. */
  restartSidecars(name: string, service?: string): { restarted: { instance: string; pid: number }[] };
  /** Starts a graceful shutdown (the response is sent first). */
  requestShutdown(): void;
  readonly shuttingDown: boolean;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function tokenMatches(header: string | undefined, expected: Buffer): boolean {
  if (!header || !header.startsWith('Bearer ')) return false;
  const given = Buffer.from(header.slice('Bearer '.length).trim());
  return given.length === expected.length && timingSafeEqual(given, expected);
}

function readJsonBody(req: http.IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        reject(new HttpError(413, `body larger than ${MAX_BODY_BYTES} bytes`));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('error', (err) => reject(new HttpError(400, err.message)));
    req.on('end', () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch (err) {
        reject(new HttpError(400, `invalid JSON body: ${(err as Error).message}`));
      }
    });
  });
}

/** Creates (but does not start) the HTTP server for `backend`, accepting only `token`. */
export function createApiServer(backend: AgentApiBackend, token: string): http.Server {
  const expected = Buffer.from(token);
  const server = http.createServer({ requestTimeout: 60_000 }, (req, res) => {
    handle(req, res).catch((err: unknown) => {
      const status = err instanceof HttpError ? err.status : 500;
      if (!res.headersSent) sendJson(res, status, { error: err instanceof Error ? err.message : String(err) });
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 5000;

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (!tokenMatches(req.headers.authorization, expected)) {
      req.resume();
      sendJson(res, 401, { error: 'missing or wrong bearer token' });
      return;
    }
    const url = new URL(req.url ?? '/', 'http://agent');
    const route = `${req.method} ${url.pathname}`;
    switch (route) {
      case 'GET /healthz':
        sendJson(res, 200, backend.health());
        return;
      case 'PUT /desired': {
        const body = await readJsonBody(req);
        if (backend.shuttingDown) throw new HttpError(503, 'agent is shutting down');
        let desired: AgentDesired;
        try {
          desired = parseDesired(body);
        } catch (err) {
          if (err instanceof DesiredValidationError) throw new HttpError(400, err.message);
          throw err;
        }
        sendJson(res, 200, backend.applyDesired(desired));
        return;
      }
      case 'GET /instances':
        sendJson(res, 200, backend.instances());
        return;
      case 'GET /events': {
        const raw = url.searchParams.get('after') || '0';
        const after = Number(raw);
        if (!/^\d+$/.test(raw) || !Number.isSafeInteger(after)) throw new HttpError(400, `after must be a non-negative integer, got '${raw}'`);
        sendJson(res, 200, backend.eventsAfter(after));
        return;
      }
      case 'GET /watch':
        backend.watch(res);
        return;
      case 'POST /sidecars/restart': {
        const body = (await readJsonBody(req)) as { name?: unknown; service?: unknown } | null;
        if (!body || typeof body.name !== 'string' || (body.service !== undefined && typeof body.service !== 'string'))
          throw new HttpError(400, 'expected {"name": string, "service"?: string}');
        sendJson(res, 200, backend.restartSidecars(body.name, body.service as string | undefined));
        return;
      }
      case 'POST /shutdown':
        req.resume();
        sendJson(res, 202, { status: 'shutting down' });
        backend.requestShutdown();
        return;
      default: {
        req.resume();
        const known = ['/healthz', '/desired', '/instances', '/events', '/watch', '/shutdown', '/sidecars/restart'].includes(url.pathname);
        throw new HttpError(known ? 405 : 404, known ? `method ${req.method} not allowed on ${url.pathname}` : `no route ${url.pathname}`);
      }
    }
  }

  return server;
}
