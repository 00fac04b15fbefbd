// The HTTP/2 connection pool toward an upstream address (H2Sessions in h2-forward.ts): a stream goes
// on a connection with room under the peer's stream limit, a new connection opens when all are full,
// extra connections close once empty, and a connection that got GOAWAY takes no new stream.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { H2Sessions } from '../../../src/sidecar/proxy/h2-forward.js';

/** An h2c server allowing `limit` streams per connection; '/hold' streams stay open until the client leaves. */
async function server(limit: number): Promise<{ srv: http2.Http2Server; port: number; sessions: Set<http2.ServerHttp2Session> }> {
  const srv = http2.createServer({ settings: { maxConcurrentStreams: limit } });
  const sessions = new Set<http2.ServerHttp2Session>();
  srv.on('session', (s: http2.ServerHttp2Session) => {
    sessions.add(s);
    s.once('close', () => sessions.delete(s));
  });
  srv.on('stream', (stream, headers) => {
    stream.on('error', () => {});
    stream.respond({ ':status': 200 });
    if (headers[':path'] === '/hold') stream.write('held');
    else stream.end('done');
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return { srv, port: (srv.address() as { port: number }).port, sessions };
}

/** Opens a stream through the pool; resolves once its answer's head came. */
function open(pool: H2Sessions, port: number, path: string): Promise<http2.ClientHttp2Stream> {
  const stream = pool.request({ host: '127.0.0.1', port }, { ':path': path }, { endStream: true });
  stream.on('error', () => {});
  stream.resume(); // read, as forwardH2 reads every answer (node keeps an unread stream, and its session, open)
  return new Promise((resolve, reject) => {
    stream.once('response', () => resolve(stream));
    setTimeout(() => reject(new Error(`${path}: no answer within 2 s (queued behind the peer's stream limit)`)), 2000).unref();
  });
}

async function until(what: string, fn: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !fn(); i++) await new Promise((r) => setTimeout(r, 20));
  assert.ok(fn(), what);
}

test('H2Sessions opens another connection when every one is at the peer\'s stream limit, and closes the extra ones once empty', async () => {
  const { srv, port, sessions } = await server(2);
  const pool = new H2Sessions();
  try {
    // The first answer brings the peer's SETTINGS (a limit of 2).
    const first = await open(pool, port, '/hold');
    const rest = await Promise.all(Array.from({ length: 4 }, () => open(pool, port, '/hold')));
    assert.equal(sessions.size, 3, '5 streams at 2 per connection');
    // CANCEL, as forwardH2 cuts a stream (node emits no 'close' for an unread stream closed with NO_ERROR).
    for (const s of [first, ...rest]) s.close(http2.constants.NGHTTP2_CANCEL);
    await until('back to one connection', () => sessions.size === 1);
    await open(pool, port, '/short');
    pool.closeAll();
    await until('closeAll closed every connection', () => sessions.size === 0);
  } finally {
    pool.closeAll();
    for (const s of sessions) s.destroy(); // what a failed check left open
    srv.close();
  }
});

test('H2Sessions sends no new stream on a connection that got GOAWAY', async () => {
  const { srv, port, sessions } = await server(100);
  const pool = new H2Sessions();
  try {
    const held = await open(pool, port, '/hold');
    const [old] = sessions;
    old!.goaway(http2.constants.NGHTTP2_NO_ERROR);
    await new Promise((r) => setTimeout(r, 50));
    await open(pool, port, '/short');
    assert.equal(sessions.size, 2, 'the stream after GOAWAY went on a new connection');
    held.close(http2.constants.NGHTTP2_CANCEL);
    pool.closeAll();
    await until('closeAll and the GOAWAY closed every connection', () => sessions.size === 0);
  } finally {
    pool.closeAll();
    for (const s of sessions) s.destroy(); // what a failed check left open
    srv.close();
  }
});
