// An upload that pauses for a while (a client reading its body from a pipe, a phone between cells) is
// not cut: the body timeout is 60 s without progress, nginx's client_body_timeout. It was the header
// timeout, 10 s, so a 20 s pause got 408 at every HTTP/1.1 entry while the app, straight, took the
// upload (HTTP/2 streams had Envoy's 5 min). Through one real berth-proxy process with its defaults.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import net from 'node:net';
import { portBlock } from './harness/berth.js';
import { HOST, startProxy, upstream, type ProxyUnderTest } from './mesh-helpers/proxy.js';
import type { MeshSnapshot } from '../../src/lib/mesh-protocol.js';

const base = portBlock(4);
const P = { inbound: base, app: base + 1, admin: base + 2, out: base + 3 };
/** Longer than twice the old 10 s timeout (it fired between one and two periods of no progress). */
const PAUSE_MS = 21_000;

describe('an upload that pauses (berth-proxy process, default timeouts)', () => {
  let proxy: ProxyUnderTest;
  let closeApp: () => void = () => {};

  before(async () => {
    const app = await upstream(P.app, 'app', (req, res) => {
      const h = createHash('sha256');
      req.on('data', (d: Buffer) => h.update(d));
      req.on('end', () => res.end(h.digest('hex')));
    });
    closeApp = () => app.close();
    const snapshot: MeshSnapshot = {
      version: 1,
      app: 'body-pause',
      config: { accessLog: false },
      services: [
        { name: 'self', port: P.inbound, endpoints: [{ id: 'self-1', host: HOST, port: P.inbound, variant: 'default' }] },
        { name: 'peer', port: 1, endpoints: [{ id: 'peer-1', host: HOST, port: P.app, variant: 'default' }] },
      ],
    };
    proxy = await startProxy({ id: 'self-1', inbound: P.inbound, app: P.app, admin: P.admin, outbound: { peer: P.out }, snapshot });
  });
  after(() => {
    proxy?.child.kill('SIGKILL');
    closeApp();
  });

  test(`a chunked upload with a ${PAUSE_MS / 1000} s pause in the middle arrives whole`, { timeout: PAUSE_MS + 15_000 }, async () => {
    const first = Buffer.alloc(64 * 1024, 1);
    const second = Buffer.alloc(64 * 1024, 2);
    const want = createHash('sha256').update(first).update(second).digest('hex');
    const answer = await new Promise<string>((resolve) => {
      const c = net.connect(P.out, HOST);
      let got = '';
      c.on('data', (d: Buffer) => (got += d.toString('latin1')));
      c.on('close', () => resolve(got));
      c.on('error', () => {});
      const chunk = (b: Buffer): string => `${b.length.toString(16)}\r\n${b.toString('latin1')}\r\n`;
      c.write(`POST /up HTTP/1.1\r\nhost: peer\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n${chunk(first)}`, 'latin1');
      setTimeout(() => c.write(`${chunk(second)}0\r\n\r\n`, 'latin1'), PAUSE_MS);
    });
    assert.match(answer, /^HTTP\/1\.1 200 /, answer.slice(0, 120));
    assert.ok(answer.includes(want), 'the app got both halves');
  });
});
