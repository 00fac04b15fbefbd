// Character classes and small pure helpers of HTTP/1.1 syntax shared by the proxy's parsers
// (lean-server, upstream-client) and listeners: token lists, and the request-target normalisation
// done before route matching (Istio's default, `BASE`: Envoy's normalize_path).

/** 1 for the token characters of a header name or method (RFC 9110 §5.6.2), by char code (< 128). */
export const TCHAR = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") TCHAR[c.charCodeAt(0)] = 1;

/**
 * Where the first control character (a byte below 0x20, or 0x7f) at or after `from` may be, reading
 * 4 bytes at a time up to `to`: the returned offset is `from` advanced by whole words none of whose
 * bytes is one; the caller reads on byte by byte from there (a header value ends at its CR; a HTAB
 * stops the words too). A typed array's element costs ~20 instructions to read in V8 here, a
 * DataView word about as much, so a value's bytes are checked 4 at a time for a quarter of the cost.
 * Per word, by the usual "has a byte less than n" / "has a zero byte" bit tricks (exact as to
 * whether one exists): (x - 0x20202020) & ~x & 0x80808080 for a byte below 0x20, and the same with
 * 0x01010101 on x ^ 0x7f7f7f7f for 0x7f.
 */
export function skipPlainWords(dv: DataView, from: number, to: number): number {
  let at = from;
  while (at + 4 <= to) {
    const x = dv.getInt32(at, true);
    const y = x ^ 0x7f7f7f7f;
    if (((((x - 0x20202020) | 0) & ~x) | (((y - 0x01010101) | 0) & ~y)) & 0x80808080) break;
    at += 4;
  }
  return at;
}

/** The lower-cased members of a comma-separated header value (`Connection: keep-alive, X-Foo`), empty ones left out. */
export function tokenList(value: string | string[] | undefined): string[] {
  if (value === undefined) return [];
  const out: string[] = [];
  for (const v of Array.isArray(value) ? value : [value]) {
    for (const part of v.split(',')) {
      const t = part.trim().toLowerCase();
      if (t) out.push(t);
    }
  }
  return out;
}

/** Whether a comma-separated header value lists `token` (lower-case), ignoring case. */
export function hasToken(value: string | string[] | undefined, token: string): boolean {
  if (value === undefined) return false;
  // One token (the usual `keep-alive` or `close`): compared in place, no string built per request.
  if (typeof value === 'string' && value.indexOf(',') < 0) {
    let a = 0;
    let b = value.length;
    while (a < b && (value.charCodeAt(a) === 32 || value.charCodeAt(a) === 9)) a++;
    while (b > a && (value.charCodeAt(b - 1) === 32 || value.charCodeAt(b - 1) === 9)) b--;
    if (b - a !== token.length) return false;
    for (let i = 0; i < token.length; i++) {
      const c = value.charCodeAt(a + i);
      if ((c >= 65 && c <= 90 ? c | 0x20 : c) !== token.charCodeAt(i)) return false;
    }
    return true;
  }
  return tokenList(value).includes(token);
}

/** Unreserved characters (RFC 3986 §2.3): a percent-encoding of these is decoded by normalisation. */
function unreserved(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 45 || c === 46 || c === 95 || c === 126;
}

function hexValue(c: number): number {
  return c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
}

/**
 * The origin-form target (`/path?query`) normalised as Istio does by default (`BASE`, Envoy's
 * `normalize_path`): percent-encoded unreserved characters decoded, backslashes turned into
 * slashes, `.` and `..` segments removed (RFC 3986 §5.2.4); slashes are NOT merged (Istio's
 * `MERGE_SLASHES` is opt-in) and `%2F` stays encoded. The query is left as it is. undefined for a
 * target that cannot be served (`%00`: Istio answers 400). Returns `url` itself when nothing changes
 * (no string is built on the common path).
 */
export function normalizePath(url: string): string | undefined {
  let q = url.indexOf('?');
  if (q < 0) q = url.length;
  let work = false;
  for (let i = 0; i < q; i++) {
    const c = url.charCodeAt(i);
    if (c === 37 || c === 92 || (c === 46 && url.charCodeAt(i - 1) === 47)) {
      work = true;
      break;
    }
  }
  if (!work) return url;
  let path = '';
  // A `%` that starts no escape (kept as it is): the characters decoded after it may make one.
  let lone = false;
  for (let i = 0; i < q; i++) {
    const c = url.charCodeAt(i);
    if (c === 92) path += '/';
    else if (c === 37 && i + 2 < q && hexValue(url.charCodeAt(i + 1)) >= 0 && hexValue(url.charCodeAt(i + 2)) >= 0) {
      const v = hexValue(url.charCodeAt(i + 1)) * 16 + hexValue(url.charCodeAt(i + 2));
      if (v === 0) return undefined;
      if (unreserved(v)) path += String.fromCharCode(v);
      else path += url.slice(i, i + 3).toUpperCase();
      i += 2;
    } else {
      if (c === 37) lone = true;
      path += url[i];
    }
  }
  const out = removeDotSegments(path) + url.slice(q);
  // `/public/%%32e%%32e/admin` decodes to `/public/%2e%2e/admin`: routes saw a path under /public,
  // and an app reading it with WHATWG URL (which takes `%2e` for a dot) served /admin. Normalised
  // again until nothing changes, so the path routes see is one no parser resolves any further.
  return lone && out !== url ? normalizePath(out) : out;
}

