// HAR 1.2 (the HTTP Archive format browsers and Playwright export): the types, a strict validator
// that names the path of every violation, and a reader that turns a HAR file from any of those
// producers into replayable entries. Berth's own extras ride in `_`-prefixed custom fields, which
// the spec reserves for tools.
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, join } from 'node:path';

export interface HarNameValue {
  name: string;
  value: string;
  comment?: string;
}

export interface HarCookie {
  name: string;
  value: string;
  path?: string;
  domain?: string;
  expires?: string;
  httpOnly?: boolean;
  secure?: boolean;
  comment?: string;
}

export interface HarPostParam {
  name: string;
  value?: string;
  fileName?: string;
  contentType?: string;
  comment?: string;
}

export interface HarPostData {
  mimeType: string;
  /** `text` and `params` are mutually exclusive in the spec; browsers often send both. */
  params?: HarPostParam[];
  text?: string;
  /** Not in 1.2 (a 1.3 proposal), used by Berth for binary request bodies. */
  encoding?: string;
  comment?: string;
}

export interface HarRequest {
  method: string;
  url: string;
  httpVersion: string;
  cookies: HarCookie[];
  headers: HarNameValue[];
  queryString: HarNameValue[];
  postData?: HarPostData;
  headersSize: number;
  bodySize: number;
  comment?: string;
  /** Berth: the request body was cut at maxBodyBytes. */
  _truncated?: boolean;
}

export interface HarContent {
  size: number;
  compression?: number;
  mimeType: string;
  text?: string;
  /** `base64` when `text` holds binary content. */
  encoding?: string;
  comment?: string;
  /** Playwright's `content: 'attach'` mode: the body lives in a file beside the HAR. */
  _file?: string;
}

export interface HarResponse {
  status: number;
  statusText: string;
  httpVersion: string;
  cookies: HarCookie[];
  headers: HarNameValue[];
  content: HarContent;
  redirectURL: string;
  headersSize: number;
  bodySize: number;
  comment?: string;
  /** Berth: the response body was cut at maxBodyBytes. */
  _truncated?: boolean;
}

export interface HarCacheEntry {
  expires?: string;
  lastAccess: string;
  eTag: string;
  hitCount: number;
  comment?: string;
}

export interface HarCache {
  beforeRequest?: HarCacheEntry | null;
  afterRequest?: HarCacheEntry | null;
  comment?: string;
}

export interface HarTimings {
  blocked?: number;
  dns?: number;
  connect?: number;
  send: number;
  wait: number;
  receive: number;
  ssl?: number;
  comment?: string;
}

/** A call the recorded request made through its instance's outbound sidecar (matched by traceparent). */
export interface HarDownstreamCall {
  service: string;
  request: HarRequest;
  response: HarResponse;
  startedDateTime: string;
  time: number;
}

export interface HarEntry {
  pageref?: string;
  startedDateTime: string;
  time: number;
  request: HarRequest;
  response: HarResponse;
  cache: HarCache;
  timings: HarTimings;
  serverIPAddress?: string;
  connection?: string;
  comment?: string;
  /** Berth: the instance that served the request. */
  _instance?: string;
  /** Berth: the revision of that instance. */
  _revision?: string;
  /** Berth: the W3C trace id of the request. */
  _traceId?: string;
  /** Berth: calls made through the outbound sidecar on behalf of this request. */
  _downstream?: HarDownstreamCall[];
}

export interface HarCreator {
  name: string;
  version: string;
  comment?: string;
}

export interface HarPage {
  startedDateTime: string;
  id: string;
  title: string;
  pageTimings: { onContentLoad?: number; onLoad?: number; comment?: string };
  comment?: string;
}

export interface HarLog {
  version: string;
  creator: HarCreator;
  browser?: HarCreator;
  pages?: HarPage[];
  entries: HarEntry[];
  comment?: string;
}

export interface Har {
  log: HarLog;
}

// ---------------------------------------------------------------------------------------------
// Validation

export interface HarViolation {
  /** JSON path of the offending value, e.g. `$.log.entries[3].request.headers[0].value`. */
  path: string;
  message: string;
}

