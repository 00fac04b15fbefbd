// Building a batch of entries is sliced (Recorder.build, BUILD_SLICE_MS per turn of the event loop):
// 400 compressed answers of a few bytes each, decoding to ~1 MiB each, were all decoded in one turn —
// a health check on the same proxy waited 2 s. The event loop now runs between slices, and every
// entry still reaches the file in order, or is counted as dropped by the writer's bounded queue.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { brotliCompressSync } from 'node:zlib';
import { Recorder } from '../../../src/sidecar/proxy/recorder.js';
import { readHar } from '../../../src/replay/index.js';

test('a batch of heavy entries is built over several turns; the loop runs between them and nothing is lost', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-recorder-'));
  const maxBodyBytes = 1024 * 1024;
  const rec = new Recorder({ id: 'u', sample: 1, redactHeaders: [], maxBodyBytes, maxFileMiB: 1000 }, { stateDir: dir, proxyId: 'p-1', onError: (e) => assert.fail(e) });
  const small = brotliCompressSync(Buffer.alloc(maxBodyBytes - 1024, 0x61)); // a few bytes, ~1 MiB decoded
  const n = 150;
  for (let i = 0; i < n; i++) {
    const x = rec.begin({ method: 'GET', url: `/r/${i}`, headers: { host: 'svc' } }, i.toString(16).padStart(32, '0'))!;
    x.head(200, ['content-type', 'text/plain', 'content-encoding', 'br']);
    x.data(small);
    x.finish(200);
  }
  // The longest wait of a 1 ms timer while the batch is built: one slice, not the whole batch.
  let worst = 0;
  let last = performance.now();
  const ticker = setInterval(() => {
    const now = performance.now();
    worst = Math.max(worst, now - last);
    last = now;
  }, 1);
  const started = performance.now();
  await new Promise<void>((resolve) => {
    const check = (): void => {
      if ((rec as unknown as { pending: unknown[] }).pending.length === 0) resolve();
      else setTimeout(check, 5);
    };
    setTimeout(check, 5);
  });
  const total = performance.now() - started;
  clearInterval(ticker);
  await rec.close();
  const folder = join(dir, 'recordings', 'u');
  const { har } = await readHar(join(folder, readdirSync(folder)[0]));
  // In order; an entry the writer's queue had no room for (8 MiB of ~1 MiB entries) is counted as dropped.
  const urls = har.log.entries.map((e) => Number(e.request.url.split('/').pop()));
  assert.deepEqual(urls, [...urls].sort((a, b) => a - b));
  assert.equal(urls.length + rec.dropped, n, `${urls.length} written, ${rec.dropped} dropped`);
  assert.ok(urls.length >= 8, `${urls.length} written`);
  // Decoding 150 MiB takes a while on any machine; no single wait may take most of it.
  assert.ok(worst < Math.max(250, total / 3), `the loop waited ${worst.toFixed(0)} ms at once while the batch took ${total.toFixed(0)} ms`);
});
