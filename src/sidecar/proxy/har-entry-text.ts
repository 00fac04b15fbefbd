// A recorded exchange as the JSON text of its HAR 1.2 entry, written straight from what the proxy
// captured (flat header lists, body bytes) — no entry object graph for JSON.stringify to walk, and no
// URL object for the common request target. The text is what JSON.stringify of the HarEntry the
// recorder used to build gives (the same fields, in the same order), so readers see no difference.
import { isUtf8 } from 'node:buffer';
import { STATUS_CODES } from 'node:http';
import { brotliDecompressSync, gunzipSync, inflateSync } from 'node:zlib';

export const REDACTED = 'REDACTED';

/** Bodies kept as text (utf8) in the HAR; other types are base64 unless their bytes are UTF-8 and the type says nothing. */
const TEXTUAL = /^(text\/|application\/([\w.+-]*\+)?(json|xml|javascript|x-www-form-urlencoded|graphql|yaml|x-ndjson))/i;

/** What the recorder captured of one exchange (raw, as on the request path). */
export interface CapturedExchange {
  startedAt: number;
  /** performance.now() at the start, at the response head, at the end. */
  t0: number;
  headAt: number;
  endAt: number;
  method: string;
  url: string;
  /** The client's HTTP version: '1.1', '1.0', '2.0' (HAR's httpVersion is `HTTP/` and it). */
  httpVersion: string;
  /** [name, value, …] as the request had them (names lower case). */
  reqHeaders: string[];
  /** The response head's status, and the status the exchange ended with (0: the client went away). */
  status: number;
  finalStatus: number;
  /** [name, value, …] of the response (names as received). */
  resHeaders: string[];
  reqBody: CapturedBody | undefined;
  resBody: CapturedBody | undefined;
  traceId: string;
  /** Downstream calls (kept with their parent). */
  service: string | undefined;
  downstream: CapturedExchange[] | undefined;
}

export interface CapturedBody {
  /** Bytes seen in all, and the part kept (up to maxBodyBytes). */
  size: number;
  bytes(): Buffer;
  readonly truncated: boolean;
}

export interface EntryContext {
  redacted: ReadonlySet<string>;
  /** The recording's body limit: a compressed body is decoded up to this many bytes, never more. */
  maxBodyBytes: number;
  proxyId: string;
  revision: string | undefined;
}

/** What JSON.stringify escapes in a string (quote, backslash, controls; surrogates when lone: left to it). */
// eslint-disable-next-line no-control-regex -- the control characters are what JSON must escape
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;
/** A string as JSON: most header names and values need no escape, and quoting them beats a JSON.stringify call. */
const q = (s: string): string => (NEEDS_ESCAPE.test(s) ? JSON.stringify(s) : `"${s}"`);

/** Host → `http://host[:port]` as URL spells it (lower case, default port dropped, IPv4 forms normalised). */
const origins = new Map<string, string>();

function origin(host: string): string {
  let o = origins.get(host);
  if (o === undefined) {
    o = new URL(`http://${host}/`).origin; // throws for a host no URL accepts: the exchange is unrecordable
    if (origins.size >= 256) origins.clear();
    origins.set(host, o);
  }
  return o;
}

/**
 * The request's absolute URL and its query as name/value pairs. The URL is the Host's origin plus the
 * request-target exactly as the app received it: an origin-form target is a path even when it starts
 * with `//` (`new URL()` would read `//evil.example/x` as another host), and dot segments, `\` and
 * escapes are kept (the recording says what was served, not what a URL parser makes of it). Other
 * forms (absolute-form, `*`) are read as `new URL()` reads them under the Host.
 */
export function requestUrl(url: string, host: string): { href: string; query: [string, string][] } {
  if (!url.startsWith('/')) {
    const u = new URL(`/${url}`, `http://${host}`);
    return { href: u.href, query: [...u.searchParams] };
  }
  const href = origin(host) + url;
  const mark = url.indexOf('?');
  const query: [string, string][] = [];
  if (mark < 0) return { href, query };
  const hash = url.indexOf('#', mark);
  const search = url.slice(mark + 1, hash < 0 ? undefined : hash);
  // (A leading `&`: URLSearchParams would drop a leading `?` of the query itself, URL does not.)
  if (search.includes('%') || search.includes('+')) return { href, query: [...new URLSearchParams(`&${search}`)] };
  for (const part of search.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    query.push(eq < 0 ? [part, ''] : [part.slice(0, eq), part.slice(eq + 1)]);
  }
  return { href, query };
}

function headerOf(flat: string[], lower: string): string | undefined {
  for (let i = 0; i < flat.length; i += 2) if (flat[i].length === lower.length && flat[i].toLowerCase() === lower) return flat[i + 1];
  return undefined;
}

function headersText(flat: string[], redacted: ReadonlySet<string>): string {
  let out = '[';
  for (let i = 0; i < flat.length; i += 2) {
    const name = flat[i];
    out += `${i ? ',' : ''}{"name":${q(name)},"value":${q(redacted.has(name.toLowerCase()) ? REDACTED : flat[i + 1])}}`;
  }
  return out + ']';
}

/**
 * `"text":…` (and `"encoding":"base64"`) of a body: text for textual and untyped types when the bytes
 * are UTF-8; anything else (binary, or a textual type in another charset: iso-8859-1, …) as base64,
 * so the bytes are kept exactly (decoding them as UTF-8 would turn them into U+FFFD).
 */
