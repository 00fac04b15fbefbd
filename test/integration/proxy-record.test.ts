// Recording in a real berth-proxy process (sidecar mode, from a saved snapshot): bodies reach the app
// and the client byte for byte while being recorded (streamed, chunked, binary, larger than
// maxBodyBytes: cut and marked in the HAR only); every one of 20,000 requests at 1,000 req/s is
// recorded (counted against the access log); a recording that cannot be written drops entries,
// counted in /metrics, while every request is still served.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { join } from 'node:path';
import type { MeshRecording, MeshSnapshot } from '../../src/lib/mesh-protocol.js';
import { readHar, validateHar, type HarEntry } from '../../src/replay/index.js';
import { httpRequest, portBlock, waitFor } from './harness/berth.js';
import { HOST, startProxy, upstream, type ProxyUnderTest } from './mesh-helpers/proxy.js';
import { keepAliveAgent } from '../helpers/keep-alive-agent.js';

const N = Number(process.env.RECORD_COMPLETENESS_N ?? 20_000);
const RATE = 1000;

function snapshot(inbound: number, recording: MeshRecording): MeshSnapshot {
  return {
    version: 1,
    app: 't',
    config: { accessLog: true, recordings: { self: recording } },
    services: [{ name: 'self', port: inbound, endpoints: [{ id: 'rec-1', host: HOST, port: inbound, variant: 'default' }] }],
  };
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** One request with a body sent in pieces (chunked when `chunked`), the whole answer back. */
function upload(port: number, path: string, body: Buffer, chunked: boolean, type = 'application/octet-stream'): Promise<{ status: number; body: Buffer; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: HOST, port, path, method: 'POST', agent: false, headers: chunked ? { 'content-type': type } : { 'content-type': type, 'content-length': String(body.length) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), headers: res.headers }));
      res.on('error', reject);
    });
    req.on('error', reject);
    for (let i = 0; i < body.length; i += 65_536) req.write(body.subarray(i, i + 65_536));
    req.end();
  });
}

async function entriesOf(dir: string): Promise<HarEntry[]> {
  const out: HarEntry[] = [];
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.har')).sort()) {
    const { har } = await readHar(join(dir, f));
    assert.deepEqual(validateHar(har), [], f);
    out.push(...har.log.entries);
  }
  return out;
}

