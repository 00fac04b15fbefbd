// Issue 12 point 12, sinks: syslog keeps a message's bytes (octet counting over TCP, no literal
// "\n") and carries no made-up SD-ID (RFC 5424 §6.3.2: names without @ are IANA's; 32473 is the
// documentation number) unless one is configured; OTLP sends nested fields as kvlistValue/arrayValue
// and integers as intValue; Loki entries are in time order within each stream of a batch.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { lokiPush, otlpLogs, SyslogSink, type LogRecord } from '../../../src/sidecar/logs/index.js';
import { validateSpecText } from '../../../src/contract/index.js';

function rec(i: number, over: Partial<LogRecord> = {}): LogRecord {
  return {
    id: `web-1/fp:${i}`,
    time: new Date(Date.UTC(2026, 11, 5, 3, 0, 0, i)).toISOString(),
    message: `m${i}`,
    level: 'info',
    stream: 'stdout',
    file: '',
    process: 'app',
    app: 'demo',
    service: 'web',
    variant: 'default',
    revision: 'r1',
    instance: 'web-1',
    node: 'node-1',
    ...over,
  };
}

/** A TCP syslog receiver that splits octet-counted frames (RFC 6587 §3.4.1). */
async function octetCountingServer(): Promise<{ port: number; messages: Buffer[]; close(): Promise<void> }> {
  const messages: Buffer[] = [];
  const server = net.createServer((sock) => {
    let buf = Buffer.alloc(0);
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        const sp = buf.indexOf(0x20);
        if (sp < 0) return;
        const len = Number(buf.subarray(0, sp).toString());
        if (!Number.isInteger(len) || buf.length < sp + 1 + len) return;
        messages.push(buf.subarray(sp + 1, sp + 1 + len));
        buf = buf.subarray(sp + 1 + len);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as AddressInfo).port, messages, close: () => new Promise<void>((r) => server.close(() => r())) };
}

async function waitFor(cond: () => boolean, what: string): Promise<void> {
  const deadline = performance.now() + 5000;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('syslog over TCP: octet-counted frames keep newlines as bytes; no structured data unless an SD-ID is configured', async () => {
  const srv = await octetCountingServer();
  const plain = new SyslogSink('s1', { host: '127.0.0.1', port: srv.port, protocol: 'tcp', facility: 1, hostname: 'h' });
  const withSd = new SyslogSink('s2', { host: '127.0.0.1', port: srv.port, protocol: 'tcp', facility: 1, hostname: 'h', sdId: 'berth@12345' });
  try {
    await plain.send([rec(1, { message: 'first line\nsecond line ✓' })]);
    await withSd.send([rec(2, { message: 'x' })]);
    await waitFor(() => srv.messages.length === 2, 'two frames');
    const [a, b] = srv.messages.map((m) => m.toString('utf8'));
    assert.match(a, /^<14>1 \S+ h web web-1 stdout - first line\nsecond line ✓$/);
    assert.ok(!a.includes('\\n'), 'no literal backslash-n');
    assert.ok(!a.includes('32473') && !b.includes('32473'), 'no documentation enterprise number');
    assert.match(b, / \[berth@12345 app="demo" instance="web-1" revision="r1" id="web-1\/fp:2" level="info"\] x$/);
  } finally {
    await plain.close();
    await withSd.close();
    await srv.close();
  }
});

test('syslog structuredDataId: the spec refuses an SD-ID without @<enterprise number>', () => {
  const spec = (id: string) => `app: demo\nservices:\n  web:\n    run: node app.js\n    logs:\n      sinks:\n        - type: syslog\n          structuredDataId: ${id}\n`;
  const bad = validateSpecText(spec('berth'), 'berth.yaml');
  assert.equal(bad.ok, false);
  assert.match(JSON.stringify(bad), /enterprise number/);
  assert.equal(validateSpecText(spec('berth@12345'), 'berth.yaml').ok, true);
});

test('OTLP: nested fields become kvlistValue/arrayValue, integers intValue, other numbers doubleValue', () => {
  const r = rec(1, { fields: { status: 200, ms: 1.5, big: 2 ** 60, user: { id: 7, tags: ['a', 1, true, null] } } });
  const body = JSON.parse(otlpLogs([r])) as { resourceLogs: { scopeLogs: { logRecords: { attributes: { key: string; value: unknown }[] }[] }[] }[] };
  const attrs = Object.fromEntries(body.resourceLogs[0].scopeLogs[0].logRecords[0].attributes.map((a) => [a.key, a.value]));
  assert.deepEqual(attrs.status, { intValue: '200' });
  assert.deepEqual(attrs.ms, { doubleValue: 1.5 });
  assert.deepEqual(attrs.big, { doubleValue: 2 ** 60 });
  assert.deepEqual(attrs.user, {
    kvlistValue: {
      values: [
        { key: 'id', value: { intValue: '7' } },
        { key: 'tags', value: { arrayValue: { values: [{ stringValue: 'a' }, { intValue: '1' }, { boolValue: true }, {}] } } },
      ],
    },
  });
});

test('Loki: entries of each stream are sorted by time within a batch (app-supplied timestamps out of order)', () => {
  const times = [5, 1, 3, 2, 4];
  const records = times.map((t, i) => rec(i, { time: new Date(Date.UTC(2026, 11, 5, 3, 0, t)).toISOString(), message: `t${t}` }));
  records.push(rec(9, { level: 'error', time: new Date(Date.UTC(2026, 11, 5, 2, 0, 0)).toISOString(), message: 'other stream' }));
  const push = JSON.parse(lokiPush(records)) as { streams: { stream: Record<string, string>; values: [string, string][] }[] };
  const info = push.streams.find((s) => s.stream.level === 'info');
  assert.deepEqual(info?.values.map((v) => v[1]), ['t1', 't2', 't3', 't4', 't5']);
  for (const s of push.streams) {
    const ns = s.values.map((v) => BigInt(v[0]));
    assert.deepEqual([...ns].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)), ns);
  }
});
