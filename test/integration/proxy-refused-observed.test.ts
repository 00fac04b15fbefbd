// Requests a proxy answers itself before any handler sees them — a malformed head, a NUL in the
// target, a head over the size limit, two Host fields, CONNECT — were neither counted in
// berth_proxy_requests_total nor access-logged: a client hammering a sidecar with bad requests was
// invisible (Envoy counts and logs its downstream protocol errors). Through one real berth-proxy.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { httpRequest, portBlock, waitFor } from './harness/berth.js';
import { HOST, startProxy, upstream, type ProxyUnderTest } from './mesh-helpers/proxy.js';
import type { MeshSnapshot } from '../../src/lib/mesh-protocol.js';

const base = portBlock(3);
const P = { inbound: base, app: base + 1, admin: base + 2 };

/** Sends `head` on a fresh connection and gives the status line of the answer. */
function statusOf(head: string): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(P.inbound, HOST, () => s.write(Buffer.from(head, 'latin1')));
    let got = '';
    s.on('data', (d: Buffer) => {
      got += d.toString('latin1');
      if (got.includes('\r\n')) s.destroy();
    });
    s.on('close', () => resolve(got.split('\r\n')[0]));
    s.on('error', () => {});
  });
}

describe('requests a proxy refuses itself are counted and logged (berth-proxy process)', () => {
  let proxy: ProxyUnderTest;
  let closeApp: () => void = () => {};
  let stdout = '';

  before(async () => {
    const app = await upstream(P.app, 'app');
    closeApp = () => app.close();
    const snapshot: MeshSnapshot = {
      version: 1,
      app: 'refused',
      config: { accessLog: true },
      services: [{ name: 'self', port: 1, endpoints: [{ id: 'self-1', host: HOST, port: P.inbound, variant: 'default' }] }],
    };
    proxy = await startProxy({ id: 'self-1', inbound: P.inbound, app: P.app, admin: P.admin, outbound: {}, snapshot });
    proxy.child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  });
  after(() => {
    proxy?.child.kill('SIGKILL');
    closeApp();
  });

  test('400, 431 and 405 answered by the listener show in the metrics and the access log', async () => {
    const answers = [
      await statusOf('GET /a%00 HTTP/1.1\r\nhost: x\r\n\r\n'),
      await statusOf('GET /a\x00b HTTP/1.1\r\nhost: x\r\n\r\n'),
      await statusOf('GET / HTTP/1.1\r\nhost: x\r\nhost: y\r\n\r\n'),
      await statusOf(`GET / HTTP/1.1\r\nhost: x\r\nx-big: ${'a'.repeat(70_000)}\r\n\r\n`),
      await statusOf('CONNECT other:443 HTTP/1.1\r\nhost: other:443\r\n\r\n'),
    ];
    assert.deepEqual(
      answers.map((a) => a.slice(9, 12)),
      ['400', '400', '400', '431', '405'],
      answers.join(' | '),
    );
    const series = await waitFor(
      'the refusals counted',
      async () => {
        const text = (await httpRequest(`http://${HOST}:${P.admin}/metrics`)).body;
        const count = (code: string): number => Number(new RegExp(`^berth_proxy_requests_total\\{[^}]*direction="inbound"[^}]*destination="-"[^}]*code="${code}"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
        const got = { '400': count('400'), '431': count('431'), '405': count('405') };
        return got['400'] === 3 && got['431'] === 1 && got['405'] === 1 ? got : undefined;
      },
      3000,
    );
    assert.ok(series);
    const lines = await waitFor(
      'the refusals access-logged',
      () => {
        const refused = stdout
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as { status: number; service: string; method: string; path: string })
          .filter((l) => l.service === '-');
        return refused.length >= 5 ? refused : undefined;
      },
      3000,
    );
    assert.deepEqual(lines.map((l) => l.status).sort(), [400, 400, 400, 405, 431]);
    assert.ok(lines.some((l) => l.method === 'CONNECT' && l.path === 'other:443'), JSON.stringify(lines));
  });
});
