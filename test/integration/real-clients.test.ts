// The real-client matrix: what curl (HTTP/1.0, HTTP/1.1 with keep-alive, `--http2-prior-knowledge`,
// `Expect: 100-continue`, an upgrade attempt the app declines), grpc-js and a WebSocket client (ws)
// see through each entry of the mesh — the ingress, a service address (127.0.0.1:<port>), an
// instance's inbound sidecar (<instance address>:<port>) and a caller's outbound sidecar port.
// Bodies are checked by sha256 at the app. Every entry must behave like a direct connection to the app.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import WebSocket from 'ws';
import { meshPorts } from '../../src/lib/mesh-protocol.js';
import { berth, berthOk, portBlock, ps, repoRoot, tempApp } from './harness/berth.js';

const require = createRequire(join(repoRoot, 'package.json'));
const grpc = require('@grpc/grpc-js') as typeof import('@grpc/grpc-js');

// An HTTP/1.1 app: answers every request with what it received (method, target, version, headers,
// body length and sha256); accepts WebSocket upgrades (echoing messages) and answers any other
// upgrade attempt with an ordinary 200 (a declined upgrade: the connection is not switched).
const echoJs = `import http from 'node:http';
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
const require = createRequire(${JSON.stringify(join(repoRoot, 'package.json'))});
const { WebSocketServer } = require('ws');
const describe = (req, body) => JSON.stringify({ instance: process.env.BERTH_INSTANCE, method: req.method, url: req.url, version: req.httpVersion,
  headers: req.headers, length: body.length, sha256: createHash('sha256').update(body).digest('hex') });
const server = http.createServer((req, res) => {
  const parts = [];
  req.on('data', (d) => parts.push(d));
  req.on('end', () => { res.setHeader('content-type', 'application/json'); res.end(describe(req, Buffer.concat(parts))); });
});
const wss = new WebSocketServer({ noServer: true });
server.on('upgrade', (req, socket, head) => {
  if ((req.headers.upgrade || '').toLowerCase() === 'websocket') {
    wss.handleUpgrade(req, socket, head, (ws) => ws.on('message', (m) => ws.send('echo ' + m)));
    return;
  }
  const body = describe(req, Buffer.alloc(0));
  socket.end('HTTP/1.1 200 OK\\r\\ncontent-type: application/json\\r\\nconnection: close\\r\\ncontent-length: ' + Buffer.byteLength(body) + '\\r\\n\\r\\n' + body);
});
server.listen(Number(process.env.PORT), process.env.HOST);
process.on('SIGTERM', () => server.close(() => process.exit(0)));`;

const identity = (b: Buffer): Buffer => b;
const helloPath = '/matrix.Greeter/Hello';
const greeterJs = `import { createRequire } from 'node:module';
const require = createRequire(${JSON.stringify(join(repoRoot, 'package.json'))});
const grpc = require('@grpc/grpc-js');
const id = (b) => b;
const server = new grpc.Server();
server.addService({ Hello: { path: '${helloPath}', requestStream: false, responseStream: false, requestSerialize: id, requestDeserialize: id, responseSerialize: id, responseDeserialize: id } }, {
  Hello: (call, cb) => cb(null, Buffer.from('hello ' + call.request)),
});
server.bindAsync(process.env.HOST + ':' + process.env.PORT, grpc.ServerCredentials.createInsecure(), (err) => { if (err) { console.error(err); process.exit(1); } });
process.on('SIGTERM', () => server.tryShutdown(() => process.exit(0)));`;

const callerJs = `import http from 'node:http';
http.createServer((q, s) => s.end('caller')).listen(Number(process.env.PORT), process.env.HOST);`;

interface Echo {
  instance: string;
  method: string;
  url: string;
  version: string;
  headers: Record<string, string>;
  length: number;
  sha256: string;
}

