// Headers the mesh adds to requests, as Envoy does: `x-request-id` generated when absent
// (generate_request_id), the client's address appended to `x-forwarded-for` where a request enters
// the mesh (the gateway: Envoy's use_remote_address at the edge), and, between proxies, who the
// caller is: the caller's outbound proxy names its service in `x-berth-source`, which the callee's
// inbound proxy takes off the request (the app never sees it) for the `source` metrics label.
import { randomUuid } from './trace.js';
import { tokenList } from './http-syntax.js';

export const SOURCE_HEADER = 'x-berth-source';
/** The mesh snapshot version a proxy routed a request with (see Proxy.inbound: a newer one than the receiver's may vouch for it). */
export const SNAPSHOT_HEADER = 'x-berth-snapshot';

/** What the snapshot's mesh config turns on (both default to on). */
export interface EdgeSettings {
  requestId: boolean;
  forwardedFor: boolean;
  /** Proxies in front of the gateway trusted to set x-forwarded-proto (0: the gateway is the edge). */
  trustedHops: number;
}

type Headers = Record<string, string | string[] | undefined>;

/** A random (version 4) UUID, as Envoy's x-request-id. */
export const requestId: () => string = randomUuid;

/**
 * Adds x-request-id when absent; with `peer` (at the edge), appends it to x-forwarded-for and says
 * the scheme the client used in x-forwarded-proto. A client's own x-forwarded-proto is replaced
 * unless a trusted proxy stands in front (trustedHops): an app that redirects to https or marks
 * cookies secure by it was told `https` by anyone who wrote the header (Envoy at the edge overwrites it).
 */
export function addRequestHeaders(headers: Headers, settings: EdgeSettings, peer: string | undefined): void {
  if (settings.requestId && headers['x-request-id'] === undefined) headers['x-request-id'] = requestId();
  if (settings.forwardedFor && peer) {
    const cur = headers['x-forwarded-for'];
    headers['x-forwarded-for'] = cur === undefined ? peer : `${Array.isArray(cur) ? cur.join(', ') : cur}, ${peer}`;
    if (settings.trustedHops === 0 || headers['x-forwarded-proto'] === undefined) headers['x-forwarded-proto'] = 'http';
  }
}

/**
 * Takes the caller's service name off the request (inbound): 'unknown' for a caller that did not
 * come through a proxy or names no service `known` accepts (a label's values stay bounded).
 */
export function takeSource(headers: Headers, known: (name: string) => boolean): string {
  const v = headers[SOURCE_HEADER];
  if (v === undefined) return 'unknown';
  // Cleared, not deleted: a delete would turn the hot headers object into a slow dictionary; every writer skips undefined values.
  headers[SOURCE_HEADER] = undefined;
  return typeof v === 'string' && known(v) ? v : 'unknown';
}

/** The sender's snapshot version (0 when absent or not a number), cleared so the app never sees it. */
export function takeSnapshotVersion(headers: Headers): number {
  const v = headers[SNAPSHOT_HEADER];
  if (v === undefined) return 0;
  headers[SNAPSHOT_HEADER] = undefined;
  const n = typeof v === 'string' ? Number(v) : NaN;
  return Number.isFinite(n) ? n : 0;
}

/** The header names a `Connection` value lists beyond `close`/`keep-alive`; undefined for none. */
export function connectionNamed(value: string | string[] | undefined): string[] | undefined {
  if (typeof value === 'string' && value.indexOf(',') < 0) {
    const v = value.trim().toLowerCase();
    if (v === 'keep-alive' || v === 'close' || v === '') return undefined;
  }
  const named = tokenList(value).filter((t) => t !== 'close' && t !== 'keep-alive');
  return named.length > 0 ? named : undefined;
}

/**
 * Clears the headers a request's `Connection` names (RFC 9110 §7.6.1: they are this hop's) as it
 * arrives, before the proxy adds its own: dropped later, at the write, they took the proxy's
 * x-forwarded-for, traceparent or x-request-id with them (`Connection: x-forwarded-for` erased the
 * client's address). Host and the body's framing stay: the message was framed by them, and the
 * upstream client writes framing of its own.
 */
export function dropConnectionNamed(headers: Headers): void {
  const value = headers.connection;
  if (value === undefined) return;
  const named = connectionNamed(value);
  if (!named) return;
  // Connection keeps only what the proxy reads from it; the upstream client then drops nothing the proxy adds.
  const kept = tokenList(value).filter((t) => t === 'close' || t === 'keep-alive' || t === 'upgrade');
  headers.connection = kept.length > 0 ? kept.join(', ') : undefined;
  for (const name of named) {
    if (name === 'host' || name === 'content-length' || name === 'transfer-encoding' || name === 'upgrade') continue;
    if (name === '__proto__') delete headers[name]; // an own field (lean-server's addOwnHeader); assigning would set the prototype
    // Cleared, not deleted (see takeSource).
    else if (headers[name] !== undefined) headers[name] = undefined;
  }
}

/**
 * Header names whose further lines node:http (IncomingMessage) and the lean parser do not join into the first: the first value stays in the headers object (what
 * routing and every other reader see), and the further lines are kept aside (extraLines) and
 * written after the others, so two `Authorization` lines reach the app as two (Envoy forwards every
 * line; dropping one hides an ambiguous request from the app). Host and Content-Length are not
 * here: a second one is refused (request smuggling rules).
 */
