// A proxy that was not running for a while (SIGSTOP here; a long GC pause or a starved CPU in life)
// must not take its own stall for its client's: the bytes the client sent meanwhile wait in the
// kernel, and the body timeout's check has to read them before it decides. Before, the check ran
// first on waking (libuv runs due timers before it polls for reads) and answered 408 to an upload
// that never stopped — on the lean path and on connections node:http serves (`Expect`) alike. A CI
// run failed so once: a 32 MiB upload through a proxy with a 1 s body timeout was cut.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import http from 'node:http';
import { portBlock } from './harness/berth.js';
import { HOST, startProxy, upstream, type ProxyUnderTest } from './mesh-helpers/proxy.js';
import type { MeshSnapshot } from '../../src/lib/mesh-protocol.js';

const base = portBlock(3);
const P = { inbound: base, app: base + 1, admin: base + 2 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('a proxy stopped mid-upload reads what came meanwhile before its body timeout decides (berth-proxy process, body timeout 1 s)', () => {
  let proxy: ProxyUnderTest;
  let app: http.Server;

  before(async () => {
    app = await upstream(P.app, 'app', (req, res) => {
      let n = 0;
      req.on('data', (d: Buffer) => (n += d.length));
      req.on('end', () => res.end(`read ${n}`));
    });
    const snapshot: MeshSnapshot = { version: 1, app: 'stopped', config: { accessLog: false }, services: [{ name: 'self', port: P.inbound, endpoints: [{ id: 'self-1', host: HOST, port: P.inbound, variant: 'default' }] }] };
    proxy = await startProxy({ id: 'self-1', inbound: P.inbound, app: P.app, admin: P.admin, outbound: {}, snapshot, env: { BERTH_PROXY_BODY_TIMEOUT_MS: '1000' } });
  });
  after(() => {
    proxy?.child.kill('SIGCONT');
    proxy?.child.kill('SIGKILL');
    app?.closeAllConnections();
    app?.close();
  });

  for (const [path, extra] of [
    ['lean path', ''],
    ['node:http (Expect)', 'expect: 100-continue\r\n'],
  ] as const) {
    test(`${path}: an upload whose last piece came while the proxy was stopped arrives whole`, { timeout: 15_000 }, async () => {
      const piece = Buffer.alloc(700, 97);
      const s = net.connect(P.inbound, HOST);
      let text = '';
      s.on('data', (d: Buffer) => (text += d.toString('latin1')));
      const closed = new Promise<void>((r) => s.on('close', () => r()));
      s.on('error', () => {});
      await new Promise<void>((r) => s.once('connect', () => r()));
      // The body timeout's checks come about every second from the request's start (t0): the first
      // (~1 s) sees the piece sent at 0.5 s…
      s.write(`POST /upload HTTP/1.1\r\nhost: x\r\ncontent-length: 2000\r\n${extra}connection: close\r\n\r\n`);
      s.write(piece);
      await sleep(500);
      s.write(piece);
      // …nothing more comes before the proxy is stopped, after that check and before the next (~2 s)…
      await sleep(800);
      proxy.child.kill('SIGSTOP');
      try {
        await sleep(200);
        // …the rest is sent while it is stopped (into its kernel buffer), and it wakes after that next check was due.
        s.write(piece.subarray(0, 600));
        await sleep(1100);
      } finally {
        proxy.child.kill('SIGCONT');
      }
      await closed;
      assert.match(text, /^HTTP\/1\.1 (100 Continue\r\n\r\nHTTP\/1\.1 )?200 [^]*read 2000$/, text);
    });
  }
});