type Kind = 'string' | 'number' | 'boolean' | 'object' | 'array';
interface Field {
  kind: Kind;
  required: boolean;
  /** Validates the value (objects, arrays of objects); pushes violations itself. */
  check?: (v: unknown, path: string, out: HarViolation[]) => void;
  /** null is allowed (cache.beforeRequest). */
  nullable?: boolean;
}
type Shape = Record<string, Field>;

const req = (kind: Kind, check?: Field['check']): Field => ({ kind, required: true, check });
const opt = (kind: Kind, check?: Field['check']): Field => ({ kind, required: false, check });

const kindOf = (v: unknown): Kind | 'null' | 'other' =>
  v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' || typeof v === 'object' ? (typeof v as Kind) : 'other';

function checkShape(shape: Shape, v: unknown, path: string, out: HarViolation[]): void {
  if (kindOf(v) !== 'object') {
    out.push({ path, message: `must be an object, got ${kindOf(v)}` });
    return;
  }
  const o = v as Record<string, unknown>;
  for (const [name, f] of Object.entries(shape)) {
    const p = `${path}.${name}`;
    const val = o[name];
    if (val === undefined) {
      if (f.required) out.push({ path: p, message: 'is required' });
      continue;
    }
    if (val === null && f.nullable) continue;
    const k = kindOf(val);
    if (k !== f.kind) {
      out.push({ path: p, message: `must be ${f.kind === 'array' || f.kind === 'object' ? 'an' : 'a'} ${f.kind}, got ${k}` });
      continue;
    }
    if (f.kind === 'number' && !Number.isFinite(val)) out.push({ path: p, message: 'must be a finite number' });
    f.check?.(val, p, out);
  }
  // Only the spec's names and custom `_fields` are allowed: a typo is a violation, not silence.
  for (const name of Object.keys(o)) if (!(name in shape) && !name.startsWith('_')) out.push({ path: `${path}.${name}`, message: 'is not a HAR 1.2 field (custom fields must start with "_")' });
}

const shapeCheck = (shape: Shape) => (v: unknown, path: string, out: HarViolation[]) => checkShape(shape, v, path, out);
const arrayOf = (check: NonNullable<Field['check']>) => (v: unknown, path: string, out: HarViolation[]) =>
  (v as unknown[]).forEach((item, i) => check(item, `${path}[${i}]`, out));

/** ISO 8601 date-time with a time zone (HAR requires one). */
const ISO_DATE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/;
const isoDate = (v: unknown, path: string, out: HarViolation[]) => {
  if (!ISO_DATE.test(v as string) || Number.isNaN(Date.parse(v as string))) out.push({ path, message: `must be an ISO 8601 date-time with a time zone, got ${JSON.stringify(v)}` });
};
const nonNegative = (v: unknown, path: string, out: HarViolation[]) => {
  if ((v as number) < 0) out.push({ path, message: `must be >= 0, got ${String(v)}` });
};
/** Sizes and optional timings: -1 means "not known / does not apply". */
const sizeOrMinusOne = (v: unknown, path: string, out: HarViolation[]) => {
  if ((v as number) < -1) out.push({ path, message: `must be >= 0 or -1, got ${String(v)}` });
};