interface CurlResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function curl(args: string[], timeoutMs = 20_000): Promise<CurlResult> {
  return new Promise((resolve) => {
    execFile('curl', ['-sS', '--max-time', String(timeoutMs / 1000), ...args], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** Splits curl's `-w` trailer (`\n<status> <http version>`) from the JSON bodies before it. */
function bodiesAndStatuses(out: string): { echoes: Echo[]; statuses: string[] } {
  const echoes: Echo[] = [];
  const statuses: string[] = [];
  for (const line of out.split('\n').filter(Boolean)) {
    if (line.startsWith('@@')) statuses.push(line.slice(2));
    else {
      // Several bodies can share a line (curl writes them back to back); split on }{ boundaries.
      for (const piece of line.replace(/}{"instance"/g, '}\n{"instance"').split('\n')) echoes.push(JSON.parse(piece) as Echo);
    }
  }
  return { echoes, statuses };
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

let dir = '';
let base = 0;
const ports = { ingress: 0, echo: 0, greeter: 0, caller: 0 };
const entries: { name: string; echo: string; greeter: string }[] = [];
const grpcClients: { close(): void }[] = [];
let bodyFile = '';
let body = Buffer.alloc(0);

before(async () => {
  base = portBlock(5);
  Object.assign(ports, { ingress: base, echo: base + 1, greeter: base + 2, caller: base + 3 });
  dir = tempApp({
    'echo.mjs': echoJs,
    'greeter.mjs': greeterJs,
    'caller.mjs': callerJs,
    'berth.yaml': `app: clients
ingress:
  port: ${ports.ingress}
  routes:
    - match: { path: { prefix: /matrix.Greeter/ } }
      to: greeter
    - to: echo
services:
  echo:
    run: node echo.mjs
    port: ${ports.echo}
    replicas: 2
    probes:
      readiness: { tcp: {}, periodSeconds: 0.2 }
  greeter:
    run: node greeter.mjs
    port: ${ports.greeter}
    protocol: grpc
    probes:
      readiness: { tcp: {}, periodSeconds: 0.2 }
  caller:
    run: node caller.mjs
    port: ${ports.caller}
    uses: [echo, greeter]
    probes:
      readiness: { tcp: {}, periodSeconds: 0.2 }
`,
  });
  body = randomBytes(300 * 1024 + 17);
  bodyFile = join(dir, 'body.bin');
  writeFileSync(bodyFile, body);
  await berthOk(dir, ['up', '-d', '--wait', '--timeout', '60']);
  const rows = await ps(dir);
  const echoHost = rows.find((r) => r.service === 'echo')!.host.split(':')[0];
  const greeterHost = rows.find((r) => r.service === 'greeter')!.host.split(':')[0];
  const callerHost = rows.find((r) => r.service === 'caller')!.host.split(':')[0];
  const mp = meshPorts(ports.caller);
  entries.push(
    { name: 'ingress', echo: `127.0.0.1:${ports.ingress}`, greeter: `127.0.0.1:${ports.ingress}` },
    { name: 'service address', echo: `127.0.0.1:${ports.echo}`, greeter: `127.0.0.1:${ports.greeter}` },
    { name: 'inbound sidecar', echo: `${echoHost}:${ports.echo}`, greeter: `${greeterHost}:${ports.greeter}` },
    // The caller's outbound listeners, in `uses` order: echo, then greeter.
    { name: 'outbound sidecar', echo: `${callerHost}:${mp.outbound(0)}`, greeter: `${callerHost}:${mp.outbound(1)}` },
  );
});

after(async () => {
  for (const c of grpcClients) c.close();
  await berth(dir, ['down']);
});

describe('real clients through every mesh entry', () => {
  test('curl HTTP/1.0 and HTTP/1.1 (keep-alive, three requests on one connection)', async () => {
    for (const e of entries) {
      const r10 = await curl(['--http1.0', '-w', '\n@@%{http_code} %{http_version}\n', `http://${e.echo}/one`]);
      assert.equal(r10.code, 0, `${e.name}: ${r10.stderr}`);
      const a = bodiesAndStatuses(r10.stdout);
      assert.equal(a.statuses[0].split(' ')[0], '200', `${e.name} HTTP/1.0`);
      assert.equal(a.echoes[0].url, '/one', e.name);
      assert.ok(a.echoes[0].headers.host, `${e.name}: an HTTP/1.0 request reaches the app with a Host`);

      const r11 = await curl(['-v', '-w', '\n@@%{http_code} %{http_version}\n', `http://${e.echo}/a`, `http://${e.echo}/b`, `http://${e.echo}/c`]);
      assert.equal(r11.code, 0, `${e.name}: ${r11.stderr}`);
      const b = bodiesAndStatuses(r11.stdout);
      assert.deepEqual(b.statuses.map((s) => s.split(' ')[0]), ['200', '200', '200'], e.name);
      assert.deepEqual(b.echoes.map((x) => x.url), ['/a', '/b', '/c'], e.name);
      assert.match(r11.stderr, /Re-using existing connection/, `${e.name}: keep-alive`);
    }
  });

  test('curl uploads: sized and chunked bodies arrive intact, with and without Expect: 100-continue', async () => {
    for (const e of entries) {
      const sized = await curl(['-w', '\n@@%{http_code} %{http_version}\n', '--data-binary', `@${bodyFile}`, '-H', 'content-type: application/octet-stream', '-H', 'Expect:', `http://${e.echo}/sized`]);
      const s = bodiesAndStatuses(sized.stdout);
      assert.equal(s.statuses[0].split(' ')[0], '200', `${e.name}: ${sized.stderr}`);
      assert.equal(s.echoes[0].sha256, sha(body), `${e.name}: sized upload intact`);
      assert.equal(s.echoes[0].headers['content-length'], String(body.length), `${e.name}: the length is kept (not turned into chunked)`);

      const chunked = await curl(['-w', '\n@@%{http_code} %{http_version}\n', '--data-binary', `@${bodyFile}`, '-H', 'transfer-encoding: chunked', '-H', 'Expect:', `http://${e.echo}/chunked`]);
      const c = bodiesAndStatuses(chunked.stdout);
      assert.equal(c.statuses[0].split(' ')[0], '200', `${e.name}: ${chunked.stderr}`);
      assert.equal(c.echoes[0].sha256, sha(body), `${e.name}: chunked upload intact`);

      const expect = await curl(['-w', '\n@@%{http_code} %{http_version}\n', '--data-binary', `@${bodyFile}`, '-H', 'Expect: 100-continue', `http://${e.echo}/expect`]);
      const x = bodiesAndStatuses(expect.stdout);
      assert.equal(x.statuses[0].split(' ')[0], '200', `${e.name}: ${expect.stderr}`);
      assert.equal(x.echoes[0].sha256, sha(body), `${e.name}: upload after 100-continue intact`);
    }
  });

  test('curl --http2-prior-knowledge reaches the HTTP/1.1 app (translated), bodies intact', async () => {
    for (const e of entries) {
      const get = await curl(['--http2-prior-knowledge', '-w', '\n@@%{http_code} %{http_version}\n', `http://${e.echo}/h2`]);
      assert.equal(get.code, 0, `${e.name}: ${get.stderr}`);
      const g = bodiesAndStatuses(get.stdout);
      assert.equal(g.statuses[0], '200 2', `${e.name}: answered over HTTP/2`);
      assert.equal(g.echoes[0].url, '/h2', e.name);
      assert.equal(g.echoes[0].version, '1.1', `${e.name}: the app is spoken to in HTTP/1.1`);

      const post = await curl(['--http2-prior-knowledge', '-w', '\n@@%{http_code} %{http_version}\n', '--data-binary', `@${bodyFile}`, `http://${e.echo}/h2-upload`]);
      const p = bodiesAndStatuses(post.stdout);
      assert.equal(p.statuses[0], '200 2', `${e.name}: ${post.stderr}`);
      assert.equal(p.echoes[0].method, 'POST', e.name);
      assert.equal(p.echoes[0].sha256, sha(body), `${e.name}: h2 upload intact`);
    }
  });

  test('an upgrade attempt the app declines is an ordinary exchange: routed, traced, and the connection stays HTTP', async () => {
    for (const e of entries) {
      const r = await curl(['-v', '-H', 'Connection: upgrade', '-H', 'Upgrade: example/1', '-w', '\n@@%{http_code} %{http_version}\n', `http://${e.echo}/declined`, `http://${e.echo}/after`]);
      assert.equal(r.code, 0, `${e.name}: ${r.stderr}`);
      const out = bodiesAndStatuses(r.stdout);
      assert.deepEqual(out.statuses.map((s) => s.split(' ')[0]), ['200', '200'], `${e.name}: ${r.stderr}`);
      assert.deepEqual(out.echoes.map((x) => x.url), ['/declined', '/after'], e.name);
      for (const x of out.echoes) assert.match(x.headers.traceparent ?? '', /^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/, `${e.name}: ${x.url} went through the proxy's HTTP path`);
    }
  });

  test('WebSocket (ws) through every entry: the upgrade succeeds and messages flow both ways', async () => {
    for (const e of entries) {
      const ws = new WebSocket(`ws://${e.echo}/socket`);
      const answers = await new Promise<string[]>((resolve, reject) => {
        const got: string[] = [];
        const timer = setTimeout(() => reject(new Error(`${e.name}: no WebSocket answer`)), 10_000);
        ws.on('open', () => ws.send('m0'));
        ws.on('message', (m: Buffer) => {
          got.push(m.toString());
          if (got.length < 3) ws.send(`m${got.length}`);
          else {
            clearTimeout(timer);
            resolve(got);
          }
        });
        ws.on('error', (err) => {
          clearTimeout(timer);
          reject(err);
        });
      });
      ws.close();
      assert.deepEqual(answers, ['echo m0', 'echo m1', 'echo m2'], e.name);
    }
  });

  test('grpc-js unary through every entry', async () => {
    const Client = grpc.makeGenericClientConstructor({ Hello: { path: helloPath, requestStream: false, responseStream: false, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity } }, 'Greeter');
    for (const e of entries) {
      const c = new Client(e.greeter, grpc.credentials.createInsecure());
      grpcClients.push(c);
      const r = await new Promise<{ err: import('@grpc/grpc-js').ServiceError | null; value?: string }>((resolve) =>
        c.makeUnaryRequest(helloPath, identity, identity, Buffer.from(e.name), new grpc.Metadata(), { deadline: Date.now() + 10_000 }, (err, value) => resolve({ err, value: value?.toString() })),
      );
      assert.equal(r.err, null, `${e.name}: ${r.err?.message}`);
      assert.equal(r.value, `hello ${e.name}`);
    }
  });
});
