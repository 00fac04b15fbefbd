// The building-block API (Dapr's HTTP API v1.0) of one instance, served by its berth-proxy on
// 127.0.0.1:DAPR_HTTP_PORT. Loaded only by proxies of services that use it (a dynamic import), so
// other proxies pay nothing. Service invocation is handed to this proxy's mesh path (the request
// object itself, no extra hop), so routes, retries, limits, metrics and trace headers apply as for
// any mesh call. It is served by the proxy's own listener on its lean HTTP/1.1 path (node:http for
// unusual requests), as the mesh's ports are: no node:http objects per ordinary request.
import { timingSafeEqual } from 'node:crypto';
import { Readable } from 'node:stream';
import { BindingError } from '../../../components/bindings/types.js';
import { LockRequestError } from '../../../components/lock/types.js';
import { buildPublishEvent, CloudEventError, isJsonType } from '../../../components/pubsub/cloudevents.js';
import { PubSubError, type BulkPublishEntry } from '../../../components/pubsub/types.js';
import { SecretNotFoundError } from '../../../components/secrets/types.js';
import type { DaprProxyConfig } from '../../../lib/dapr-config.js';
import { callApp, closeAppChannel, type AppAddress } from './app-channel.js';
import { ApiError, malformed, sendEmpty, sendError, sendJson } from './errors.js';
import { ComponentRegistry } from './registry.js';
import { bulkGetState, deleteState, getState, queryState, saveState, transactState } from './state-api.js';
import { Subscriber } from './subscriptions.js';
import { requestTarget } from './request-target.js';
import { DeadLetterLog } from './dead-letter-log.js';
import { deadLetterFile } from '../../../lib/dapr-dead-letters.js';
import { Listener, type H2Handler, type ProxyRequest, type ProxyResponse } from '../listener.js';
import { LeanResponse } from '../lean-server.js';
import { answersInvocation } from '../forward.js';
import { normalizePath } from '../http-syntax.js';

export interface DaprApiOptions {
  cfg: DaprProxyConfig;
  port: number;
  /** The application's .berth directory. */
  stateDir: string;
  /** Sends a request to a mesh service, answered on `res` (the proxy's outbound path). */
  mesh: (service: string, req: ProxyRequest, res: ProxyResponse) => void;
  /** Where the app listens now. */
  app: () => AppAddress;
  apiToken?: string;
  appToken?: string;
  /** This instance's id: names its dead-letter file, which the node agent turns into events. */
  instance: string;
  log: (m: string) => void;
}

/** What the proxy's admin GET /mesh/components answers: its components' states and active subscriptions. */
export interface DaprDescription {
  appId: string;
  components: { name: string; type: string; state: 'ready' | 'opening' | 'failed' | 'unused'; error?: string }[];
  subscriptions: { pubsubname: string; topic: string; type: string; routes: string[]; deadLetterTopic?: string }[];
}

export interface DaprApi {
  /** The instance is ready: ask the app for its subscriptions and start deliveries and input bindings. */
  appReady(): void;
  describe(): DaprDescription;
  /** Drains requests in flight until `deadline` (performance.now() time; 1 s from now by default), then closes. */
  close(deadline?: number): Promise<void>;
}

/**
 * `/v1.0/invoke/{appId}/method…` on the target as sent: the method is everything after `/method`,
 * dot segments included, as daprd takes it — the callee's proxy normalises it within the callee's own
 * paths. Normalised here first, `…/method/%2e%2e/%2e%2e/other/method/x` reached another app, and
 * `…/method/%2e%2e/%2e%2e/%2e%2e/metadata` this sidecar's own API.
 */
const INVOKE_TARGET = /^\/v1\.0\/invoke\/([^/?]*)\/method(?=[/?]|$)/;

const RUNTIME_VERSION = 'berth';
/**
 * Clients' idle connections are kept this long: SDK clients pool theirs, and a connection the
 * server closes just as a client reuses it fails that request ("socket hang up").
 */
const KEEP_ALIVE_MS = 65_000;

class BodyTooLarge extends Error {}

