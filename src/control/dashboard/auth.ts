// Who may open the dashboard: whoever holds its login token (`.berth/dashboard-token`, 0600, printed
// by `berth dashboard`). As in Jupyter and Aspire, the token arrives once in the URL; the control plane
// answers with an HttpOnly, SameSite=Strict cookie and a redirect to the same URL without the token,
// so the token does not stay in the address bar or the history. Without the cookie every page and API
// route answers 401.
import { timingSafeEqual } from 'node:crypto';
import type http from 'node:http';

/** The cookie's name carries the port: cookies are per host, not per port, and two apps may both run on 127.0.0.1. */
export const cookieName = (port: number): string => `berth_dashboard_${port}`;

function equal(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** The value of cookie `name` in a Cookie header. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** True when the request carries the dashboard's cookie with the right token. */
export function hasDashboardCookie(req: http.IncomingMessage, token: string): boolean {
  const v = cookieValue(req.headers.cookie, cookieName(req.socket.localPort ?? 0));
  return v !== undefined && equal(v, token);
}

/**
 * A `?token=` login: the right token sets the cookie and redirects to the URL without it (true);
 * a wrong one is answered 401 (true); no token: false (the caller goes on).
 */
export function handleLogin(req: http.IncomingMessage, res: http.ServerResponse, url: URL, token: string): boolean {
  const given = url.searchParams.get('token');
  if (given === null) return false;
  if (!equal(given, token)) {
    unauthorized(res, true);
    return true;
  }
  url.searchParams.delete('token');
  const clean = url.pathname + (url.searchParams.size ? `?${url.searchParams}` : '');
  res.writeHead(302, {
    location: clean,
    'set-cookie': `${cookieName(req.socket.localPort ?? 0)}=${token}; HttpOnly; SameSite=Strict; Path=/`,
    'cache-control': 'no-store',
    'content-length': 0,
  });
  res.end();
  return true;
}

const PAGE_401 = `<!doctype html><meta charset="utf-8"><title>Berth dashboard: log in</title>
<body style="font-family:system-ui,sans-serif;margin:3rem;max-width:40rem">
<h1>401: log in to the Berth dashboard</h1>
<p>Run <code>berth dashboard</code> in the app's folder: it prints (and opens) the dashboard's URL with its login token.</p>
</body>`;

/** 401 as a page (for a browser) or as JSON (for the API). */
export function unauthorized(res: http.ServerResponse, html: boolean): void {
  const body = html ? PAGE_401 : JSON.stringify({ error: 'log in to the dashboard first: open the URL `berth dashboard` prints (or send the API bearer token)' });
  res.writeHead(401, { 'content-type': html ? 'text/html; charset=utf-8' : 'application/json', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
  res.end(body);
}

/** What the dashboard's cookie may do: read everything, and the operator actions the CLI has, recording start/stop among them (never apply, down, undo, heartbeats, log ingest or the mesh's own routes). */
export function dashboardMayCall(method: string, path: string): boolean {
  if (method === 'GET') return path !== '/api/v1/mesh/watch';
  if (method !== 'POST') return false;
  return (
    ['/api/v1/scale', '/api/v1/restart', '/api/v1/stop', '/api/v1/start', '/api/v1/recordings', '/api/v1/recordings/stop'].includes(path) ||
    /^\/api\/v1\/nodes\/[^/]+\/(cordon|uncordon|drain)$/.test(path) ||
    // `berth release promote|abort|retry` (not undo: that applies an earlier spec) and `berth gitops sync`.
    /^\/api\/v1\/release\/[^/]+\/(promote|abort|retry)$/.test(path) ||
    /^\/api\/v1\/gitops\/[^/]+\/sync$/.test(path)
  );
}
