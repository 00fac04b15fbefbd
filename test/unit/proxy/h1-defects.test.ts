// Regression tests for the HTTP/1.1 defects of issue 11, over real sockets: a malformed chunked body
// answered 400 (it used to end the process), a stalled body answered 408, a half-closed upload
// closing the connection, pipelined bytes kept out of memory behind a slow request; on the client
// side the framing of streamed bodies (chunked pieces ≥ 16 KiB, sized uploads keeping their
// Content-Length), no reuse of a connection whose upload was answered early, no retry of a
// non-idempotent request, Connection-named headers kept on their hop, header bytes kept as latin1.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { PassThrough, Readable } from 'node:stream';
import { LeanConnection, LeanRequest, type LeanHead, type LeanResponse } from '../../../src/sidecar/proxy/lean-server.js';
import { hasToken, normalizeH2Target, normalizePath, normalizeRequestTarget } from '../../../src/sidecar/proxy/http-syntax.js';
import { UpstreamPool, type UpstreamError, type UpstreamHead, type UpstreamRequest } from '../../../src/sidecar/proxy/upstream-client.js';
import { rng } from '../../helpers/seeded-random.js';

/** Polls `fn` until it holds (a condition with a deadline, not a sleep). */
async function until(what: string, fn: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!fn()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A lean server as the listener runs it (half-open sockets allowed, as http.Server's are). */
async function leanServer(handle: (req: LeanRequest | LeanHead, res: LeanResponse) => void, bodyTimeoutMs?: number) {
  const counts = { inFlight: 0, fallbacks: 0 };
  const sockets: net.Socket[] = [];
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    sockets.push(socket);
    socket.once('data', (first) => {
      socket.pause();
      new LeanConnection(socket, {
        handle,
        fallback: (s) => {
          counts.fallbacks++;
          s.destroy();
        },
        started: () => counts.inFlight++,
        ended: () => counts.inFlight--,
        ...(bodyTimeoutMs !== undefined ? { bodyTimeoutMs } : {}),
      }).start(first);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const close = (): Promise<void> => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((r) => server.close(() => r()));
  };
  return { port, counts, sockets, close };
}

/** Sends raw bytes, collects the answer until the server closes or `until` matches (3 s at most). */
function raw(port: number, text: string | Buffer, untilRe?: RegExp): Promise<{ got: string; closed: boolean }> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(text));
    let got = '';
    const finish = (closed: boolean): void => {
      clearTimeout(timer);
      s.destroy();
      resolve({ got, closed });
    };
    s.on('data', (d) => {
      got += d.toString('latin1');
      if (untilRe?.test(got)) finish(false);
    });
    s.on('error', () => finish(true));
    s.on('end', () => finish(true));
    const timer = setTimeout(() => finish(false), 3000);
  });
}

test('a malformed chunked body is answered 400 and never ends the process (issue 11 point 1)', async () => {
  let closes = 0;
  // Like the proxy: the handler looks at the body later (the upstream call starts on another tick).
  const srv = await leanServer((req, res) => {
    res.once('close', () => closes++);
    setImmediate(() => {
      if (req instanceof LeanRequest) req.on('data', () => {});
    });
  });
  try {
    const head = 'POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n';
    // The bad chunk with the head (before anyone listens), and after a good chunk (while listening).
    for (const body of ['zz\r\n', '3\r\nabc\r\nzz\r\n', '3 \r\nabc\r\n0\r\n\r\n', '3\r\nabc\n0\r\n\r\n', '3;a\rb\r\nabc\r\n0\r\n\r\n']) {
      const r = await raw(srv.port, head + body);
      assert.match(r.got, /^HTTP\/1\.1 400 Bad Request\r\n/, JSON.stringify(body));
      assert.match(r.got, /\r\ndate: \w{3}, \d{2} \w{3} \d{4} [\d:]{8} GMT\r\n/i, 'a proxy-generated answer carries Date (issue 11 point 12)');
      assert.ok(r.closed, 'the connection is closed after the 400');
    }
    // The same when the bad bytes come in a later read.
    const s = net.connect(srv.port, '127.0.0.1');
    let got = '';
    s.on('data', (d) => (got += d.toString()));
    s.on('error', () => {});
    await new Promise((r) => s.once('connect', r));
    s.write(head + '5\r\nhello\r\n');
    await until('the request to start', () => srv.counts.inFlight === 1);
    s.write('zz\r\n');
    await until('the 400', () => got.startsWith('HTTP/1.1 400'));
    s.destroy();
    await until('every exchange to end', () => srv.counts.inFlight === 0 && closes === 1);
  } finally {
    await srv.close();
  }
});

