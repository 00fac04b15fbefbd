// Every LogSink through the shared conformance suite, each against a real destination: the
// embedded store behind its real HTTP routes, a real file, in-test HTTP servers that parse Loki,
// Elasticsearch _bulk, JSON and OTLP bodies, and a real rsyslog (TCP and UDP) started by the test.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EmbeddedStoreSink, FileSink, HttpSink, OtlpSink, StdoutSink, SyslogSink } from '../../../src/sidecar/logs/index.js';
import { LogIngest } from '../../../src/control/log-ingest.js';
import { handleLogRoutes } from '../../../src/control/log-routes.js';
import { runSinkConformance, type Received } from './suite.js';

const tmp = (p: string) => mkdtempSync(join(tmpdir(), p));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(n: number, read: () => Received[], ms = 3000): Promise<Received[]> {
  const deadline = performance.now() + ms;
  let got = read();
  while (got.length < n && performance.now() < deadline) {
    await sleep(20);
    got = read();
  }
  return got;
}

/** A real HTTP server whose handler parses the body; `down` answers 503 with Retry-After. */
async function httpDestination(parse: (body: Buffer, req: http.IncomingMessage, res: http.ServerResponse) => void) {
  let down = false;
  const requests: { gzip: boolean; headers: http.IncomingHttpHeaders }[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (down) {
        res.writeHead(503, { 'retry-after': '1' });
        res.end('down');
        return;
      }
      const gz = req.headers['content-encoding'] === 'gzip';
      requests.push({ gzip: gz, headers: req.headers });
      const raw = Buffer.concat(chunks);
      parse(gz ? gunzipSync(raw) : raw, req, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    requests: () => requests,
    setDown: (d: boolean): void => {
      down = d;
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

runSinkConformance('embedded', async () => {
  const stateDir = tmp('berth-embedded-');
  const store = new LogIngest(join(stateDir, 'logs.db')); // the control plane's: a writer thread behind a bounded queue
  const reader = await store.reader();
  const server = http.createServer((req, res) => {
    if (req.headers.authorization !== 'Bearer t0ken') {
      res.writeHead(401).end();
      return;
    }
    void handleLogRoutes(req, res, new URL(req.url ?? '/', 'http://x'), () => store);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  writeFileSync(join(stateDir, 'token'), 't0ken\n');
  const info = JSON.stringify({ port });
  writeFileSync(join(stateDir, 'control.json'), info);
  const read = (): Received[] => [...reader.query({})].map((r) => ({ message: r.message, level: r.level, service: r.service, id: r.id }));
  return {
    sink: new EmbeddedStoreSink('embedded', stateDir),
    received: (n) => until(n, read),
    takeDown: async () => rmSync(join(stateDir, 'control.json')),
    bringUp: async () => writeFileSync(join(stateDir, 'control.json'), info),
    ordered: true,
    close: async () => {
      await new Promise<void>((r) => server.close(() => r()));
      await store.close();
    },
  };
});

runSinkConformance('file', async () => {
  const dir = tmp('berth-filesink-');
  const path = join(dir, 'out', 'logs.jsonl');
  mkdirSync(join(dir, 'out'));
  const read = (): Received[] => {
    if (!existsSync(path)) return [];
    const all = [path + '.1', path].filter(existsSync).flatMap((p) => readFileSync(p, 'utf8').split('\n').filter(Boolean));
    return all.map((l) => JSON.parse(l) as Received);
  };
  return {
    sink: new FileSink('file', { path, maxBytes: 200 * 1024, keep: 1 }),
    received: (n) => until(n, read),
    takeDown: async () => {
      renameSync(join(dir, 'out'), join(dir, 'out.away'));
      writeFileSync(join(dir, 'out'), 'not a directory');
    },
    bringUp: async () => {
      rmSync(join(dir, 'out'));
      renameSync(join(dir, 'out.away'), join(dir, 'out'));
    },
    ordered: true,
    close: async () => {},
  };
});

runSinkConformance('stdout', async () => {
  const out = new PassThrough();
  let text = '';
  out.on('data', (c: Buffer) => (text += c.toString()));
  const read = (): Received[] => text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Received);
  return { sink: new StdoutSink('stdout', out), received: (n) => until(n, read), ordered: true, close: async () => {} };
});

runSinkConformance('http json', async () => {
  const got: Received[] = [];
  const d = await httpDestination((body, _req, res) => {
    for (const r of JSON.parse(body.toString()) as Received[]) got.push(r);
    res.end('{}');
  });
  return {
    sink: new HttpSink('http', { url: `http://127.0.0.1:${d.port}/ingest`, format: 'json', gzip: true, headers: { authorization: 'Bearer abc' } }),
    received: (n) => until(n, () => got),
    takeDown: async () => d.setDown(true),
    bringUp: async () => d.setDown(false),
    requests: d.requests,
    configuredHeader: ['authorization', 'Bearer abc'],
    ordered: true,
    close: d.close,
  };
});

runSinkConformance('http loki', async () => {
  const got: Received[] = [];
  const d = await httpDestination((body, req, res) => {
    if (req.url !== '/loki/api/v1/push') {
      res.writeHead(404).end();
      return;
    }
    const push = JSON.parse(body.toString()) as { streams: { stream: Record<string, string>; values: [string, string][] }[] };
    for (const s of push.streams) {
      for (const [ns, line] of s.values) {
        if (!/^\d{19}$/.test(ns)) throw new Error(`bad loki timestamp ${ns}`);
        got.push({ message: line, level: s.stream.level, service: s.stream.service });
      }
    }
    res.writeHead(204).end();
  });
  return {
    sink: new HttpSink('loki', { url: `http://127.0.0.1:${d.port}/loki/api/v1/push`, format: 'loki', gzip: true, headers: { 'x-scope-orgid': 'tenant1' } }),
    received: (n) => until(n, () => got),
    takeDown: async () => d.setDown(true),
    bringUp: async () => d.setDown(false),
    requests: d.requests,
    configuredHeader: ['x-scope-orgid', 'tenant1'],
    // Loki groups by label set: order holds within a stream, not across.
    ordered: false,
    close: d.close,
  };
});

runSinkConformance('http elasticsearch', async () => {
  const docs = new Map<string, Received>();
  const d = await httpDestination((body, req, res) => {
    const lines = body.toString().split('\n').filter(Boolean);
    const items: unknown[] = [];
    for (let i = 0; i < lines.length; i += 2) {
      const action = JSON.parse(lines[i]) as { index: { _index: string; _id: string } };
      const doc = JSON.parse(lines[i + 1]) as Received & { '@timestamp': string };
      if (!doc['@timestamp']) throw new Error('document without @timestamp');
      docs.set(action.index._id, doc);
      items.push({ index: { _index: action.index._index, _id: action.index._id, status: 201 } });
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ took: 1, errors: false, items }));
    void req;
  });
  return {
    sink: new HttpSink('es', { url: `http://127.0.0.1:${d.port}/_bulk`, format: 'elasticsearch', index: 'logs', gzip: true, headers: { authorization: 'ApiKey k' } }),
    received: (n) => until(n, () => [...docs.values()]),
    takeDown: async () => d.setDown(true),
    bringUp: async () => d.setDown(false),
    requests: d.requests,
    configuredHeader: ['authorization', 'ApiKey k'],
    ordered: true,
    close: d.close,
  };
});

runSinkConformance('otlp', async () => {
  const got: Received[] = [];
  const d = await httpDestination((body, req, res) => {
    const sevText: Record<string, string> = { ERROR: 'error', INFO: 'info' };
    const msg = JSON.parse(body.toString()) as {
      resourceLogs: { resource: { attributes: { key: string; value: { stringValue?: string } }[] }; scopeLogs: { logRecords: { timeUnixNano: string; severityText?: string; body: { stringValue: string } }[] }[] }[];
    };
    for (const rl of msg.resourceLogs) {
      const service = rl.resource.attributes.find((a) => a.key === 'service.name')?.value.stringValue;
      for (const sl of rl.scopeLogs) for (const lr of sl.logRecords) got.push({ message: lr.body.stringValue, level: lr.severityText ? sevText[lr.severityText] : undefined, service });
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"partialSuccess":{}}');
    void req;
  });
  return {
    sink: new OtlpSink('otlp', { url: `http://127.0.0.1:${d.port}/v1/logs`, gzip: true, headers: { 'api-key': 'k1' } }),
    received: (n) => until(n, () => got),
    takeDown: async () => d.setDown(true),
    bringUp: async () => d.setDown(false),
    requests: d.requests,
    configuredHeader: ['api-key', 'k1'],
    ordered: true,
    close: d.close,
  };
});

// --- syslog against a real rsyslog (Debian package `rsyslog`, installed by .ci/run) -----------------

const rsyslogd = ['/usr/sbin/rsyslogd', '/sbin/rsyslogd'].find(existsSync) ?? (spawnSync('which', ['rsyslogd']).stdout?.toString().trim() || undefined);

async function startRsyslog(protocol: 'tcp' | 'udp'): Promise<{ port: number; out: string; stop(): Promise<void>; start(): Promise<void> }> {
  const dir = tmp('berth-rsyslog-');
  const out = join(dir, 'received.log');
  mkdirSync(join(dir, 'work'));
  // A free port: bind, read, release (rsyslog binds it right after).
  const probe = http.createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const port = (probe.address() as AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  const conf = join(dir, 'rsyslog.conf');
  writeFileSync(
    conf,
    [
      `global(workDirectory="${dir}/work" maxMessageSize="64k")`,
      protocol === 'tcp' ? `module(load="imtcp")\ninput(type="imtcp" port="${port}" address="127.0.0.1")` : `module(load="imudp")\ninput(type="imudp" port="${port}" address="127.0.0.1" rcvbufSize="8m")`,
      'template(name="raw" type="string" string="%rawmsg%\\n")',
      `*.* action(type="omfile" file="${out}" template="raw" flushOnTXEnd="on" asyncWriting="off")`,
      '',
    ].join('\n'),
  );
  let child: ChildProcess | undefined;
  const start = async (): Promise<void> => {
    child = spawn(rsyslogd as string, ['-n', '-f', conf, '-i', join(dir, 'pid')], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr?.on('data', (c: Buffer) => (err += c.toString()));
    // Ready when the port accepts (TCP) or after a short start-up (UDP has nothing to probe).
    const deadline = performance.now() + 5000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`rsyslogd exited: ${err}`);
      if (protocol === 'udp') {
        await sleep(300);
        return;
      }
      const ok = await new Promise<boolean>((r) => {
        const s = net.connect({ host: '127.0.0.1', port })
          .once('connect', () => {
            s.destroy();
            r(true);
          })
          .once('error', () => r(false));
      });
      if (ok) return;
      if (performance.now() > deadline) throw new Error(`rsyslogd did not listen: ${err}`);
      await sleep(50);
    }
  };
  const stop = async (): Promise<void> => {
    const c = child;
    if (!c || c.exitCode !== null) return;
    const gone = new Promise((r) => c.once('exit', r));
    c.kill('SIGTERM');
    await gone;
  };
  await start();
  return { port, out, stop, start };
}


function parseSyslog(line: string): Received | undefined {
  const m = /^<(\d+)>1 \S+ \S+ (\S+) \S+ \S+ (\[.*?[^\\]\]|-) (.*)$/.exec(line);
  if (!m) return undefined;
  // The sink sends a message's newlines as they are (octet counting over TCP, one datagram over UDP);
  // rsyslog escapes control characters when it receives them (LF becomes #012), so decode that here.
  return { message: m[4].replace(/#012/g, '\n'), service: m[2] };
}

for (const protocol of ['tcp', 'udp'] as const) {
  if (!rsyslogd) {
    // In CI a missing real peer is a failure (.ci/run installs rsyslog), not a skip.
    if (process.env.CI) {
      test(`syslog ${protocol} (real rsyslog)`, () => assert.fail('rsyslogd is not installed (apt-get install rsyslog; .ci/run does)'));
    } else console.log(`# syslog ${protocol}: rsyslogd not installed (apt-get install rsyslog); skipped`);
    continue;
  }
  runSinkConformance(`syslog ${protocol} (real rsyslog)`, async () => {
    const r = await startRsyslog(protocol);
    const read = (): Received[] => {
      if (!existsSync(r.out)) return [];
      return readFileSync(r.out, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map(parseSyslog)
        .filter((x): x is Received => x !== undefined);
    };
    const sink = new SyslogSink(`syslog-${protocol}`, { host: '127.0.0.1', port: r.port, protocol, facility: 1, hostname: 'berth-test' });
    return {
      sink,
      received: (n) => until(n, read, 5000),
      takeDown: async () => {
        await sink.close();
        await r.stop();
      },
      bringUp: async () => r.start(),
      ordered: protocol === 'tcp',
      close: async () => {
        await sink.close();
        await r.stop();
      },
    };
  });
}
