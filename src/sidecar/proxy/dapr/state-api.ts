// /v1.0/state/{store}…: save, get, bulk get, delete, transaction, and the alpha query API, with
// Dapr's bodies, headers (ETag, If-Match, metadata.ttlExpireTime) and status codes.
import type { ProxyRequest, ProxyResponse } from '../listener.js';
import { parseTtl } from '../../../components/state/common.js';
import {
  ETagInvalidError,
  ETagMismatchError,
  StateRequestError,
  type Concurrency,
  type DeleteRequest,
  type SetRequest,
  type StateOptions,
  type StateStore,
  type TransactionOperation,
} from '../../../components/state/state-store.js';
import { ApiError, malformed, sendEmpty, sendJson } from './errors.js';

/** A store error as Dapr answers it for the operation `code` (ERR_STATE_SAVE, …). */
function stateError(err: unknown, code: string, message: string): ApiError {
  if (err instanceof ApiError) return err;
  let why = err instanceof Error ? err.message : String(err);
  // The store names the key as stored (`<appId>||key`); the app knows it without the prefix.
  if (err instanceof ETagMismatchError) why = why.replace(/"[^"|]*\|\|/g, '"');
  if (err instanceof ETagMismatchError) return new ApiError(409, code, `${message}: ${why}`);
  if (err instanceof ETagInvalidError) return new ApiError(400, code, `${message}: ${why}`);
  if (err instanceof StateRequestError) return new ApiError(400, why.includes("can't contain") || why.includes('must not be empty') ? 'ERR_MALFORMED_REQUEST' : code, `${message}: ${why}`);
  return new ApiError(500, code, `${message}: ${why}`);
}

function options(o: unknown): StateOptions | undefined {
  if (o === undefined || o === null) return undefined;
  if (typeof o !== 'object') throw malformed('options must be an object');
  const { concurrency, consistency } = o as { concurrency?: unknown; consistency?: unknown };
  const out: StateOptions = {};
  if (concurrency !== undefined && concurrency !== '') {
    if (concurrency !== 'first-write' && concurrency !== 'last-write') throw new ApiError(400, 'ERR_MALFORMED_REQUEST', `invalid concurrency "${String(concurrency)}": use first-write or last-write`);
    out.concurrency = concurrency as Concurrency;
  }
  if (consistency === 'eventual' || consistency === 'strong') out.consistency = consistency;
  return out;
}

/** An ETag as a string, or `{ value }` (the shape the JS SDK's transaction types send, Dapr's gRPC Etag). */
const etagOf = (v: unknown): string | undefined => {
  if (v !== null && typeof v === 'object' && !Array.isArray(v) && 'value' in v) v = (v as { value: unknown }).value;
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') throw malformed('etag must be a string');
  return v;
};

/** Item metadata with the request's `metadata.*` query parameters taking precedence (as Dapr merges them). */
function ttl(itemMeta: unknown, requestMeta: Record<string, string>): number | undefined {
  const m = itemMeta && typeof itemMeta === 'object' ? (itemMeta as Record<string, unknown>) : {};
  const v = requestMeta.ttlInSeconds ?? (m.ttlInSeconds === undefined ? undefined : String(m.ttlInSeconds));
  return parseTtl(v);
}

function setRequest(item: unknown, requestMeta: Record<string, string>, i: number): SetRequest {
  if (!item || typeof item !== 'object' || Array.isArray(item)) throw malformed(`item ${i} must be an object with key and value`);
  const it = item as { key?: unknown; value?: unknown; etag?: unknown; metadata?: unknown; options?: unknown };
  if (typeof it.key !== 'string' || it.key === '') throw new ApiError(400, 'ERR_MALFORMED_REQUEST', `item ${i}: key is empty`);
  const opts = options(it.options);
  const etag = etagOf(it.etag);
  const t = ttl(it.metadata, requestMeta);
  return { key: it.key, value: Buffer.from(JSON.stringify(it.value ?? null)), ...(etag !== undefined ? { etag } : {}), ...(opts ? { options: opts } : {}), ...(t !== undefined ? { ttlInSeconds: t } : {}) };
}

/** Stored bytes as the API gives them back in JSON bodies: the JSON value, or the text. */
function dataOf(b: Buffer): unknown {
  const s = b.toString('utf8');
  try {
    return JSON.parse(s);
  } catch {
    return s;
  }
}

export async function saveState(store: StateStore, name: string, body: unknown, meta: Record<string, string>, res: ProxyResponse): Promise<void> {
  if (!Array.isArray(body)) throw malformed('the body must be a JSON array of state items');
  let reqs: SetRequest[];
  try {
    reqs = body.map((item, i) => setRequest(item, meta, i));
  } catch (err) {
    throw stateError(err, 'ERR_STATE_SAVE', `failed saving state in state store ${name}`);
  }
  for (const r of reqs) {
    try {
      await store.set(r);
    } catch (err) {
      throw stateError(err, 'ERR_STATE_SAVE', `failed saving state in state store ${name}`);
    }
  }
  sendEmpty(res);
}