test('a request body that stalls is answered 408 and its exchange ends (issue 11 point 8)', async () => {
  let closed = 0;
  const srv = await leanServer((req, res) => {
    res.once('close', () => closed++);
    if (req instanceof LeanRequest) req.resume();
  }, 200);
  try {
    const t0 = performance.now();
    const r = await raw(srv.port, 'POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\nhalf');
    const took = performance.now() - t0;
    assert.match(r.got, /^HTTP\/1\.1 408 Request Timeout\r\n/);
    assert.match(r.got, /\r\ndate: \w{3}, \d{2} \w{3} \d{4} [\d:]{8} GMT\r\n/i, 'the 408 carries Date');
    assert.ok(r.closed);
    assert.ok(took >= 190 && took < 1500, `answered after ${Math.round(took)} ms`);
    await until('the exchange to end (the upstream slot is given back)', () => closed === 1 && srv.counts.inFlight === 0);
    // A body that keeps coming, slowly but within the timeout each time, is not cut.
    const s = net.connect(srv.port, '127.0.0.1');
    s.on('error', () => {});
    let got = '';
    s.on('data', (d) => (got += d.toString()));
    await new Promise((ok) => s.once('connect', ok));
    s.write('POST /slow HTTP/1.1\r\nHost: h\r\nContent-Length: 6\r\n\r\n');
    for (let i = 0; i < 5; i++) {
      await new Promise((ok) => setTimeout(ok, 100)); // the client's pace, not synchronisation
      s.write('x');
    }
    assert.equal(got, '', 'no 408 while the body progresses');
    s.destroy();
  } finally {
    await srv.close();
  }
});

test('Connection is a token list on requests: "x-close" does not close the connection (issue 11 point 7)', async () => {
  const srv = await leanServer((req, res) => {
    res.writeHead(200, { 'content-length': 2 });
    res.end('ok');
  });
  try {
    const r = await raw(srv.port, 'GET /a HTTP/1.1\r\nHost: h\r\nConnection: x-close\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, Close\r\n\r\n');
    const answers = r.got.split('HTTP/1.1 200 OK').length - 1;
    assert.equal(answers, 2, r.got);
    assert.ok(r.closed, 'the second one (keep-alive, Close) closes');
    assert.equal((r.got.match(/connection: close/gi) ?? []).length, 1, r.got);
  } finally {
    await srv.close();
  }
});

test('Proxy-Connection: close on a request closes the connection after the answer, as node:http (llhttp) does', async () => {
  const srv = await leanServer((req, res) => {
    res.writeHead(200, { 'content-length': 2 });
    res.end('ok');
  });
  try {
    const r = await raw(srv.port, 'GET /a HTTP/1.1\r\nHost: h\r\nProxy-Connection: close\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n');
    assert.equal(r.got.split('HTTP/1.1 200 OK').length - 1, 1, r.got);
    assert.ok(r.closed, 'closed after the first answer');
    assert.match(r.got, /connection: close/i);
    // Any other value keeps the connection open.
    const kept = await raw(srv.port, 'GET /a HTTP/1.1\r\nHost: h\r\nProxy-Connection: keep-alive\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n');
    assert.equal(kept.got.split('HTTP/1.1 200 OK').length - 1, 2, kept.got);
  } finally {
    await srv.close();
  }
});

