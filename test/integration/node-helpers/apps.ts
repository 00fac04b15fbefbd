// Tiny programs the node-agent integration tests run as instances: an HTTP app with switchable health,
// a sidecar that notes its SIGTERM, a logger that writes and exits, and a minimal gRPC health server.

/** HTTP app on HOST:PORT. /healthz fails until STARTUP_DELAY_MS passed or after /sick; /ready fails when NOT_READY=1; /alloc?mb=N grows RSS. */
export const HTTP_APP = `
import http from 'node:http';
import { appendFileSync } from 'node:fs';
const host = process.env.HOST, port = Number(process.env.PORT);
const started = Date.now();
const startupDelay = Number(process.env.STARTUP_DELAY_MS ?? 0);
let sick = false;
const hog = [];
process.on('SIGTERM', () => {
  if (process.env.STOP_LOG) appendFileSync(process.env.STOP_LOG, 'app SIGTERM ' + process.env.BERTH_INSTANCE + '\\n');
  if (process.env.IGNORE_SIGTERM !== '1') process.exit(0);
});
const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  const warm = Date.now() - started >= startupDelay;
  if (url.pathname === '/healthz') res.statusCode = warm && !sick ? 200 : 500;
  else if (url.pathname === '/ready') res.statusCode = warm && process.env.NOT_READY !== '1' ? 200 : 503;
  else if (url.pathname === '/sick') sick = true;
  else if (url.pathname === '/alloc') hog.push(Buffer.alloc(Number(url.searchParams.get('mb')) * 1024 * 1024, 1));
  res.end(process.env.BERTH_INSTANCE ?? 'app');
});
server.listen(port, host, () => console.log('listening on ' + host + ':' + port));
`;

/** Sidecar: idles (with LISTEN_PORT: listens on HOST:LISTEN_PORT after LISTEN_AFTER_MS); on SIGTERM appends a line to STOP_LOG and exits. */
export const SIDECAR = `
import { appendFileSync } from 'node:fs';
import net from 'node:net';
if (process.env.LISTEN_PORT) setTimeout(() => net.createServer((s) => s.end()).listen(Number(process.env.LISTEN_PORT), process.env.HOST), Number(process.env.LISTEN_AFTER_MS ?? 0));
process.on('SIGTERM', () => {
  if (process.env.STOP_LOG) appendFileSync(process.env.STOP_LOG, 'sidecar SIGTERM ' + process.env.BERTH_INSTANCE + '\\n');
  process.exit(0);
});
setInterval(() => {}, 1 << 30);
console.log('sidecar up');
`;

/** Writes to both streams, one long line and a last line without newline, then exits 0. */
export const LOGGER = `
process.stdout.write('hello stdout\\n');
process.stderr.write('hello stderr\\n');
process.stdout.write('x'.repeat(20000) + '\\n');
process.stdout.write('tail without newline');
`;

/** gRPC health server on HOST:PORT answering SERVING (or NOT_SERVING when GRPC_STATUS=2). */
export const GRPC_APP = `
import http2 from 'node:http2';
const status = Number(process.env.GRPC_STATUS ?? 1);
const server = http2.createServer();
server.on('stream', (stream, headers) => {
  stream.on('data', () => {});
  stream.on('end', () => {
    if (headers[':path'] !== '/grpc.health.v1.Health/Check') {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '12' }, { endStream: true });
      return;
    }
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
    stream.end(Buffer.from([0, 0, 0, 0, 2, 0x08, status]));
  });
});
server.listen(Number(process.env.PORT), process.env.HOST);
`;
