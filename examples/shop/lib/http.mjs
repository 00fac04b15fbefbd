// Shared helpers for the shop services: routing, JSON bodies, upstream calls, health/admin routes, graceful stop.
import { createServer } from 'node:http';
import { AsyncLocalStorage } from 'node:async_hooks';
import { setTimeout as sleep } from 'node:timers/promises';

// The request being handled: its `traceparent` goes on every upstream call made for it, so the mesh's
// spans of one request form one trace (as Istio asks of apps: the sidecars cannot link the calls).
const current = new AsyncLocalStorage();

const env = process.env;

/** An error with an HTTP status; thrown by handlers, answered as JSON `{ error }`. */
export class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** Base URL of a service this one uses: BERTH_<NAME>_URL, else its cluster address on this machine. */
export function upstream(name, port) {
  const url = env[`BERTH_${name.toUpperCase()}_URL`] ?? `http://127.0.0.1:${port}`;
  return url.replace(/\/+$/, '');
}

/** Reads a JSON request body (at most 1 MiB); an empty body is `{}`. */
export async function readJson(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 1 << 20) throw new HttpError(413, 'body too large');
    chunks.push(chunk);
  }
  if (size === 0) return {};
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new HttpError(400, 'invalid JSON body');
  }
}

/** Calls `base + path` and returns `{ status, body }`; a network failure is retried once, then is a 502. */
export async function call(base, path, { method = 'GET', body } = {}) {
  const traceparent = current.getStore()?.headers.traceparent;
  const headers = { ...(body ? { 'content-type': 'application/json' } : {}), ...(traceparent ? { traceparent } : {}) };
  const init = { method, headers, body: body && JSON.stringify(body) };
  for (let attempt = 1; ; attempt++) {
    try {
      const res = await fetch(base + path, { ...init, signal: AbortSignal.timeout(3000) });
      const text = await res.text();
      let data;
      try { data = JSON.parse(text); } catch { data = { error: text }; }
      return { status: res.status, body: data };
    } catch (err) {
      const reason = err.cause?.code ?? err.message;
      if (attempt >= 2) throw new HttpError(502, `${method} ${base}${path} failed: ${reason}`);
      console.error(`${method} ${base}${path} failed (${reason}), retrying once`);
      await sleep(100);
    }
  }
}

/** `'GET /stock/:sku'` → `{ method, regex }` with named groups for the parameters. */
function compile(key) {
  const [method, path] = key.split(' ');
  const source = path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/:(\w+)/g, '(?<$1>[^/]+)');
  return { method, regex: new RegExp(`^${source}$`) };
}

/**
 * Starts a service on HOST:PORT with its `routes` plus the health and admin routes.
 * A route handler gets `{ req, res, url, params, me }` (me: this instance's identity) and returns `[status, body, contentType?]`;
 * an object body is sent as JSON, a string as `contentType` (default text/plain).
 * With `needs` (an upstream base URL), the instance is ready only once that upstream has answered.
 */
