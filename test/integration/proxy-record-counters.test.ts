// Recording counters of a real berth-proxy (review of the recorder): when a snapshot replaces a
// recording, berth_proxy_recorded_total never goes backwards (Prometheus reads a drop as a counter
// reset) — the old recorder's entries are counted while it finishes its file, then kept in the totals.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import type { MeshRecording, MeshSnapshot } from '../../src/lib/mesh-protocol.js';
import { httpRequest, portBlock, waitFor } from './harness/berth.js';
import { HOST, startProxy, upstream, type ProxyUnderTest } from './mesh-helpers/proxy.js';
import { standInControl } from './mesh-helpers/stand-in-control.js';

const base = portBlock(4);
const P = { inbound: base, app: base + 1, admin: base + 2, cp: base + 3 };
const snapOf = (version: number, id: string): MeshSnapshot => {
  const rec: MeshRecording = { id, sample: 1, redactHeaders: [], maxBodyBytes: 1048576, maxFileMiB: 10 };
  return { version, app: 't', config: { accessLog: true, recordings: { self: rec } }, services: [{ name: 'self', port: P.inbound, endpoints: [{ id: 'rec-1', host: HOST, port: P.inbound, variant: 'default' }] }] };
};

let proxy: ProxyUnderTest | undefined;
const cleanup: (() => unknown)[] = [];
after(async () => {
  proxy?.child.kill('SIGKILL');
  for (const c of cleanup) await c();
});

test('berth_proxy_recorded_total never goes backwards when a snapshot replaces the recording', async () => {
  const cp = await standInControl({ host: HOST, port: P.cp, first: snapOf(1, 'r1') });
  cleanup.push(() => cp.close());
  const app = await upstream(P.app, 'app', (req, res) => {
    req.resume();
    res.end('x'.repeat(1000));
  });
  cleanup.push(() => app.close());
  proxy = await startProxy({ id: 'rec-1', ...P, outbound: {}, snapshot: snapOf(1, 'r1'), control: P.cp });
  const recorded = async (): Promise<number> => Number(/berth_proxy_recorded_total\{[^}]*\} (\d+)/.exec((await httpRequest(`http://${HOST}:${P.admin}/metrics`)).body)?.[1] ?? NaN);
  await waitFor('the watch stream', () => cp.streams.length > 0);
  await waitFor('the recording', async () => !Number.isNaN(await recorded()));
  for (let i = 0; i < 200; i++) await httpRequest(`http://${HOST}:${P.inbound}/r/${i}`);
  await waitFor('200 entries on disk', async () => (await recorded()) >= 200);
  // Traffic keeps flowing, so the old recorder has entries gathering when it is replaced.
  let stop = false;
  const traffic = (async () => {
    for (let i = 0; !stop; i++) await httpRequest(`http://${HOST}:${P.inbound}/more/${i}`).catch(() => undefined);
  })();
  await new Promise((r) => setTimeout(r, 30));
  const seen = [await recorded()];
  cp.push(snapOf(2, 'r2'));
  const end = Date.now() + 1500;
  while (Date.now() < end) seen.push(await recorded());
  stop = true;
  await traffic;
  const drops = seen.flatMap((v, i) => (i > 0 && v < seen[i - 1] ? [`${seen[i - 1]} -> ${v}`] : []));
  assert.deepEqual(drops, [], `recorded_total went backwards over ${seen.length} scrapes`);
  assert.ok(seen.at(-1)! >= seen[0]);
});