function readBody(r: ProxyRequest, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(r.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) return reject(new BodyTooLarge());
    // The lean path builds no stream for a request without a body.
    if (!(r instanceof Readable)) return resolve(Buffer.alloc(0));
    const req = r;
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        req.removeAllListeners('data');
        req.resume();
        reject(new BodyTooLarge());
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function parseJson(b: Buffer): unknown {
  if (b.length === 0) throw malformed('empty body');
  try {
    return JSON.parse(b.toString('utf8'));
  } catch (err) {
    throw malformed((err as Error).message);
  }
}

/** `metadata.<name>=value` query parameters (Dapr's request metadata). */
function queryMetadata(q: URLSearchParams): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of q) if (k.startsWith('metadata.')) out[k.slice('metadata.'.length)] = v;
  return out;
}

const seg = (s: string): string => {
  if (!s.includes('%')) return s;
  try {
    return decodeURIComponent(s);
  } catch {
    throw new ApiError(400, 'ERR_MALFORMED_REQUEST', `bad URL escape in "${s}"`);
  }
};

/** Whether a request's `dapr-api-token` is `want` (in constant time). */
export function tokenMatches(given: string | string[] | undefined, want: string): boolean {
  if (given === undefined) return false;
  const same = (v: string): boolean => {
    const a = Buffer.from(v);
    const b = Buffer.from(want);
    return a.length === b.length && timingSafeEqual(a, b);
  };
  // Two `dapr-api-token` lines (joined by the parser): daprd reads the first, as Go's Header.Get.
  const first = Array.isArray(given) ? given[0] : given;
  return same(first) || (first.includes(',') && same(first.split(',')[0].trim()));
}