export function serve({ service, port: defaultPort, needs, routes }) {
  const me = {
    app: env.BERTH_APP ?? 'shop',
    service: env.BERTH_SERVICE ?? service,
    instance: env.BERTH_INSTANCE ?? `${service}-local`,
    revision: env.BERTH_REVISION ?? 'dev',
    node: env.BERTH_NODE ?? 'local',
    host: env.HOST ?? '127.0.0.1',
    port: Number(env.PORT ?? defaultPort),
    pid: process.pid,
  };
  const state = { live: true, upstreamSeen: !needs, unready: false, stopping: false, leaked: [] };
  const isReady = () => state.upstreamSeen && !state.unready && !state.stopping;
  const breakLiveness = (why) => {
    state.live = false;
    console.error(`${service}: liveness broken (${why}), /healthz now answers 500`);
  };

  const admin = {
    'GET /healthz': () => (state.live ? [200, { status: 'ok' }] : [500, { status: 'liveness broken' }]),
    'GET /ready': () => (isReady() ? [200, { ready: true }] : [503, { ready: false, upstreamSeen: state.upstreamSeen, unready: state.unready, stopping: state.stopping }]),
    'POST /admin/break-liveness': () => { breakLiveness('by request'); return [200, { live: false }]; },
    'POST /admin/unready': () => { state.unready = true; return [200, { ready: isReady() }]; },
    'POST /admin/ready': () => { state.unready = false; return [200, { ready: isReady() }]; },
    'POST /admin/crash': ({ res }) => {
      console.error(`${service}: crashing on request (exit 1)`);
      res.once('finish', () => process.exit(1));
      return [202, { crashing: true }];
    },
    'POST /admin/leak': ({ url }) => {
      const mb = Number(url.searchParams.get('mb') ?? 64);
      if (!Number.isInteger(mb) || mb < 1 || mb > 8192) throw new HttpError(400, 'mb must be an integer in 1..8192');
      // Filled (not zeroed) buffers, so every page is really touched and RSS grows.
      for (let i = 0; i < mb; i++) state.leaked.push(Buffer.alloc(1 << 20, (i % 255) + 1));
      const rssMiB = Math.round(process.memoryUsage().rss / (1 << 20));
      console.error(`${service}: leaked ${mb} MiB on request (holding ${state.leaked.length} MiB, rss ${rssMiB} MiB)`);
      return [200, { leakedMiB: state.leaked.length, rssMiB }];
    },
  };
  const table = Object.entries({ ...admin, ...routes }).map(([key, handler]) => ({ ...compile(key), handler }));

  async function dispatch(req, res, url) {
    for (const { method, regex, handler } of table) {
      const match = req.method === method && regex.exec(url.pathname);
      if (!match) continue;
      const params = Object.fromEntries(Object.entries(match.groups ?? {}).map(([k, v]) => [k, decodeURIComponent(v)]));
      return handler({ req, res, url, params, me });
    }
    return [404, { error: `no route for ${req.method} ${url.pathname}` }];
  }

  const server = createServer(async (req, res) => {
    const started = performance.now();
    // Health checks that pass are not logged (the platform probes every second); failing ones are.
    const probe = req.url === '/healthz' || req.url === '/ready';
    res.on('close', () => {
      if (probe && res.statusCode < 400) return;
      console.log(`${req.method} ${req.url} ${res.statusCode} ${(performance.now() - started).toFixed(1)}ms`);
    });
    let reply;
    try {
      reply = await current.run(req, () => dispatch(req, res, new URL(req.url, 'http://local')));
    } catch (err) {
      if (!(err instanceof HttpError)) console.error(`${service}: ${req.method} ${req.url}: ${err.stack ?? err}`);
      reply = [err.status ?? 500, { error: err.message }];
    }
    const [status, body, type = 'text/plain; charset=utf-8'] = reply;
    const json = typeof body !== 'string';
    res.writeHead(status, {
      'content-type': json ? 'application/json' : type,
      'x-served-by': me.instance,
      ...(state.stopping && { connection: 'close' }),
    });
    res.end(json ? JSON.stringify(body) + '\n' : body);
  });

  server.on('error', (err) => {
    console.error(`${service}: cannot listen on ${me.host}:${me.port}: ${err.message}`);
    process.exit(1);
  });
  server.listen(me.port, me.host, () => {
    console.log(`${service} listening on http://${me.host}:${me.port} (instance ${me.instance}, revision ${me.revision})`);
  });

  const breakAfter = Number(env.SHOP_BREAK_LIVENESS_AFTER_MS);
  if (breakAfter > 0) setTimeout(() => breakLiveness(`SHOP_BREAK_LIVENESS_AFTER_MS=${breakAfter}`), breakAfter).unref();

  if (needs) {
    (async () => {
      while (!state.stopping) {
        try {
          await (await fetch(`${needs}/ready`, { signal: AbortSignal.timeout(1000) })).text();
          state.upstreamSeen = true;
          console.log(`${service}: upstream ${needs} answered, ready`);
          return;
        } catch {
          await sleep(200);
        }
      }
    })();
  }

  function stop(signal) {
    if (state.stopping) return;
    state.stopping = true;
    console.log(`${service} received ${signal}, draining in-flight requests`);
    server.close(() => {
      console.log(`${service} stopped`);
      process.exit(0);
    });
    server.closeIdleConnections();
    const grace = Number(env.SHOP_STOP_TIMEOUT_MS ?? 4000);
    setTimeout(() => {
      console.error(`${service}: requests still in flight after ${grace}ms, exiting anyway`);
      process.exit(0);
    }, grace).unref();
  }
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));

  return me;
}