test('a client that half-closes during an upload: the connection and the exchange end (no CLOSE-WAIT) (issue 11 point 10)', async () => {
  let closed = 0;
  const srv = await leanServer((req, res) => {
    if (req instanceof LeanRequest) {
      res.once('close', () => closed++);
      req.resume();
    } else res.end('ok');
  });
  try {
    for (let i = 0; i < 5; i++) {
      const s = net.connect(srv.port, '127.0.0.1');
      s.on('error', () => {});
      await new Promise((ok) => s.once('connect', ok));
      s.end('POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 1000\r\n\r\nsome of it');
    }
    await until('every server-side socket to close', () => srv.sockets.length === 5 && srv.sockets.every((x) => x.destroyed));
    await until('every exchange to end', () => closed === 5 && srv.counts.inFlight === 0);
    // An idle kept-alive connection the client half-closes is closed too.
    const s = net.connect(srv.port, '127.0.0.1');
    s.on('error', () => {});
    let got = '';
    s.on('data', (d) => (got += d.toString()));
    await new Promise((ok) => s.once('connect', ok));
    s.write('GET / HTTP/1.1\r\nHost: h\r\n\r\n');
    await until('the answer', () => got.includes('ok'));
    s.end();
    await until('the idle server-side socket to close', () => srv.sockets[5]?.destroyed === true);
  } finally {
    await srv.close();
  }
});

test('bytes pipelined behind a slow request stay in the kernel: the read buffer is bounded (issue 11 point 10)', async () => {
  let release: (() => void) | undefined;
  const srv = await leanServer((req, res) => {
    if (req.url === '/slow') {
      release = () => res.end('slow');
      return;
    }
    res.end('x');
  });
  try {
    const c = net.connect(srv.port, '127.0.0.1');
    c.on('error', () => {});
    await new Promise((ok) => c.once('connect', ok));
    c.write('GET /slow HTTP/1.1\r\nHost: h\r\n\r\n');
    await until('the slow request to start', () => release !== undefined);
    // 16 MiB of pipelined requests behind it.
    const one = `GET /x HTTP/1.1\r\nHost: h\r\nX-Pad: ${'p'.repeat(1000)}\r\n\r\n`;
    const batch = Buffer.from(one.repeat(1024));
    for (let i = 0; i < 16; i++) c.write(batch);
    const server = srv.sockets[0];
    // Either the server reads far too much, or its reading stops (the client's writes back up).
    let last = -1;
    let stable = 0;
    await until('the server to stop reading or to read too much', () => {
      const n = server.bytesRead;
      stable = n === last ? stable + 1 : 0;
      last = n;
      return n > 4 * 1024 * 1024 || (stable >= 5 && c.writableLength > 0);
    }, 10_000);
    assert.ok(server.bytesRead < 1024 * 1024, `server read ${server.bytesRead} bytes while a request was in flight`);
    release!();
    c.destroy();
  } finally {
    await srv.close();
  }
});

// ---- the client (upstream-client.ts) ----

