// The memory a sidecar holds for HTTP/2 answers from an HTTP/1.1 app (the inbound translates,
// h2-to-h1.ts) while the client's flow-control windows are closed. Each such stream held one whole
// upstream read (up to 1 MiB, copied for the stream) plus its upstream socket's 1 MiB read buffer,
// and as much again as garbage: one connection with 96 paused 8 MiB downloads took the proxy's RSS
// ~270 MiB above its idle size. The proxy must hold about a window per stream instead (the rest
// waits in the app's socket, paused); once the client reads, every body must still arrive whole.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type http from 'node:http';
import http2 from 'node:http2';
import { setTimeout as sleep } from 'node:timers/promises';
import { portBlock } from './harness/berth.js';
import { HOST, startProxy, upstream, type ProxyUnderTest } from './mesh-helpers/proxy.js';
import type { MeshSnapshot } from '../../src/lib/mesh-protocol.js';

const base = portBlock(4);
const P = { inbound: base, app: base + 1, admin: base + 2, svc: base + 3 };
const snapshot: MeshSnapshot = {
  version: 1,
  app: 'h2mem',
  services: [{ name: 'self', port: P.svc, endpoints: [{ id: 'self-1', host: HOST, port: P.inbound, variant: 'default' }] }],
  config: { accessLog: false, services: {} },
};

/** Bytes of each answer: many upstream reads of the largest size. */
const SIZE = 8 * 1024 * 1024;
const BODY = randomBytes(SIZE);
const SHA = createHash('sha256').update(BODY).digest('hex');
/** Bytes each stream reads before it stops reading. */
const PAUSE_AFTER = 2 * 1024 * 1024;
/** Downloads held at once on the one connection. */
const STREAMS = 96;
/**
 * What the proxy's RSS may grow by while they wait: 96 × 2 MiB (192 MiB). Measured on a 2-CPU
 * machine: +271 to +283 MiB with a 1 MiB read and its copy per stream; with the reads for HTTP/2
 * streams handed to the stream uncopied, +148 MiB when they grow to 512 KiB (as now), +105 MiB to
 * 256 KiB, +78 MiB at 128 KiB only (what is live is at most ~0.75 MiB a stream; the rest is
 * buffers of the first 2 MiB not collected, or not given back to the OS, yet).
 */
const GROWTH_LIMIT = STREAMS * 2 * 1024 * 1024;

function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

/** The RSS once it stopped growing (no change over 300 ms), or after `ms`. */
async function settledRss(pid: number, ms: number): Promise<number> {
  const until = Date.now() + ms;
  let last = rssOf(pid);
  while (Date.now() < until) {
    await sleep(300);
    const now = rssOf(pid);
    if (now === last) return now;
    last = now;
  }
  return last;
}

describe('memory of HTTP/2 answers from an HTTP/1.1 app waiting on flow control', () => {
  let proxy: ProxyUnderTest | undefined;
  let app: http.Server | undefined;

  before(async () => {
    app = await upstream(P.app, 'app', (_req, res) => {
      res.writeHead(200, { 'content-length': SIZE });
      res.end(BODY);
    });
    proxy = await startProxy({ id: 'self-1', inbound: P.inbound, app: P.app, admin: P.admin, outbound: {}, snapshot });
  });

  after(() => {
    proxy?.child.kill('SIGKILL');
    app?.close();
  });

  test(`${STREAMS} paused 8 MiB downloads hold about a window each in the proxy, then arrive whole`, async () => {
    const pid = proxy!.child.pid!;
    // Warmed up first (pools, code, a large answer's reads) so the idle size counts what a download needs anyway.
    const warm = http2.connect(`http://${HOST}:${P.inbound}`);
    warm.on('error', () => {});
    await new Promise<void>((resolve, reject) => {
      const req = warm.request({ ':path': '/warm' });
      req.on('data', () => {});
      req.on('end', resolve);
      req.on('error', reject);
    });
    warm.close();
    const idle = await settledRss(pid, 2000);

    // Each stream reads its first 2 MiB (the proxy's reads of the app grow to their largest), then
    // stops reading: the client's windows close and stay closed until it reads again.
    const session = http2.connect(`http://${HOST}:${P.inbound}`);
    session.on('error', () => {});
    try {
      let holding = true;
      const results: Promise<string>[] = [];
      const paused: Promise<void>[] = [];
      const streams: http2.ClientHttp2Stream[] = [];
      for (let i = 0; i < STREAMS; i++) {
        const s = session.request({ ':path': `/big/${i}` });
        streams.push(s);
        let stopped: () => void = () => {};
        paused.push(new Promise<void>((r) => (stopped = r)));
        results.push(
          new Promise<string>((resolve) => {
            const hash = createHash('sha256');
            let bytes = 0;
            s.on('data', (c: Buffer) => {
              bytes += c.length;
              hash.update(c);
              if (holding && bytes >= PAUSE_AFTER && !s.isPaused()) {
                s.pause();
                stopped();
              }
            });
            s.on('end', () => {
              stopped();
              resolve(bytes === SIZE ? hash.digest('hex') : `${bytes} bytes`);
            });
            s.on('error', (err) => {
              stopped();
              resolve(`error ${err.message} after ${bytes} bytes`);
            });
          }),
        );
      }
      await Promise.all(paused);
      const held = await settledRss(pid, 4000);
      const growth = held - idle;
      console.log(`proxy RSS idle ${(idle / 2 ** 20).toFixed(1)} MiB, with ${STREAMS} paused downloads ${(held / 2 ** 20).toFixed(1)} MiB (+${(growth / 2 ** 20).toFixed(1)} MiB)`);

      // Now read everything: each body whole and intact.
      holding = false;
      for (const s of streams) s.resume();
      const digests = await Promise.all(results);
      assert.deepEqual(
        digests.filter((r) => r !== SHA),
        [],
        'every body arrives whole',
      );
      assert.ok(growth < GROWTH_LIMIT, `the proxy's RSS grew by ${(growth / 2 ** 20).toFixed(1)} MiB for ${STREAMS} paused downloads (limit ${(GROWTH_LIMIT / 2 ** 20).toFixed(0)} MiB)`);
    } finally {
      session.close();
    }
  });
});