function bodyText(body: Buffer, mimeType: string): string {
  if ((mimeType === '' || TEXTUAL.test(mimeType)) && isUtf8(body)) return `"text":${q(body.toString('utf8'))}`;
  return `"text":${q(body.toString('base64'))},"encoding":"base64"`;
}

function requestText(x: CapturedExchange, ctx: EntryContext): string {
  const redacted = ctx.redacted;
  const hostRaw = headerOf(x.reqHeaders, 'host');
  const host = hostRaw === undefined ? 'localhost' : redacted.has('host') ? REDACTED : hostRaw;
  const { href, query } = requestUrl(x.url, host);
  let qs = '[';
  for (let i = 0; i < query.length; i++) qs += `${i ? ',' : ''}{"name":${q(query[i][0])},"value":${q(query[i][1])}}`;
  qs += ']';
  const size = x.reqBody?.size ?? 0;
  let out = `{"method":${q(x.method)},"url":${q(href)},"httpVersion":"HTTP/${x.httpVersion}","cookies":[],"headers":${headersText(x.reqHeaders, redacted)},"queryString":${qs},"headersSize":-1,"bodySize":${size}`;
  if (size > 0) {
    const type = (redacted.has('content-type') ? REDACTED : headerOf(x.reqHeaders, 'content-type')) ?? '';
    out += `,"postData":{"mimeType":${q(type)},${bodyText(x.reqBody!.bytes(), type)}}`;
    if (x.reqBody!.truncated) out += ',"_truncated":true';
  }
  return out + '}';
}

function responseText(x: CapturedExchange, ctx: EntryContext): string {
  const status = x.status || x.finalStatus;
  const mimeType = headerOf(x.resHeaders, 'content-type') ?? '';
  const size = x.resBody?.size ?? 0;
  let body = size > 0 ? x.resBody!.bytes() : undefined;
  let contentSize = size;
  let comment = '';
  let notKept = false;
  const coding = body && body.length > 0 && !x.resBody!.truncated ? headerOf(x.resHeaders, 'content-encoding')?.toLowerCase() : undefined;
  if (coding && body && (coding === 'gzip' || coding === 'deflate' || coding === 'br')) {
    // Browsers record decoded bodies and the replayer compares decoded ones: do the same, but never
    // past maxBodyBytes (a few hundred bytes of br can decode to gigabytes, on the event loop).
    const limit = { maxOutputLength: Math.max(1, ctx.maxBodyBytes) };
    try {
      body = coding === 'gzip' ? gunzipSync(body, limit) : coding === 'deflate' ? inflateSync(body, limit) : brotliDecompressSync(body, limit);
      contentSize = body.length;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
        // Decodes past the limit: the entry is kept without its body (marked; a replay compares no body).
        body = undefined;
        contentSize = -1;
        notKept = true;
        comment = `not kept: its ${coding} encoding decodes to more than maxBodyBytes (${ctx.maxBodyBytes})`;
      }
      // Otherwise safe to ignore: a body that does not decode is kept as it came (base64 below).
    }
  }
  let content = `{"size":${contentSize},"mimeType":${q(mimeType)}`;
  if (body && body.length > 0) content += `,${bodyText(body, mimeType)}`;
  if (comment) content += `,"comment":${q(comment)}`;
  content += '}';
  let out = `{"status":${status},"statusText":${q(STATUS_CODES[status] ?? '')},"httpVersion":"HTTP/${x.httpVersion}","cookies":[],"headers":${headersText(x.resHeaders, ctx.redacted)},"content":${content},"redirectURL":${q(headerOf(x.resHeaders, 'location') ?? '')},"headersSize":-1,"bodySize":${size}`;
  if (x.resBody?.truncated || notKept) out += ',"_truncated":true';
  return out + '}';
}

/** The HAR entry of a recorded request (its downstream calls inside), as JSON text; throws for a Host no URL accepts. */
export function entryText(x: CapturedExchange, ctx: EntryContext, onBadCall: () => void): string {
  const time = x.endAt - x.t0;
  const wait = x.headAt ? x.headAt - x.t0 : time;
  let out = `{"startedDateTime":"${new Date(x.startedAt).toISOString()}","time":${time},"request":${requestText(x, ctx)},"response":${responseText(x, ctx)},"cache":{},"timings":{"send":0,"wait":${wait},"receive":${Math.max(0, time - wait)}},"_instance":${q(ctx.proxyId)}`;
  if (ctx.revision) out += `,"_revision":${q(ctx.revision)}`;
  out += `,"_traceId":${q(x.traceId)}`;
  if (x.downstream) {
    const calls: string[] = [];
    for (const d of x.downstream) {
      try {
        calls.push(`{"service":${q(d.service ?? '')},"startedDateTime":"${new Date(d.startedAt).toISOString()}","time":${d.endAt - d.t0},"request":${requestText(d, ctx)},"response":${responseText(d, ctx)}}`);
      } catch {
        onBadCall(); // a call the HAR cannot describe is left out (counted), the request is kept
      }
    }
    if (calls.length) out += `,"_downstream":[${calls.join(',')}]`;
  }
  return out + '}';
}