/** A TCP server that records every byte per connection and answers each request head with `answer` (bodies are not parsed). */
async function recordingServer(answer: (head: string, socket: net.Socket, conn: number) => void) {
  const conns: Buffer[][] = [];
  const sockets: net.Socket[] = [];
  const server = net.createServer((socket) => {
    sockets.push(socket);
    const mine: Buffer[] = [];
    const index = conns.push(mine) - 1;
    let seen = 0;
    socket.on('data', (d) => {
      mine.push(d);
      const all = Buffer.concat(mine).toString('latin1');
      // Answer each new request head once.
      let end;
      while ((end = all.indexOf('\r\n\r\n', seen)) >= 0 && /^[A-Z]+ \S+ HTTP\/1\.1\r\n/.test(all.slice(seen))) {
        answer(all.slice(seen, end), socket, index);
        seen = end + 4;
        if (!/content-length|transfer-encoding/i.test(all.slice(0, end))) continue;
        seen = Infinity; // bodies are not parsed: one request per connection after a body
      }
    });
    socket.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const close = (): Promise<void> => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((r) => server.close(() => r()));
  };
  return { port, conns, bytes: (i: number) => Buffer.concat(conns[i] ?? []), close };
}

interface Outcome {
  status: number;
  head?: UpstreamHead;
  body: Buffer;
  error?: UpstreamError;
}

function call(pool: UpstreamPool, req: UpstreamRequest): Promise<Outcome> {
  return new Promise((resolve) => {
    const out: Outcome = { status: 0, body: Buffer.alloc(0) };
    const chunks: Buffer[] = [];
    pool.request(req, {
      onHead: (s, h) => ((out.status = s), (out.head = h), true),
      onData: (c) => (chunks.push(Buffer.from(c)), true),
      onEnd: () => resolve({ ...out, body: Buffer.concat(chunks) }),
      onError: (error) => resolve({ ...out, body: Buffer.concat(chunks), error }),
    });
  });
}

/** Random pieces (some ≥ 16 KiB, where socket.write() starts returning false) totalling about `total` bytes. */
function pieces(seed: number, total: number): Buffer[] {
  const random = rng(seed);
  const out: Buffer[] = [];
  let n = 0;
  while (n < total) {
    const size = Math.min(total - n, 1 + Math.floor(random() * (random() < 0.3 ? 200_000 : 3000)));
    const b = Buffer.allocUnsafe(size);
    for (let i = 0; i < size; i++) b[i] = Math.floor(random() * 256);
    out.push(b);
    n += size;
  }
  return out;
}

test('streamed bodies keep their framing: large chunked pieces and sized uploads, checked by node:http and byte for byte (issue 11 point 2)', async () => {
  // node:http (llhttp) verifies the framing and hashes what it got.
  const app = http.createServer((req, res) => {
    const h = createHash('sha256');
    req.on('data', (d: Buffer) => h.update(d));
    req.on('end', () => res.end(JSON.stringify({ sha: h.digest('hex'), te: req.headers['transfer-encoding'] ?? null, cl: req.headers['content-length'] ?? null })));
  });
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
  const pool = new UpstreamPool('127.0.0.1', (app.address() as AddressInfo).port);
  try {
    for (const [seed, sized] of [
      [1, false],
      [2, true],
      [3, false],
      [4, true],
    ] as const) {
      const parts = pieces(seed, 1_500_000);
      const whole = Buffer.concat(parts);
      const r = await call(pool, { method: 'POST', path: '/', headers: { host: 'h' }, body: Readable.from(parts), ...(sized ? { bodyLength: whole.length } : {}) });
      assert.equal(r.error, undefined, r.error?.message);
      assert.equal(r.status, 200, r.body.toString());
      const got = JSON.parse(r.body.toString()) as { sha: string; te: string | null; cl: string | null };
      assert.deepEqual(got, { sha: createHash('sha256').update(whole).digest('hex'), te: sized ? null : 'chunked', cl: sized ? String(whole.length) : null });
    }
  } finally {
    pool.close();
    app.close();
  }
  // The exact bytes on the wire, recorded by the server.
  const rec = await recordingServer(() => {});
  const pool2 = new UpstreamPool('127.0.0.1', rec.port);
  try {
    const parts = [Buffer.alloc(70_000, 'a'), Buffer.from('xyz'), Buffer.alloc(20_000, 'b')];
    pool2.request({ method: 'POST', path: '/c', headers: { host: 'h' }, body: Readable.from(parts) }, { onHead: () => true, onData: () => true, onEnd: () => {}, onError: () => {} });
    const want = `11170\r\n${'a'.repeat(70_000)}\r\n3\r\nxyz\r\n4e20\r\n${'b'.repeat(20_000)}\r\n0\r\n\r\n`;
    await until('the whole chunked body', () => rec.bytes(0).toString('latin1').endsWith('0\r\n\r\n'));
    const text = rec.bytes(0).toString('latin1');
    assert.equal(text.slice(text.indexOf('\r\n\r\n') + 4), want);
    assert.match(text, /\r\ntransfer-encoding: chunked\r\n/);
  } finally {
    pool2.close();
    await rec.close();
  }
});

test('an early answer to an unfinished upload: that connection is closed, the next request gets a fresh one (issue 11 point 3)', async () => {
  const rec = await recordingServer((head, s) => {
    if (head.startsWith('POST')) s.write('HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n');
    else s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
  });
  const pool = new UpstreamPool('127.0.0.1', rec.port);
  const upload = new PassThrough();
  try {
    upload.write(Buffer.alloc(1000, 'u'));
    const first = await call(pool, { method: 'POST', path: '/up', headers: { host: 'h' }, body: upload });
    assert.equal(first.status, 401);
    // (Before the fix the GET went into the unfinished upload and was never answered: the head timeout ends that.)
    const second = await call(pool, { method: 'GET', path: '/next', headers: { host: 'h' }, body: null, headersTimeout: 3000 });
    assert.equal(second.status, 200);
    assert.equal(rec.conns.length, 2, 'the GET went on a new connection');
    assert.match(rec.bytes(1).toString('latin1'), /^GET \/next HTTP\/1\.1\r\n/);
    assert.doesNotMatch(rec.bytes(0).toString('latin1'), /GET \/next/);
  } finally {
    upload.end();
    pool.close();
    await rec.close();
  }
});

test('a kept connection that dies before any response byte: only idempotent requests with their body in hand are retried (issue 11 point 4)', async () => {
  const seen: string[] = [];
  // Answers the first request of each connection, kills the connection on the second.
  const srv = await recordingServer((head, s) => {
    seen.push(head.split(' ')[0]);
    if ((s as net.Socket & { n?: number }).n === undefined) {
      (s as net.Socket & { n?: number }).n = 1;
      s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    } else s.destroy();
  });
  try {
    for (const [method, retried] of [
      ['POST', false],
      ['PATCH', false],
      ['GET', true],
      ['PUT', true],
      ['DELETE', true],
    ] as const) {
      const pool = new UpstreamPool('127.0.0.1', srv.port);
      seen.length = 0;
      assert.equal((await call(pool, { method: 'GET', path: '/warm', headers: { host: 'h' }, body: null })).status, 200);
      const body = method === 'GET' || method === 'DELETE' ? null : Buffer.from('data');
      const r = await call(pool, { method, path: '/x', headers: { host: 'h' }, body });
      pool.close();
      if (retried) {
        assert.equal(r.status, 200, `${method}: ${r.error?.message}`);
        assert.deepEqual(seen, ['GET', method, method]);
      } else {
        assert.equal(r.error?.code, 'RESET', method);
        assert.deepEqual(seen, ['GET', method], `${method} is sent once`);
      }
    }
    // An idempotent PUT whose body was streamed (not in hand: it cannot be sent again) is not retried either.
    const pool = new UpstreamPool('127.0.0.1', srv.port);
    seen.length = 0;
    assert.equal((await call(pool, { method: 'GET', path: '/warm', headers: { host: 'h' }, body: null })).status, 200);
    const r = await call(pool, { method: 'PUT', path: '/x', headers: { host: 'h', 'content-length': '8' }, body: Readable.from([Buffer.from('stre'), Buffer.from('amed')]) });
    pool.close();
    assert.equal(r.error?.code, 'RESET', 'streamed PUT');
    assert.deepEqual(seen, ['GET', 'PUT'], 'a streamed PUT is sent once');
  } finally {
    await srv.close();
  }
});

test('Connection-named headers stay on their hop both ways; conflicting Content-Length in a response is an error (issue 11 point 7)', async () => {
  const rec = await recordingServer((head, s) => {
    if (head.includes('/two-lengths')) s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok!');
    else s.write('HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Resp\r\nX-Resp: secret\r\nX-Keep: 2\r\nContent-Length: 2\r\n\r\nok');
  });
  const pool = new UpstreamPool('127.0.0.1', rec.port);
  try {
    const r = await call(pool, { method: 'GET', path: '/a', headers: { host: 'h', connection: 'keep-alive, X-Foo', 'x-foo': 'hop', 'x-bar': 'end-to-end' }, body: null });
    assert.equal(r.status, 200);
    const sent = rec.bytes(0).toString('latin1');
    assert.doesNotMatch(sent, /x-foo/i);
    assert.match(sent, /\r\nx-bar: end-to-end\r\n/);
    assert.deepEqual(r.head!.list(), ['X-Keep', '2', 'content-length', '2']);
    const two = await call(pool, { method: 'GET', path: '/two-lengths', headers: { host: 'h' }, body: null });
    assert.equal(two.error?.code, 'BAD_RESPONSE');
  } finally {
    pool.close();
    await rec.close();
  }
});

test('header bytes go out as they came (latin1) also without a body; HTTP/1.0 without Host gets the destination authority; gzip before chunked is kept (issue 11 point 11)', async () => {
  const rec = await recordingServer((_head, s) => s.write('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'));
  const pool = new UpstreamPool('127.0.0.1', rec.port);
  try {
    // The lean server decodes head bytes as latin1: "café" in UTF-8 arrives as the string "cafÃ©".
    const utf8AsLatin1 = Buffer.from('café').toString('latin1');
    await call(pool, { method: 'GET', path: '/a', headers: { host: 'h', 'x-name': utf8AsLatin1 }, body: null });
    assert.ok(rec.bytes(0).includes(Buffer.concat([Buffer.from('x-name: '), Buffer.from('café'), Buffer.from('\r\n')])), rec.bytes(0).toString('hex'));
    await call(pool, { method: 'GET', path: '/b', headers: {}, body: null });
    assert.match(rec.bytes(0).toString('latin1'), new RegExp(`GET /b HTTP/1\\.1\\r\\nhost: 127\\.0\\.0\\.1:${rec.port}\\r\\n`));
  } finally {
    pool.close();
  }
  const pool2 = new UpstreamPool('127.0.0.1', rec.port);
  try {
    await call(pool2, { method: 'POST', path: '/z', headers: { host: 'h', 'transfer-encoding': 'gzip, chunked' }, body: Readable.from([Buffer.from('zz')]) });
    assert.match(rec.bytes(1).toString('latin1'), /\r\ntransfer-encoding: gzip, chunked\r\n/);
  } finally {
    pool2.close();
    await rec.close();
  }
});

test('an answer sent before the request body ended says connection: close (the client must not reuse that connection)', async () => {
  const srv = await leanServer((_req, res) => {
    res.writeHead(401, { 'content-length': 0 });
    res.end();
  });
  try {
    const r = await raw(srv.port, 'POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\npart', /\r\n\r\n/);
    assert.match(r.got, /^HTTP\/1\.1 401 Unauthorized\r\n/);
    assert.match(r.got, /\r\nconnection: close\r\n/i);
  } finally {
    await srv.close();
  }
});

test('request targets are normalised as Istio does by default (BASE): dot segments, unreserved percent-encodings, backslashes; slashes not merged (issue 11 point 11)', () => {
  const cases: [string, string | undefined][] = [
    ['/public/../admin', '/admin'],
    ['/a/./b/../c?x=/../y', '/a/c?x=/../y'],
    ['/%7euser/%2e%2e/x', '/x'],
    ['/%41%2d%5F', '/A-_'],
    ['/a%2Fb', '/a%2Fb'],
    ['/a%2fb/%c3%a9', '/a%2Fb/%C3%A9'],
    ['/a//b', '/a//b'],
    ['/a\\b', '/a/b'],
    ['/../../x', '/x'],
    ['/a/b/..', '/a/'],
    ['/%00', undefined],
    ['/plain/path?q=1', '/plain/path?q=1'],
  ];
  for (const [from, to] of cases) assert.equal(normalizePath(from), to, from);
  const req = { method: 'GET', url: 'http://orders:8080/x/../y', headers: { host: 'other' } as Record<string, string | string[] | undefined> };
  assert.equal(normalizeRequestTarget(req), true);
  assert.deepEqual([req.url, req.headers.host], ['/y', 'orders:8080']);
  assert.equal(normalizeRequestTarget({ method: 'GET', url: 'not-a-target', headers: {} }), false);
  assert.equal(hasToken(' Keep-Alive ', 'keep-alive'), true);
  assert.equal(hasToken('x-close', 'close'), false);
  assert.equal(hasToken('keep-alive, CLOSE', 'close'), true);
});

test('HTTP/2 :path is normalised the same way; absolute-form and %00 cannot be served; OPTIONS * and CONNECT pass (issue 11 point 11)', () => {
  const h2 = (headers: Record<string, string>): [boolean, string | undefined] => {
    const h: Record<string, string | string[] | undefined> = { ...headers };
    return [normalizeH2Target(h), h[':path'] as string | undefined];
  };
  assert.deepEqual(h2({ ':method': 'GET', ':path': '/public/../admin' }), [true, '/admin']);
  assert.deepEqual(h2({ ':method': 'GET', ':path': '/%61dmin?q=%61' }), [true, '/admin?q=%61']);
  assert.deepEqual(h2({ ':method': 'GET', ':path': '/a%00' }), [false, '/a%00']);
  assert.deepEqual(h2({ ':method': 'GET', ':path': 'http://x/admin' }), [false, 'http://x/admin']);
  assert.deepEqual(h2({ ':method': 'OPTIONS', ':path': '*' }), [true, '*']);
  assert.deepEqual(h2({ ':method': 'GET', ':path': '*' }), [false, '*']);
  assert.deepEqual(h2({ ':method': 'CONNECT', ':authority': 'x:443' }), [true, undefined]);
  assert.deepEqual(h2({ ':method': 'GET' }), [false, undefined]);
});