const nameValue: Shape = { name: req('string'), value: req('string'), comment: opt('string') };
const cookie: Shape = {
  name: req('string'),
  value: req('string'),
  path: opt('string'),
  domain: opt('string'),
  expires: opt('string'),
  httpOnly: opt('boolean'),
  secure: opt('boolean'),
  comment: opt('string'),
  sameSite: opt('string'), // Chromium and Playwright add it; harmless and widely emitted
};
const postParam: Shape = { name: req('string'), value: opt('string'), fileName: opt('string'), contentType: opt('string'), comment: opt('string') };
const postData: Shape = {
  mimeType: req('string'),
  params: opt('array', arrayOf(shapeCheck(postParam))),
  text: opt('string'),
  encoding: opt('string'),
  comment: opt('string'),
};
const content: Shape = {
  size: req('number', sizeOrMinusOne),
  compression: opt('number'),
  mimeType: req('string'),
  text: opt('string'),
  encoding: opt('string', (v, path, out) => {
    if (v !== 'base64') out.push({ path, message: `unknown encoding ${JSON.stringify(v)} (only "base64")` });
  }),
  comment: opt('string'),
};
const httpVersion = req('string');
const request: Shape = {
  method: req('string', (v, path, out) => {
    if (!/^[A-Za-z!#$%&'*+.^_`|~0-9-]+$/.test(v as string)) out.push({ path, message: `is not an HTTP method: ${JSON.stringify(v)}` });
  }),
  url: req('string', (v, path, out) => {
    if (!URL.canParse(v as string)) out.push({ path, message: `is not an absolute URL: ${JSON.stringify(v)}` });
  }),
  httpVersion,
  cookies: req('array', arrayOf(shapeCheck(cookie))),
  headers: req('array', arrayOf(shapeCheck(nameValue))),
  queryString: req('array', arrayOf(shapeCheck(nameValue))),
  postData: opt('object', shapeCheck(postData)),
  headersSize: req('number', sizeOrMinusOne),
  bodySize: req('number', sizeOrMinusOne),
  comment: opt('string'),
};
const response: Shape = {
  status: req('number', (v, path, out) => {
    // 0: the browser got no response (blocked, aborted); browsers export it so.
    if (!Number.isInteger(v) || (v !== 0 && ((v as number) < 100 || (v as number) > 999))) out.push({ path, message: `must be an HTTP status code, got ${String(v)}` });
  }),
  statusText: req('string'),
  httpVersion,
  cookies: req('array', arrayOf(shapeCheck(cookie))),
  headers: req('array', arrayOf(shapeCheck(nameValue))),
  content: req('object', shapeCheck(content)),
  redirectURL: req('string'),
  headersSize: req('number', sizeOrMinusOne),
  bodySize: req('number', sizeOrMinusOne),
  comment: opt('string'),
};
const cacheEntry: Shape = { expires: opt('string'), lastAccess: req('string'), eTag: req('string'), hitCount: req('number', nonNegative), comment: opt('string') };
const cache: Shape = {
  beforeRequest: { ...opt('object', shapeCheck(cacheEntry)), nullable: true },
  afterRequest: { ...opt('object', shapeCheck(cacheEntry)), nullable: true },
  comment: opt('string'),
};
const timings: Shape = {
  blocked: opt('number', sizeOrMinusOne),
  dns: opt('number', sizeOrMinusOne),
  connect: opt('number', sizeOrMinusOne),
  send: req('number', nonNegative),
  wait: req('number', nonNegative),
  receive: req('number', nonNegative),
  ssl: opt('number', sizeOrMinusOne),
  comment: opt('string'),
};
const downstream: Shape = {
  service: req('string'),
  startedDateTime: req('string', isoDate),
  time: req('number', nonNegative),
  request: req('object', shapeCheck(request)),
  response: req('object', shapeCheck(response)),
};
const entry: Shape = {
  pageref: opt('string'),
  startedDateTime: req('string', isoDate),
  time: req('number', nonNegative),
  request: req('object', shapeCheck(request)),
  response: req('object', shapeCheck(response)),
  cache: req('object', shapeCheck(cache)),
  timings: req('object', shapeCheck(timings)),
  serverIPAddress: opt('string'),
  connection: opt('string'),
  comment: opt('string'),
};
const creator: Shape = { name: req('string'), version: req('string'), comment: opt('string') };
const page: Shape = {
  startedDateTime: req('string', isoDate),
  id: req('string'),
  title: req('string'),
  pageTimings: req('object', shapeCheck({ onContentLoad: opt('number', sizeOrMinusOne), onLoad: opt('number', sizeOrMinusOne), comment: opt('string') })),
  comment: opt('string'),
};
const log: Shape = {
  version: req('string', (v, path, out) => {
    if (v !== '1.2' && v !== '1.1') out.push({ path, message: `must be "1.2" (or "1.1"), got ${JSON.stringify(v)}` });
  }),
  creator: req('object', shapeCheck(creator)),
  browser: opt('object', shapeCheck(creator)),
  pages: opt('array', arrayOf(shapeCheck(page))),
  entries: req('array', arrayOf(shapeCheck(entry))),
  comment: opt('string'),
};

/** Berth's custom fields, checked when present so its own recordings stay honest. */
function checkBerthExtras(h: Record<string, unknown>, out: HarViolation[]): void {
  const entries = (h.log as { entries?: unknown })?.entries;
  if (!Array.isArray(entries)) return;
  entries.forEach((e: unknown, i) => {
    if (kindOf(e) !== 'object') return;
    const x = e as Record<string, unknown>;
    const p = `$.log.entries[${i}]`;
    for (const f of ['_instance', '_revision', '_traceId'] as const)
      if (x[f] !== undefined && typeof x[f] !== 'string') out.push({ path: `${p}.${f}`, message: 'must be a string' });
    if (x._traceId !== undefined && typeof x._traceId === 'string' && !/^[0-9a-f]{32}$/.test(x._traceId)) out.push({ path: `${p}._traceId`, message: 'must be 32 lowercase hex digits (W3C trace id)' });
    if (x._downstream !== undefined) {
      if (!Array.isArray(x._downstream)) out.push({ path: `${p}._downstream`, message: 'must be an array' });
      else x._downstream.forEach((d: unknown, j) => checkShape(downstream, d, `${p}._downstream[${j}]`, out));
    }
  });
}

/** Every violation of HAR 1.2 in `value`, with its JSON path; empty when valid. */
export function validateHar(value: unknown): HarViolation[] {
  const out: HarViolation[] = [];
  checkShape({ log: req('object', shapeCheck(log)) }, value, '$', out);
  if (out.length === 0 || kindOf(value) === 'object') checkBerthExtras(value as Record<string, unknown>, out);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Reading

export class HarReadError extends Error {
  constructor(
    readonly file: string,
    message: string,
    readonly violations: HarViolation[] = [],
  ) {
    super(`${file}: ${message}`);
  }
}

/** One recorded exchange, ready to replay and compare. */
export interface RecordedExchange {
  /** Where it came from: `file#index`. */
  source: string;
  startedAt: number;
  method: string;
  url: URL;
  /**
   * The request-target as recorded (path and query, byte for byte: `/a/../b`, `//x/y`), which `url`
   * would normalise; absent when the recorded URL cannot be sent as it is (then `url`'s path is).
   */
  target?: string;
  headers: [string, string][];
  body: Buffer | undefined;
  response: {
    status: number;
    headers: [string, string][];
    body: Buffer | undefined;
    /** The recorded body was cut at maxBodyBytes: compare only what was kept. */
    truncated: boolean;
  };
  entry: HarEntry;
}

/** Headers a replay must not copy: HTTP/2 pseudo-headers, hop-by-hop ones, and what the client sets itself. */
const NOT_REPLAYED = new Set(['host', 'connection', 'keep-alive', 'transfer-encoding', 'content-length', 'upgrade', 'proxy-connection', 'te', 'trailer', 'expect']);

export function replayableHeaders(headers: HarNameValue[]): [string, string][] {
  return headers.filter((h) => !h.name.startsWith(':') && !NOT_REPLAYED.has(h.name.toLowerCase())).map((h) => [h.name, h.value]);
}

/** `scheme://authority` then the target (up to a fragment); only visible ASCII, which a request line carries as is. */
const RAW_TARGET = /^[a-z][a-z\d+.-]*:\/\/[^/?#\\]*([/?][!-"$-~]*)?(#.*)?$/i;

/** The path and query of a recorded URL as written (the recorder keeps them as the app received them). */
export function recordedTarget(url: string): string | undefined {
  const m = RAW_TARGET.exec(url);
  if (!m?.[1]) return undefined;
  return m[1].startsWith('?') ? `/${m[1]}` : m[1];
}

function decodeText(text: string | undefined, encoding: string | undefined): Buffer | undefined {
  if (text === undefined) return undefined;
  return encoding === 'base64' ? Buffer.from(text, 'base64') : Buffer.from(text, 'utf8');
}

function requestBody(p: HarPostData | undefined): Buffer | undefined {
  if (!p) return undefined;
  if (p.text !== undefined) return decodeText(p.text, p.encoding);
  // Form params only (older browser exports): rebuild an urlencoded body.
  if (p.params && p.params.length) return Buffer.from(new URLSearchParams(p.params.map((x): [string, string] => [x.name, x.value ?? ''])).toString());
  return undefined;
}

/**
 * Parses a HAR document. Strict about the structure replay needs (log.entries, request method and
 * URL, response status); the full validator's other complaints are returned as warnings, since
 * browsers bend the spec in harmless ways.
 */
export async function readHar(file: string, options: { strict?: boolean } = {}): Promise<{ har: Har; exchanges: RecordedExchange[]; warnings: HarViolation[] }> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new HarReadError(file, `cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1); // the spec says readers ignore a BOM
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    // A recording whose writer died before closing the file lacks only its closing brackets.
    doc = repairUnfinished(text);
    if (doc === undefined) throw new HarReadError(file, `not JSON: ${(err as Error).message}`);
  }
  const violations = validateHar(doc);
  const fatal = violations.filter((v) => /^\$(\.log(\.entries(\[\d+\](\.request(\.(method|url))?|\.response(\.status)?)?)?)?)?$/.test(v.path));
  if (fatal.length || (options.strict && violations.length)) {
    const shown = (options.strict ? violations : fatal).slice(0, 5).map((v) => `${v.path} ${v.message}`);
    throw new HarReadError(file, `not a usable HAR file: ${shown.join('; ')}${violations.length > shown.length ? ` (and ${violations.length - shown.length} more)` : ''}`, violations);
  }
  const har = doc as Har;
  const dir = dirname(file);
  const exchanges: RecordedExchange[] = [];
  let lastStart = 0;
  for (const [i, e] of har.log.entries.entries()) {
    const t = Date.parse(e.startedDateTime);
    lastStart = Number.isNaN(t) ? lastStart : t;
    const c = e.response.content ?? { size: -1, mimeType: '' };
    let resBody = decodeText(c.text, c.encoding);
    if (resBody === undefined && typeof c._file === 'string') {
      const p = isAbsolute(c._file) ? c._file : join(dir, c._file);
      resBody = await readFile(p).catch(() => undefined); // a missing attachment leaves the body unknown, not an error
    }
    exchanges.push({
      source: `${file}#${i}`,
      startedAt: lastStart,
      method: e.request.method.toUpperCase(),
      url: new URL(e.request.url),
      target: recordedTarget(e.request.url),
      headers: replayableHeaders(e.request.headers ?? []),
      body: requestBody(e.request.postData),
      response: {
        status: e.response.status,
        headers: (e.response.headers ?? []).filter((h) => !h.name.startsWith(':')).map((h) => [h.name.toLowerCase(), h.value]),
        body: resBody,
        truncated: e.response._truncated === true,
      },
      entry: e,
    });
  }
  return { har, exchanges, warnings: violations };
}

/** A HarWriter file cut short (the process died): complete it, or undefined when it is something else. */
function repairUnfinished(text: string): unknown {
  if (!text.startsWith('{"log":{"version":')) return undefined;
  // One entry per line: try as is, then without a last line that was cut mid-entry.
  const lines = text.trimEnd().split('\n');
  for (const keep of [lines.length, lines.length - 1]) {
    if (keep < 1) break;
    try {
      return JSON.parse(`${lines.slice(0, keep).join('\n').replace(/,\s*$/, '')}\n]}}`);
    } catch {
      // not complete yet: try without the last line, then give up (the caller reports the parse error)
    }
  }
  return undefined;
}

/** Methods that change state on the server (skipped by replay unless --allow-side-effects). */
export const WRITE_METHODS: ReadonlySet<string> = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