export const H1_KEPT_ASIDE = new Set([
  'content-type', 'user-agent', 'referer', 'authorization', 'proxy-authorization', 'if-modified-since', 'if-unmodified-since', 'from',
  'location', 'max-forwards', 'retry-after', 'etag', 'last-modified', 'server', 'age', 'expires',
]);

/** The same for node:http2's header object: its single-value fields (kSingleValueHeaders; it joins the others). */
export const H2_KEPT_ASIDE = new Set([
  'access-control-allow-credentials', 'access-control-max-age', 'access-control-request-method', 'age', 'authorization',
  'content-encoding', 'content-language', 'content-location', 'content-md5', 'content-range', 'content-type', 'date', 'dnt',
  'etag', 'expires', 'from', 'if-match', 'if-modified-since', 'if-none-match', 'if-range', 'if-unmodified-since',
  'last-modified', 'location', 'max-forwards', 'proxy-authorization', 'range', 'referer', 'retry-after', 'tk',
  'upgrade-insecure-requests', 'user-agent', 'x-content-type-options',
]);

/** A request's further lines of H1_KEPT_ASIDE (H2_KEPT_ASIDE) names, [lower-case name, value] each, in arrival order. */
export type ExtraLines = [string, string][];

/**
 * Where a headers object keeps its extra lines: a symbol, so `for…in`, Object.keys/entries and
 * JSON never see it, while the object (passed on to the upstream request, copied by spread) carries
 * them. Absent in the common case: a request without such duplicates pays one missed load at its write.
 */
const EXTRA_LINES: unique symbol = Symbol('berth.extraLines');

type WithExtra = { [EXTRA_LINES]?: ExtraLines };

/** The extra lines `headers` carries (undefined: none). */
export function extraLinesOf(headers: object): ExtraLines | undefined {
  return (headers as WithExtra)[EXTRA_LINES];
}

/** Attaches (or, undefined, removes) `headers`' extra lines. */
export function setExtraLines(headers: object, lines: ExtraLines | undefined): void {
  if (lines && lines.length > 0) (headers as WithExtra)[EXTRA_LINES] = lines;
  else if ((headers as WithExtra)[EXTRA_LINES] !== undefined) (headers as WithExtra)[EXTRA_LINES] = undefined;
}

/**
 * The lines of `names` after each name's first in a raw header list ([name, value, …] as node gives
 * it; names compared case-insensitively unless `lowerCase` says they all are: HTTP/2's), undefined
 * when there are none.
 */
export function extraLinesFromRaw(raw: readonly string[], names: ReadonlySet<string>, lowerCase = false): ExtraLines | undefined {
  let extra: ExtraLines | undefined;
  // The names of `names` seen so far: one pass, whatever the number of lines (a head of 2,000
  // repeated lines cost ~2M comparisons when each line looked back at all the earlier ones).
  let seen: Set<string> | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = lowerCase ? raw[i] : raw[i].toLowerCase();
    if (!names.has(name)) continue;
    if (seen?.has(name)) (extra ??= []).push([name, raw[i + 1]]);
    else (seen ??= new Set()).add(name);
  }
  return extra;
}

/**
 * Between proxies over HTTP/2, a request's extra lines travel as fields of this name ("name:value"
 * each): node:http2 refuses to send a second Authorization (its single-value fields) as such. The
 * receiving proxy takes them off (h2ExtraLines) and the app gets them as lines again (HTTP/1.1).
 */
export const EXTRA_LINE_HEADER = 'x-berth-extra-line';

/**
 * An HTTP/2 request's extra lines (H2_KEPT_ASIDE names after their first, and what a sending proxy
 * put in EXTRA_LINE_HEADER fields, which are taken off `headers`), attached to `headers`. A line of a
 * name the request does not have is dropped.
 */
export function takeH2ExtraLines(headers: Record<string, string | string[] | undefined>, raw: readonly string[]): void {
  let extra = extraLinesFromRaw(raw, H2_KEPT_ASIDE, true);
  if (headers[EXTRA_LINE_HEADER] !== undefined) {
    delete headers[EXTRA_LINE_HEADER];
    for (let i = 0; i + 1 < raw.length; i += 2) {
      if (raw[i] !== EXTRA_LINE_HEADER) continue;
      const v = raw[i + 1];
      const colon = v.indexOf(':');
      const name = v.slice(0, colon);
      if (colon > 0 && H2_KEPT_ASIDE.has(name) && headers[name] !== undefined) (extra ??= []).push([name, v.slice(colon + 1)]);
    }
  }
  if (extra) setExtraLines(headers, extra);
}

/** The extra lines `headers` carries as EXTRA_LINE_HEADER values (for an HTTP/2 request to a peer proxy), undefined for none. */
export function extraLineFields(headers: Record<string, string | string[] | undefined>): string[] | undefined {
  const extra = extraLinesOf(headers);
  if (!extra) return undefined;
  const out: string[] = [];
  for (const [name, v] of extra) if (headers[name] !== undefined) out.push(`${name}:${v}`);
  return out.length > 0 ? out : undefined;
}
