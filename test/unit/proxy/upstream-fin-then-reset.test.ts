// An app answers an upload early with a body delimited by the close, ends it with a FIN (the answer
// is whole: a client straight to the app gets all of it), then resets the rest of the upload it never
// read. When the proxy's next write fails before it has read that FIN — its reading of the answer
// paused for a slow client — the EOF it reads afterwards used to be taken for the reset's, and the
// whole answer was cut. Linux says which it was in the failed write's error: a reset after the FIN is
// EPIPE (tcp_reset in CLOSE_WAIT), one before any FIN is ECONNRESET. The order is forced here: the
// client's reading is paused while the app ends, closes and the upload goes on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { UpstreamPool, type UpstreamCall } from '../../../src/sidecar/proxy/upstream-client.js';

const BODY = 48 * 1024;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** An app that answers the first bytes of a request: a close-delimited body, then `end` (FIN, then a reset for the upload's rest) or `reset` (no FIN). */
async function earlyAnswerer(end: 'fin' | 'reset'): Promise<{ port: number; closed: Promise<void>; close: () => void }> {
  let closedNow!: () => void;
  const closed = new Promise<void>((r) => (closedNow = r));
  const server = net.createServer((s) => {
    s.on('error', () => {});
    s.once('close', closedNow);
    s.once('data', () => {
      s.write('HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\nconnection: close\r\n\r\n');
      if (end === 'reset') {
        s.write(Buffer.alloc(BODY, 0x61), () => setTimeout(() => s.resetAndDestroy(), 50));
        return;
      }
      // Closed once the FIN is out: what the upload sends afterwards is answered with a reset.
      s.end(Buffer.alloc(BODY, 0x61), () => setTimeout(() => s.destroy(), 50));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as AddressInfo).port, closed, close: () => server.close() };
}

/** Uploads through the proxy's client to `port`, pausing the answer at its first piece until the app has closed and a write has failed. */
async function pausedUpload(app: { port: number; closed: Promise<void> }): Promise<{ outcome: string; bytes: number }> {
  const pool = new UpstreamPool('127.0.0.1', app.port);
  const body = new PassThrough();
  let bytes = 0;
  let paused!: () => void;
  const firstPiece = new Promise<void>((r) => (paused = r));
  let call!: UpstreamCall;
  const done = new Promise<string>((resolve) => {
    call = pool.request(
      { method: 'POST', path: '/upload', headers: { host: 'app' }, body, bodyLength: 64 * 1024 * 1024 },
      {
        onHead: () => true,
        onData: (c) => {
          const first = bytes === 0;
          bytes += c.length;
          if (first) paused();
          return !first;
        },
        onEnd: () => resolve('whole'),
        onError: (e) => resolve(`cut (${e.code}: ${e.message})`),
      },
    );
  });
  body.write(Buffer.alloc(16 * 1024, 7));
  await firstPiece;
  await app.closed;
  // The upload goes on: the app's kernel answers it with a reset, and the write after that fails.
  for (let i = 0; i < 20; i++) {
    body.write(Buffer.alloc(16 * 1024, 7));
    await sleep(10);
  }
  call.resume();
  const outcome = await Promise.race([done, sleep(3000).then(() => 'no end within 3 s')]);
  pool.close();
  return { outcome, bytes };
}

test('an early answer ended by the app FIN, then a reset for the unread upload: whole, even when a write failed before the FIN was read', async () => {
  for (let round = 0; round < 5; round++) {
    const app = await earlyAnswerer('fin');
    try {
      assert.deepEqual(await pausedUpload(app), { outcome: 'whole', bytes: BODY }, `round ${round}`);
    } finally {
      app.close();
    }
  }
});

test('an early answer cut by a reset with no FIN before it: never whole, in the same order of events', async () => {
  for (let round = 0; round < 5; round++) {
    const app = await earlyAnswerer('reset');
    try {
      const r = await pausedUpload(app);
      assert.match(r.outcome, /^cut /, `round ${round}: ${JSON.stringify(r)}`);
    } finally {
      app.close();
    }
  }
});