export function startDaprApi(o: DaprApiOptions): Promise<DaprApi> {
  const { cfg, log } = o;
  const registry = new ComponentRegistry(cfg, o.stateDir);
  const deadLetters = new DeadLetterLog(deadLetterFile(o.stateDir, o.instance));
  const subscriber = new Subscriber(registry, o.app, { appId: cfg.appId, ...(o.appToken ? { appToken: o.appToken } : {}), log, deadLetter: (r) => deadLetters.add(r) });
  const extended: Record<string, string> = { daprRuntimeVersion: RUNTIME_VERSION, appCommand: '' };
  const limit = Math.floor(cfg.maxRequestBodyMiB * 1024 * 1024);
  const inputs: { close(): Promise<void> }[] = [];
  let started = false;

  const metadata = (): unknown => ({
    id: cfg.appId,
    runtimeVersion: RUNTIME_VERSION,
    enabledFeatures: [],
    actors: [],
    components: cfg.components.map((c) => ({ name: c.name, type: c.type, version: c.version, capabilities: registry.capabilities(c) })),
    extended,
    subscriptions: subscriber.active.map((s) => ({
      pubsubname: s.pubsubname,
      topic: s.topic,
      metadata: s.metadata,
      rules: { rules: [...s.rules.map((r) => ({ match: r.match, path: r.path })), ...(s.defaultPath ? [{ match: '', path: s.defaultPath }] : [])] },
      ...(s.deadLetterTopic ? { deadLetterTopic: s.deadLetterTopic } : {}),
      type: s.type,
    })),
    httpEndpoints: [],
    appConnectionProperties: { port: o.app().port, protocol: 'http', channelAddress: o.app().host, health: { healthProbeInterval: '', healthProbeTimeout: '', healthThreshold: 0 } },
  });

  /** Service invocation: the request goes into the mesh as a call to the app ID's service, answered as the callee answers. */
  const invoke = (req: ProxyRequest, res: ProxyResponse, appId: string, path: string): void => {
    // Own fields only: `constructor` or `__proto__` as an app id found Object.prototype's members.
    const own = (id: string): string | undefined => (Object.hasOwn(cfg.apps, id) ? cfg.apps[id] : undefined);
    const target = own(appId) ?? own(appId.split('.')[0]);
    if (target === undefined) throw new ApiError(500, 'ERR_DIRECT_INVOKE', `fail to invoke, id: ${appId}, err: app id ${appId} is not a service of this application`);
    // daprd's limit (http-max-request-size) holds for invocations too: a body said to be longer is refused unread.
    const length = Number(req.headers['content-length']);
    if (length > limit) throw new BodyTooLarge();
    // A body of no declared length (chunked, or HTTP/2's) is counted as it streams to the callee:
    // cut with a 413 once past the limit (LeanRequest, H2AsH1Request, node:http's: http1-turns limitBody).
    if ('bodyLimit' in req) (req as { bodyLimit: number }).bodyLimit = limit;
    // The method is normalised as a mesh port normalises a path (the callee's proxy would), so the
    // caller's routes for the callee match what the callee gets: `/public/%2e%2e/admin` is `/admin`
    // to a route here too — dot segments above the method's root stay at it (`/../x` is `/x`).
    const method = normalizePath(path);
    if (method === undefined) throw new ApiError(400, 'ERR_MALFORMED_REQUEST', `invalid method path ${JSON.stringify(path.slice(0, 100))}`);
    req.url = method;
    req.headers.host = target;
    delete req.headers['dapr-api-token'];
    delete req.headers['dapr-app-id'];
    // Who calls whom, as daprd tells the callee: set here, so a client cannot claim another caller.
    req.headers['dapr-caller-app-id'] = cfg.appId;
    req.headers['dapr-callee-app-id'] = appId;
    answersInvocation(res, appId);
    o.mesh(target, req, res);
  };

  const publish = async (pubsubName: string, topic: string, req: ProxyRequest, q: URLSearchParams, res: ProxyResponse): Promise<void> => {
    if (pubsubName === '') throw new ApiError(404, 'ERR_PUBSUB_EMPTY', 'pubsub name is empty');
    if (topic === '') throw new ApiError(404, 'ERR_TOPIC_EMPTY', `topic is empty in pubsub ${pubsubName}`);
    const pubsub = await registry.pubsub(pubsubName);
    const body = await readBody(req, limit);
    const meta = queryMetadata(q);
    const ct = req.headers['content-type'];
    try {
      const ev = buildPublishEvent({
        data: body,
        ...(ct ? { contentType: ct } : {}),
        topic,
        pubsubName,
        source: cfg.appId,
        ...(typeof req.headers.traceparent === 'string' ? { traceparent: req.headers.traceparent } : {}),
        ...(typeof req.headers.tracestate === 'string' ? { tracestate: req.headers.tracestate } : {}),
        metadata: meta,
      });
      await pubsub.publish({ topic, data: ev.body, contentType: ev.contentType, metadata: meta });
    } catch (err) {
      throw publishError(err, topic, pubsubName);
    }
    sendEmpty(res);
  };

  const bulkPublish = async (pubsubName: string, topic: string, body: unknown, q: URLSearchParams, res: ProxyResponse): Promise<void> => {
    if (topic === '') throw new ApiError(404, 'ERR_TOPIC_EMPTY', `topic is empty in pubsub ${pubsubName}`);
    const pubsub = await registry.pubsub(pubsubName);
    if (!Array.isArray(body)) throw new ApiError(400, 'ERR_PUBSUB_EVENTS_SER', `error when unmarshaling the request for topic ${topic} pubsub ${pubsubName}: the body must be a JSON array`);
    const reqMeta = queryMetadata(q);
    const entries: BulkPublishEntry[] = [];
    try {
      for (const raw of body as unknown[]) {
        const e = goFields(raw) as { entryid?: unknown; event?: unknown; contenttype?: unknown; metadata?: Record<string, unknown> } | null;
        if (!e || typeof e.entryid !== 'string' || e.entryid === '') throw new ApiError(400, 'ERR_PUBSUB_EVENTS_SER', `error when unmarshaling the request for topic ${topic} pubsub ${pubsubName}: every entry needs an entryId`);
        const contentType = typeof e.contenttype === 'string' && e.contenttype !== '' ? e.contenttype : typeof e.event === 'string' ? 'text/plain' : 'application/json';
        const data = typeof e.event === 'string' && !isJsonType(contentType) ? Buffer.from(e.event) : Buffer.from(JSON.stringify(e.event ?? null));
        const meta: Record<string, string> = { ...reqMeta };
        for (const [k, v] of Object.entries(e.metadata ?? {})) meta[k] = String(v);
        const ev = buildPublishEvent({ data, contentType, topic, pubsubName, source: cfg.appId, metadata: meta });
        entries.push({ entryId: e.entryid, data: ev.body, contentType: ev.contentType, metadata: meta });
      }
      const result = await pubsub.bulkPublish(topic, entries);
      if (result.failedEntries.length === 0) return sendEmpty(res);
      sendJson(res, 500, { failedEntries: result.failedEntries, errorCode: 'ERR_PUBSUB_PUBLISH_MESSAGE' });
    } catch (err) {
      throw publishError(err, topic, pubsubName);
    }
  };

  const route = async (req: ProxyRequest, res: ProxyResponse): Promise<void> => {
    // The listener passes targets on as sent (rawTarget): an invocation's method is taken from them as
    // they are; every other API reads the normalised path.
    const raw = req.url ?? '/';
    const url = requestTarget(raw);
    const parts = url.pathname.split('/').slice(1);
    const [version, api] = parts;
    const method = req.method ?? 'GET';
    // healthz is answered without the token, as in Dapr.
    if (version === 'v1.0' && api === 'healthz') return sendEmpty(res);
    if (o.apiToken !== undefined && !tokenMatches(req.headers['dapr-api-token'], o.apiToken)) {
      return sendJson(res, 401, { errorCode: 'ERR_UNAUTHORIZED', message: 'invalid api token' });
    }
    const invoked = INVOKE_TARGET.exec(raw);
    const appIdHeader = req.headers['dapr-app-id'];
    // With `dapr-app-id`, any target but the invoke API's own is the method, as sent.
    if (typeof appIdHeader === 'string' && appIdHeader !== '' && !raw.startsWith('/v1.0/invoke/')) return invoke(req, res, appIdHeader, raw);
    if (invoked && invoked[1] !== '') {
      const rest = raw.slice(invoked[0].length);
      return invoke(req, res, seg(invoked[1]), rest.startsWith('/') ? rest : `/${rest}`);
    }
    const rest = parts.slice(2);
    const json = async (): Promise<unknown> => parseJson(await readBody(req, limit));
    if (version === 'v1.0') {
      switch (api) {
        case 'metadata':
          if (rest.length === 0 && method === 'GET') return sendJson(res, 200, metadata());
          if (rest.length === 1 && method === 'PUT') {
            extended[seg(rest[0])] = (await readBody(req, limit)).toString('utf8');
            return sendEmpty(res);
          }
          break;
        case 'state': {
          const [store, key, ...more] = rest;
          if (!store) break;
          const s = await registry.state(seg(store));
          const name = seg(store);
          if (key === undefined || key === '') {
            if (method === 'POST' || method === 'PUT') return saveState(s, name, await json(), queryMetadata(url.searchParams), res);
            break;
          }
          if (more.length === 0 && key === 'bulk' && (method === 'POST' || method === 'PUT')) return bulkGetState(s, name, await json(), res);
          if (more.length === 0 && key === 'transaction' && (method === 'POST' || method === 'PUT')) return transactState(s, name, await json(), res);
          const k = seg([key, ...more].join('/'));
          if (method === 'GET') return getState(s, name, k, res);
          if (method === 'DELETE') return deleteState(s, name, k, req, url.searchParams, res);
          break;
        }
        case 'publish':
          if (method === 'POST' || method === 'PUT') return publish(seg(rest[0] ?? ''), seg(rest.slice(1).join('/')), req, url.searchParams, res);
          break;
        case 'invoke':
          // The invocations that name an app ID and a method went above, on the target as sent.
          throw new ApiError(400, 'ERR_DIRECT_INVOKE', 'failed getting app id either from the URL path or the header dapr-app-id');
        case 'secrets': {
          const [store, key] = rest;
          if (!store || !key || method !== 'GET') break;
          const s = await registry.secrets(seg(store));
          if (key === 'bulk' && rest.length === 2) {
            try {
              return sendJson(res, 200, await s.bulk());
            } catch (err) {
              throw new ApiError(500, 'ERR_SECRET_GET', `failed getting secrets from secret store ${seg(store)}: ${(err as Error).message}`);
            }
          }
          const name = seg(rest.slice(1).join('/'));
          try {
            return sendJson(res, 200, await s.get(name));
          } catch (err) {
            const why = err instanceof SecretNotFoundError ? err.message : `failed getting secret with key ${name} from secret store ${seg(store)}: ${(err as Error).message}`;
            throw new ApiError(500, 'ERR_SECRET_GET', why);
          }
        }
        case 'bindings': {
          if (rest.length !== 1 || (method !== 'POST' && method !== 'PUT')) break;
          const b = await registry.output(seg(rest[0]));
          const body = (await json()) as { data?: unknown; metadata?: Record<string, unknown>; operation?: unknown } | null;
          if (!body || typeof body.operation !== 'string') throw malformed('the body must be { "operation": string, "data"?, "metadata"? }');
          const meta: Record<string, string> = {};
          for (const [k, v] of Object.entries(body.metadata ?? {})) meta[k] = String(v);
          const data = body.data === undefined ? undefined : Buffer.from(typeof body.data === 'string' ? body.data : JSON.stringify(body.data));
          try {
            const out = await b.invoke({ operation: body.operation, ...(data ? { data } : {}), metadata: meta });
            const headers: Record<string, string> = {};
            for (const [k, v] of Object.entries(out.metadata)) if (/^[\w.-]+$/.test(k)) headers[`metadata.${k}`] = String(v).replace(/[\r\n]/g, ' ');
            if (out.data.length === 0) return sendEmpty(res, 204, headers);
            res.writeHead(200, { ...headers, 'content-length': out.data.length });
            res.end(out.data);
            return;
          } catch (err) {
            if (err instanceof BindingError && err.code === 'ERR_MALFORMED_REQUEST') throw new ApiError(400, err.code, err.message);
            throw new ApiError(500, 'ERR_INVOKE_OUTPUT_BINDING', `error invoking output binding ${seg(rest[0])}: ${(err as Error).message}`);
          }
        }
        case 'shutdown':
          // The proxy belongs to the instance: it stops with it, not on the app's word.
          return sendEmpty(res);
        default:
          break;
      }
    } else if (version === 'v1.0-alpha1') {
      if (api === 'state' && rest.length === 2 && rest[1] === 'query' && method === 'POST') {
        const name = seg(rest[0]);
        return queryState(await registry.state(name), name, await json(), res);
      }
      if (api === 'publish' && rest[0] === 'bulk' && method === 'POST') {
        return bulkPublish(seg(rest[1] ?? ''), seg(rest.slice(2).join('/')), await json(), url.searchParams, res);
      }
      if ((api === 'lock' || api === 'unlock') && rest.length === 1 && method === 'POST') {
        const name = seg(rest[0]);
        const store = await registry.lock(name);
        const body = (await json()) as { resourceId?: unknown; lockOwner?: unknown; expiryInSeconds?: unknown } | null;
        const b = body ?? {};
        try {
          if (api === 'lock') return sendJson(res, 200, await store.tryLock({ resourceId: b.resourceId as string, lockOwner: b.lockOwner as string, expiryInSeconds: b.expiryInSeconds as number }));
          return sendJson(res, 200, await store.unlock({ resourceId: b.resourceId as string, lockOwner: b.lockOwner as string }));
        } catch (err) {
          if (err instanceof LockRequestError) throw new ApiError(400, 'ERR_MALFORMED_REQUEST', `${err.message} in lock store ${name}`);
          throw new ApiError(500, api === 'lock' ? 'ERR_TRY_LOCK' : 'ERR_UNLOCK', `${api === 'lock' ? 'failed to try acquiring lock' : 'failed to release lock'}: ${(err as Error).message}`);
        }
      }
    }
    sendJson(res, 404, { errorCode: 'ERR_NOT_FOUND', message: `method ${JSON.stringify(`${method} ${url.pathname}`)} is not found` });
  };

  const handle = (req: ProxyRequest, res: ProxyResponse): void => {
    route(req, res).catch((err: unknown) => {
      if (err instanceof BodyTooLarge) {
        // The rest of the body is not read: the connection closes after the answer.
        if (res instanceof LeanResponse) res.closeAfter = true;
        else res.setHeader('connection', 'close');
        return sendError(res, new ApiError(413, 'ERR_BODY_READ', `failed to read request body: larger than maxRequestBodyMiB (${cfg.maxRequestBodyMiB} MiB)`));
      }
      if (err instanceof ApiError) return sendError(res, err);
      log(`dapr: ${req.method} ${req.url}: ${(err as Error).stack ?? String(err)}`);
      sendError(res, new ApiError(500, 'ERR_INTERNAL', (err as Error).message));
    });
  };

  const startInputs = async (): Promise<void> => {
    for (const c of cfg.components.filter((x) => x.type === 'bindings.cron')) {
      try {
        const path = `/${c.metadata.route ?? c.name}`.replace(/^\/\//, '/');
        // As Dapr: the binding reads only when the app answers OPTIONS on its route (it listens there).
        const probe = await callApp(o.app(), { method: 'OPTIONS', path, ...(o.appToken ? { token: o.appToken } : {}), timeoutMs: 5000 });
        if (probe.status === 404 || probe.status === 405) {
          log(`dapr: input binding ${c.name} not started: the app does not listen on ${path} (OPTIONS answered ${probe.status})`);
          continue;
        }
        const b = await registry.input(c);
        inputs.push(
          await b.read(async (ev) => {
            const headers: Record<string, string> = { 'content-type': 'application/json' };
            for (const [k, v] of Object.entries(ev.metadata)) headers[`metadata.${k.toLowerCase()}`] = v;
            const a = await callApp(o.app(), { method: 'POST', path, body: ev.data, headers, ...(o.appToken ? { token: o.appToken } : {}) });
            if (a.status < 200 || a.status >= 300) throw new Error(`the app answered ${a.status} to input binding ${c.name}`);
          }),
        );
      } catch (err) {
        log(`dapr: input binding ${c.name} not started: ${(err as Error).message}`);
      }
    }
  };

  // Binds with retries (the port may still be held by the proxy this one replaces), as the mesh's listeners do.
  // HTTP/2 (h2c with prior knowledge, as daprd serves it since 1.12): each stream is served as an HTTP/1.1 request.
  const h2 = async (): Promise<H2Handler> => {
    const { H2AsH1Request, H2AsH1Response } = await import('../h2-to-h1.js');
    return (stream, headers) => handle(new H2AsH1Request(stream, headers), new H2AsH1Response(stream));
  };
  const listener = new Listener({ name: 'dapr', host: '127.0.0.1', port: o.port, handler: handle, h2, lean: true, rawTarget: true, keepAliveMs: KEEP_ALIVE_MS, log });
  log(`dapr: building-block API for app ${cfg.appId} on 127.0.0.1:${o.port}`);
  return Promise.resolve({
    appReady: () => {
      if (started) return;
      started = true;
      void subscriber.start();
      void startInputs();
    },
    describe: () => ({
      appId: cfg.appId,
      components: cfg.components.map((c) => ({ name: c.name, type: c.type, ...registry.status(c) })),
      subscriptions: subscriber.active.map((s) => ({
        pubsubname: s.pubsubname,
        topic: s.topic,
        type: s.type,
        routes: [...s.rules.map((r) => r.path), ...(s.defaultPath ? [s.defaultPath] : [])],
        ...(s.deadLetterTopic ? { deadLetterTopic: s.deadLetterTopic } : {}),
      })),
    }),
    close: async (deadline = performance.now() + 1000) => {
      // Requests in flight finish by the proxy's drain deadline, as the mesh's (drained alongside).
      await listener.drain(deadline);
      await subscriber.stop();
      deadLetters.flush();
      await Promise.allSettled(inputs.map((i) => i.close()));
      await registry.close();
      closeAppChannel();
    },
  });
}

/**
 * An object's fields with lower-cased names: Dapr decodes bodies with Go's encoding/json, which
 * matches field names case-insensitively (the JS SDK sends bulk entries as `entryID`).
 */
function goFields(v: unknown): Record<string, unknown> | null {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return null;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[k.toLowerCase()] ??= x;
  return out;
}

function publishError(err: unknown, topic: string, pubsub: string): ApiError {
  if (err instanceof ApiError) return err;
  if (err instanceof CloudEventError) return new ApiError(400, 'ERR_PUBSUB_CLOUD_EVENTS_SER', `error when marshalling cloud event envelope for topic ${topic} pubsub ${pubsub}: ${err.message}`);
  if (err instanceof PubSubError) {
    if (err.code === 'ERR_PUBSUB_REQUEST_METADATA') return new ApiError(400, err.code, err.message);
    if (err.code === 'ERR_PUBSUB_EVENTS_SER') return new ApiError(400, err.code, err.message);
  }
  return new ApiError(500, 'ERR_PUBSUB_PUBLISH_MESSAGE', `error when publish to topic ${topic} in pubsub ${pubsub}: ${(err as Error).message}`);
}
