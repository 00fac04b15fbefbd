// The dashboard's files, bundled at build time by scripts/build-dashboard.mjs into dist/web/ (no CDN:
// the page works offline). Served gzip-compressed when the browser accepts it; compressed once, then
// kept in memory (the bundle is a few hundred KB).
import { readFileSync } from 'node:fs';
import type http from 'node:http';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

/** dist/web, beside dist/src (this file is dist/src/control/dashboard/static.js). */
export const WEB_DIR = fileURLToPath(new URL('../../../web/', import.meta.url));

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
};

interface Cached {
  raw: Buffer;
  gz: Buffer;
  type: string;
}

const cache = new Map<string, Cached | null>();

function load(rel: string, dir: string): Cached | null {
  const key = `${dir}\u0000${rel}`;
  if (cache.has(key)) return cache.get(key)!;
  let entry: Cached | null = null;
  const type = TYPES[extname(rel)];
  if (type) {
    try {
      const raw = readFileSync(join(dir, rel));
      entry = { raw, gz: gzipSync(raw, { level: 9 }), type };
    } catch {
      entry = null; // not built or no such file: 404
    }
  }
  cache.set(key, entry);
  return entry;
}

/** A page path of the single-page app (`/`, `/services`…) is answered with index.html; `/assets/x` with that file. True when answered. */
export function serveStatic(req: http.IncomingMessage, res: http.ServerResponse, path: string, dir = WEB_DIR): boolean {
  if (req.method !== 'GET' && req.method !== 'HEAD') return false;
  let rel: string;
  if (path.startsWith('/assets/')) {
    rel = normalize(path.slice(1));
    if (!rel.startsWith('assets/') || rel.includes('\0')) return false;
  } else if (path === '/' || /^\/(?:[a-z-]+)$/.test(path)) rel = 'index.html';
  else return false;
  const f = load(rel, dir);
  if (!f) {
    const body = rel === 'index.html' ? 'the dashboard is not built: run `npm run build`\n' : 'not found\n';
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) });
    res.end(body);
    return true;
  }
  const gzip = /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
  const body = gzip ? f.gz : f.raw;
  res.writeHead(200, {
    'content-type': f.type,
    'content-length': body.length,
    'cache-control': 'no-cache',
    'x-content-type-options': 'nosniff',
    ...(rel === 'index.html' ? { 'content-security-policy': "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'" } : {}),
    ...(gzip ? { 'content-encoding': 'gzip', vary: 'accept-encoding' } : {}),
  });
  res.end(req.method === 'HEAD' ? undefined : body);
  return true;
}