describe('recording in berth-proxy', () => {
  const base = portBlock(6);
  const P = { inbound: base, app: base + 1, admin: base + 2, inbound2: base + 3, admin2: base + 4 };
  const servers: http.Server[] = [];
  const proxies: ProxyUnderTest[] = [];

  after(() => {
    for (const p of proxies) p.child.kill('SIGKILL');
    for (const s of servers) s.close();
  });

  test('bodies pass unchanged while recorded; cut and marked in the HAR; 20,000 requests at 1,000 req/s all recorded', { timeout: 120_000 }, async () => {
    const answer = randomBytes(3 * 1024 * 1024 + 17);
    servers.push(
      await upstream(P.app, 'app', (req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          const got = Buffer.concat(chunks);
          if (req.url === '/big') {
            // A streamed binary answer: the digest of what arrived, then 3 MiB of random bytes.
            res.writeHead(200, { 'content-type': 'application/octet-stream', 'x-got': sha(got) });
            for (let i = 0; i < answer.length; i += 100_000) res.write(answer.subarray(i, i + 100_000));
            return res.end();
          }
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ path: req.url, got: got.toString('utf8') }));
        });
      }),
    );
    const rec: MeshRecording = { id: 'r1', sample: 1, redactHeaders: [], maxBodyBytes: 4096, maxFileMiB: 2 };
    const proxy = await startProxy({ id: 'rec-1', inbound: P.inbound, app: P.app, admin: P.admin, outbound: {}, snapshot: snapshot(P.inbound, rec) });
    proxies.push(proxy);
    // Counted line by line: the proxy writes its access log in batches, and a pipe read may end mid-line.
    let accessLines = 0;
    let partial = '';
    proxy.child.stdout!.on('data', (d: Buffer) => {
      const lines = (partial + d.toString()).split('\n');
      partial = lines.pop()!;
      for (const line of lines) if (line.includes('"path":"/n/')) accessLines++;
    });
    await waitFor('recording applied', async () => (await httpRequest(`http://${HOST}:${P.admin}/metrics`)).body.includes('berth_proxy_recorded_total'), 10_000);

    const upload1 = randomBytes(2 * 1024 * 1024 + 5);
    for (const chunked of [true, false]) {
      const r = await upload(P.inbound, '/big', upload1, chunked);
      assert.equal(r.status, 200);
      assert.equal(r.headers['x-got'], sha(upload1), 'the app got the upload byte for byte');
      assert.equal(sha(r.body), sha(answer), 'the client got the answer byte for byte');
    }
    const small = await upload(P.inbound, '/small?q=1', Buffer.from('{"a":1}'), false, 'application/json');
    // An HTTP/2 (h2c) client: the sidecar translates for the HTTP/1.1 app and records it alike.
    const h2 = http2.connect(`http://${HOST}:${P.inbound}`);
    const h2body = await new Promise<string>((resolve, reject) => {
      const st = h2.request({ ':method': 'GET', ':path': '/h2/hello', authorization: 'Bearer x' });
      let b = '';
      st.setEncoding('utf8');
      st.on('data', (d: string) => (b += d));
      st.on('end', () => resolve(b));
      st.on('error', reject);
    });
    h2.close();
    assert.deepEqual(JSON.parse(h2body), { path: '/h2/hello', got: '' });
    assert.deepEqual(JSON.parse(small.body.toString()), { path: '/small?q=1', got: '{"a":1}' });

    // A Host header no URL accepts: served as ever, the entry dropped and counted (regression: it threw in the data path).
    const odd = await new Promise<string>((resolve, reject) => {
      const sock = net.connect(P.inbound, HOST, () => sock.write('GET /odd HTTP/1.1\r\nhost: a b\r\nconnection: close\r\n\r\n'));
      let got = '';
      sock.on('data', (d) => (got += d.toString()));
      sock.on('end', () => resolve(got));
      sock.on('error', reject);
    });
    assert.match(odd, /^HTTP\/1\.1 200/);
    assert.equal((await httpRequest(`http://${HOST}:${P.admin}/healthz`)).status, 200, 'the proxy is alive');
    assert.match((await httpRequest(`http://${HOST}:${P.admin}/metrics`)).body, /berth_proxy_recording_dropped_total\{proxy="rec-1",service="self"\} 1/);

    // Completeness: N requests at RATE req/s on keep-alive connections.
    const agent = keepAliveAgent(64);
    let ok = 0;
    let failed = 0;
    const failures: string[] = [];
    const t0 = performance.now();
    const inflight: Promise<void>[] = [];
    for (let i = 0; i < N; i++) {
      const due = t0 + (i * 1000) / RATE;
      const wait = due - performance.now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      inflight.push(
        new Promise<void>((resolve) => {
          const req = http.get({ host: HOST, port: P.inbound, path: `/n/${i}`, agent }, (res) => {
            res.resume();
            res.on('end', () => {
              if (res.statusCode === 200) ok++;
              else {
                failed++;
                failures.push(`/n/${i}: status ${res.statusCode}`);
              }
              resolve();
            });
          });
          req.on('error', (err) => {
            failed++;
            failures.push(`/n/${i}: ${err.message}`);
            resolve();
          });
        }),
      );
      if (inflight.length >= 2000) await Promise.all(inflight.splice(0));
    }
    await Promise.all(inflight);
    agent.destroy();
    const seconds = (performance.now() - t0) / 1000;
    assert.equal(failed, 0, failures.slice(0, 5).join('; '));
    assert.equal(ok, N);
    // Lines the log output could not take in time are dropped and counted, not held without bound.
    const droppedLines = Number(/berth_proxy_access_log_dropped_total\{[^}]*\} (\d+)/.exec((await httpRequest(`http://${HOST}:${P.admin}/metrics`)).body)?.[1] ?? 0);
    // SIGTERM: the proxy drains and closes its recording (the files end as complete documents).
    proxy.child.kill('SIGTERM');
    // 'close', not 'exit': the lines flushed at shutdown may still be in the pipe when the process has exited.
    await new Promise((r) => proxy.child.once('close', r));
    const entries = await entriesOf(join(proxy.stateDir, 'recordings', 'r1'));
    const files = readdirSync(join(proxy.stateDir, 'recordings', 'r1')).filter((f) => f.endsWith('.har'));
    assert.ok(files.length > 1, `rotated at maxFileMiB: ${files.join(', ')}`);
    const numbered = entries.filter((e) => new URL(e.request.url).pathname.startsWith('/n/'));
    assert.equal(accessLines + droppedLines, N, `the access log saw every request (${accessLines} written, ${droppedLines} dropped)`);
    assert.equal(numbered.length, N, `recorded ${numbered.length} of ${N} (sent in ${seconds.toFixed(1)} s)`);
    assert.equal(new Set(numbered.map((e) => e.request.url)).size, N);

    const big = entries.filter((e) => new URL(e.request.url).pathname === '/big');
    assert.equal(big.length, 2);
    for (const e of big) {
      assert.equal(e.request._truncated, true);
      assert.equal(e.request.bodySize, upload1.length);
      assert.equal(Buffer.from(e.request.postData!.text!, 'base64').length, 4096);
      assert.deepEqual(Buffer.from(e.request.postData!.text!, 'base64'), upload1.subarray(0, 4096));
      assert.equal(e.response._truncated, true);
      assert.equal(e.response.content.size, answer.length);
      assert.deepEqual(Buffer.from(e.response.content.text!, 'base64'), answer.subarray(0, 4096));
    }
    const viaH2 = entries.find((e) => new URL(e.request.url).pathname === '/h2/hello');
    assert.ok(viaH2, 'the h2c request is recorded');
    assert.equal(viaH2.request.headers.find((h) => h.name === 'authorization')?.value, 'REDACTED');
    // The client's protocol, as a browser's HAR says it (the app behind got HTTP/1.1; it was recorded as HTTP/1.1 too).
    assert.deepEqual([viaH2.request.httpVersion, viaH2.response.httpVersion], ['HTTP/2.0', 'HTTP/2.0']);
    assert.deepEqual(JSON.parse(viaH2.response.content.text!), { path: '/h2/hello', got: '' });
    const s = entries.find((e) => new URL(e.request.url).pathname === '/small')!;
    assert.deepEqual([s.request.httpVersion, s.response.httpVersion], ['HTTP/1.1', 'HTTP/1.1']);
    assert.deepEqual(s.request.postData, { mimeType: 'application/json', text: '{"a":1}' });
    assert.deepEqual(s.request.queryString, [{ name: 'q', value: '1' }]);
    assert.equal(s.response._truncated, undefined);
    assert.deepEqual(JSON.parse(s.response.content.text!), { path: '/small?q=1', got: '{"a":1}' });
  });

  test('a recording that cannot be written drops entries, counted in /metrics; every request is served', async () => {
    const rec: MeshRecording = { id: 'blocked', sample: 1, redactHeaders: [], maxBodyBytes: 1024, maxFileMiB: 1 };
    const proxy = await startProxy({ id: 'rec-1', inbound: P.inbound2, app: P.app, admin: P.admin2, outbound: {}, snapshot: snapshot(P.inbound2, rec) });
    proxies.push(proxy);
    // A file where the recording's folder should be: every write fails (as on a full or read-only disk).
    mkdirSync(join(proxy.stateDir, 'recordings'), { recursive: true });
    writeFileSync(join(proxy.stateDir, 'recordings', 'blocked'), 'in the way');
    await waitFor('recording applied', async () => (await httpRequest(`http://${HOST}:${P.admin2}/metrics`)).body.includes('berth_proxy_recording_dropped_total'), 10_000);
    for (let i = 0; i < 50; i++) {
      const r = await httpRequest(`http://${HOST}:${P.inbound2}/d/${i}`);
      assert.equal(r.status, 200);
    }
    const dropped = await waitFor(
      'dropped recordings counted',
      async () => {
        const m = /berth_proxy_recording_dropped_total\{proxy="rec-1",service="self"\} (\d+)/.exec((await httpRequest(`http://${HOST}:${P.admin2}/metrics`)).body);
        return m && Number(m[1]) === 50 ? Number(m[1]) : undefined;
      },
      10_000,
    );
    assert.equal(dropped, 50);
    assert.match(proxy.stderr(), /recording blocked: .*entries dropped/);
  });
});