/** RFC 3986 §5.2.4 on an absolute path: `/a/./b/../c` → `/a/c`; never above the root. */
function removeDotSegments(path: string): string {
  const segments = path.split('/');
  const out: string[] = [];
  // segments[0] is '' (the path starts with '/').
  for (let i = 1; i < segments.length; i++) {
    const s = segments[i];
    const last = i === segments.length - 1;
    if (s === '.') {
      if (last) out.push('');
    } else if (s === '..') {
      if (out.length > 0) out.pop();
      if (last) out.push('');
    } else out.push(s);
  }
  return `/${out.join('/')}`;
}

/** An absolute-form target (`http://authority/path?q`, RFC 9112 §3.2.2) split into its authority and origin-form; undefined if it is not one. */
export function splitAbsoluteForm(url: string): { authority: string; path: string } | undefined {
  const m = /^https?:\/\/([^/?#\s]+)([^#\s]*)$/i.exec(url);
  if (!m || m[1].includes('@')) return undefined;
  const rest = m[2];
  return { authority: m[1], path: rest === '' ? '/' : rest.startsWith('?') ? `/${rest}` : rest };
}

/**
 * Puts a request's target in the form routes are matched on and the upstream gets: absolute-form
 * turned into origin-form with `Host` set to its authority (RFC 9112 §3.2.2: the target's authority
 * wins over Host), then the path normalised (normalizePath). False if the target cannot be served
 * (answer 400). `OPTIONS *` is left as it is.
 *
 * A target holding `#` is refused too, as Envoy does by default (`http_reject_path_with_fragment`,
 * since 1.20): a fragment is never part of a request target (RFC 9112 §3.2), and the app's URL
 * parser drops it while routes would see it — `/admin#x` slipped past a route on `exact: /admin` (or `regex`) and
 * the app served `/admin`; `/q?x=1#&v=2` matched a route on query `v=2` the app never got.
 * `fragments`: accepted all the same — the building-block API keeps such targets as sent, as daprd
 * does, and a sidecar's inbound (no routes) passes its invocations on.
 */
export function normalizeRequestTarget(req: { method?: string; url?: string; headers: Record<string, string | string[] | undefined> }, rawTarget = false, fragments = rawTarget): boolean {
  let url = req.url ?? '/';
  if (req.method === 'CONNECT') return true; // authority-form: answered by the handler
  if (url.charCodeAt(0) !== 47) {
    if (url === '*' && req.method === 'OPTIONS') return true;
    const abs = splitAbsoluteForm(url);
    if (!abs) return false;
    req.headers.host = abs.authority;
    url = abs.path;
  }
  if (!fragments && url.indexOf('#') >= 0) return false; // a fragment (see above)
  const norm = normalizePath(url);
  if (norm === undefined) return false;
  // rawTarget: checked as any target, passed on as sent (an absolute-form one as its path).
  req.url = rawTarget ? url : norm;
  return true;
}

/** Whether request headers announce a body: a transfer coding, or a Content-Length above 0. */
export function headersSayBody(headers: Record<string, string | string[] | undefined>): boolean {
  const cl = headers['content-length'];
  return headers['transfer-encoding'] !== undefined || (typeof cl === 'string' && Number(cl) > 0);
}

/** A bodiless answer written on a raw socket, then the connection closes (with Date, as every proxy-made answer). */
export function rawAnswer(status: string, extra = ''): string {
  return `HTTP/1.1 ${status}\r\ndate: ${new Date().toUTCString()}\r\n${extra}connection: close\r\ncontent-length: 0\r\n\r\n`;
}

/**
 * An HTTP/2 request's `:path` put in the form routes are matched on and the upstream gets, as
 * normalizeRequestTarget does for HTTP/1.1 (Envoy normalises both the same way): without it,
 * `/public/../admin` over h2c would slip past a route on `/admin`. False if it cannot be served
 * (answer 400): not origin-form (HTTP/2 has no absolute-form `:path`), or a `%00`. CONNECT has no
 * `:path` (the listener answers it 405 before this); `OPTIONS *` is left as it is.
 */
export function normalizeH2Target(headers: Record<string, string | string[] | undefined>, rawTarget = false, fragments = rawTarget): boolean {
  const method = headers[':method'];
  if (method === 'CONNECT') return true;
  const path = headers[':path'];
  if (typeof path !== 'string') return false;
  if (path.charCodeAt(0) !== 47) return path === '*' && method === 'OPTIONS';
  if (!fragments && path.indexOf('#') >= 0) return false; // a fragment, as on HTTP/1.1
  const norm = normalizePath(path);
  if (norm === undefined) return false;
  if (norm !== path && !rawTarget) headers[':path'] = norm;
  return true;
}

/**
 * Where the first CRLFCRLF (the end of a head) in `buf` starts, -1 if none: Buffer#indexOf's
 * answer, by a JavaScript loop. Heads are a few hundred bytes, where the native call's fixed cost
 * (~2–3 % of a proxy's JavaScript time per request, twice per hop) outweighs the search itself. It
 * looks at every fourth byte: one that is neither CR nor LF rules out the four starts around it.
 * `from`: the first start to look at (a head read in parts is searched from where the last search
 * stopped, less 3).
 */
export function headEnd(buf: Uint8Array, from = 0): number {
  const last = buf.length - 4;
  let i = from;
  while (i <= last) {
    const c = buf[i + 3];
    if (c === 10) {
      if (buf[i + 2] === 13 && buf[i + 1] === 10 && buf[i] === 13) return i;
      // This LF can only be the second byte of a match starting at i + 2.
      i += 2;
    } else if (c === 13) i += 1; // this CR can be the third byte of a match starting at i + 1
    else i += 4;
  }
  return -1;
}