export async function getState(store: StateStore, name: string, key: string, res: ProxyResponse): Promise<void> {
  let item;
  try {
    item = await store.get(key);
  } catch (err) {
    throw stateError(err, 'ERR_STATE_GET', `fail to get ${key} from state store ${name}`);
  }
  if (!item) return sendEmpty(res);
  const headers: Record<string, string | number> = { etag: item.etag, 'content-type': 'application/json', 'content-length': item.value.length };
  if (item.expireTime) headers['metadata.ttlExpireTime'] = item.expireTime.toISOString();
  res.writeHead(200, headers);
  res.end(item.value);
}

export async function bulkGetState(store: StateStore, name: string, body: unknown, res: ProxyResponse): Promise<void> {
  const keys = (body as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys) || keys.some((k) => typeof k !== 'string')) throw malformed('the body must be { "keys": [string…] }');
  let items;
  try {
    items = await store.bulkGet(keys as string[]);
  } catch (err) {
    throw stateError(err, 'ERR_STATE_BULK_GET', `failed getting state in state store ${name}`);
  }
  sendJson(
    res,
    200,
    items.map((x) =>
      x.item ? { key: x.key, data: dataOf(x.item.value), etag: x.item.etag, ...(x.item.expireTime ? { metadata: { ttlExpireTime: x.item.expireTime.toISOString() } } : {}) } : { key: x.key },
    ),
  );
}

export async function deleteState(store: StateStore, name: string, key: string, req: ProxyRequest, query: URLSearchParams, res: ProxyResponse): Promise<void> {
  const ifMatch = req.headers['if-match'];
  const dreq: DeleteRequest = { key };
  try {
    const opts = options({ concurrency: query.get('concurrency') ?? undefined, consistency: query.get('consistency') ?? undefined });
    if (opts && Object.keys(opts).length > 0) dreq.options = opts;
    if (typeof ifMatch === 'string' && ifMatch !== '') dreq.etag = ifMatch;
    await store.delete(dreq);
  } catch (err) {
    throw stateError(err, 'ERR_STATE_DELETE', `failed deleting state with key ${key}`);
  }
  sendEmpty(res);
}

export async function transactState(store: StateStore, name: string, body: unknown, res: ProxyResponse): Promise<void> {
  if (!store.features().includes('TRANSACTIONAL')) throw new ApiError(500, 'ERR_STATE_STORE_NOT_SUPPORTED', `state store ${name} doesn't support transaction`);
  const b = body as { operations?: unknown; metadata?: unknown } | null;
  if (!b || !Array.isArray(b.operations)) throw malformed('the body must be { "operations": [...] }');
  const reqMeta: Record<string, string> = {};
  if (b.metadata && typeof b.metadata === 'object') for (const [k, v] of Object.entries(b.metadata)) reqMeta[k] = String(v);
  const ops: TransactionOperation[] = [];
  try {
    for (const [i, raw] of (b.operations as unknown[]).entries()) {
      const op = raw as { operation?: unknown; request?: unknown } | null;
      if (op?.operation === 'upsert') ops.push({ operation: 'upsert', request: setRequest(op.request, reqMeta, i) });
      else if (op?.operation === 'delete') {
        const r = op.request as { key?: unknown; etag?: unknown; options?: unknown } | null;
        if (typeof r?.key !== 'string' || r.key === '') throw new ApiError(400, 'ERR_MALFORMED_REQUEST', `operation ${i}: key is empty`);
        const etag = etagOf(r.etag);
        const opts = options(r.options);
        ops.push({ operation: 'delete', request: { key: r.key, ...(etag !== undefined ? { etag } : {}), ...(opts ? { options: opts } : {}) } });
      } else throw new ApiError(400, 'ERR_NOT_SUPPORTED_STATE_OPERATION', `operation type ${String(op?.operation)} not supported`);
    }
    await store.transaction(ops);
  } catch (err) {
    throw stateError(err, 'ERR_STATE_TRANSACTION', 'error while executing state transaction');
  }
  sendEmpty(res);
}

export async function queryState(store: StateStore, name: string, body: unknown, res: ProxyResponse): Promise<void> {
  if (!store.query) throw new ApiError(500, 'ERR_STATE_STORE_NOT_SUPPORTED', 'state store does not support querying');
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw malformed('the body must be a query object');
  let answer;
  try {
    answer = await store.query(body as Parameters<NonNullable<StateStore['query']>>[0]);
  } catch (err) {
    if (err instanceof StateRequestError) throw new ApiError(400, 'ERR_MALFORMED_REQUEST', `failed query in state store ${name}: ${err.message}`);
    throw new ApiError(500, 'ERR_STATE_QUERY', `failed query in state store ${name}: ${(err as Error).message}`);
  }
  sendJson(res, 200, { results: answer.results.map((r) => ({ key: r.key, data: dataOf(r.data), etag: r.etag })), ...(answer.token !== undefined ? { token: answer.token } : {}) });
}
