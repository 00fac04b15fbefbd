// Parsing /proc/net/tcp* and choosing where to connect for a private PORT, against real listeners.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { connectAddress, listenSockets, parseListenTable, socketInodes } from '../../../src/lib/listen-sockets.js';

const TCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:EE48 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 111 1 0000000000000000 100 0 0 10 0
   1: 00000000:EE49 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 112 1 0000000000000000 100 0 0 10 0
   2: 0201077F:EE4A 0100007F:9C40 01 00000000:00000000 00:00000000 00000000  1000        0 113 1 0000000000000000 20 4 30 10 -1
   3: 0501037F:EE4B 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 114 1 0000000000000000 100 0 0 10 0
garbage line
`;
const TCP6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:EE4C 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 211 1 0000000000000000 100 0 0 10 0
   1: 00000000000000000000000001000000:EE4D 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 212 1 0000000000000000 100 0 0 10 0
   2: 0000000000000000FFFF00000100007F:EE4E 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 213 1 0000000000000000 100 0 0 10 0
`;

test('parseListenTable: LISTEN sockets only, addresses decoded (IPv4-mapped IPv6 as IPv4)', () => {
  assert.deepEqual(parseListenTable(TCP, 4), [
    { address: '127.0.0.1', family: 4, port: 61000, inode: 111 },
    { address: '0.0.0.0', family: 4, port: 61001, inode: 112 },
    { address: '127.3.1.5', family: 4, port: 61003, inode: 114 },
  ]);
  assert.deepEqual(parseListenTable(TCP6, 6), [
    { address: '::', family: 6, port: 61004, inode: 211 },
    { address: '::1', family: 6, port: 61005, inode: 212 },
    { address: '127.0.0.1', family: 4, port: 61006, inode: 213 },
  ]);
});

test('connectAddress: HOST when the bind covers it, else the address bound; undefined when nothing listens', () => {
  const s = [...parseListenTable(TCP, 4), ...parseListenTable(TCP6, 6)];
  const host = '127.3.1.5';
  assert.equal(connectAddress(s, 61000, host), '127.0.0.1');
  assert.equal(connectAddress(s, 61001, host), host);
  assert.equal(connectAddress(s, 61003, host), host);
  assert.equal(connectAddress(s, 61004, host), host); // dual-stack `::` (bindv6only is 0 here)
  assert.equal(connectAddress(s, 61005, host), '::1');
  assert.equal(connectAddress(s, 61006, host), '127.0.0.1');
  assert.equal(connectAddress(s, 61002, host), undefined); // port 61002 is an established connection, not a listener
});

test('real listeners: the table shows each bind, and the address chosen accepts a connection', async () => {
  const host = '127.66.1.9';
  const binds = ['127.0.0.1', '::1', '0.0.0.0', '::', host];
  const servers: net.Server[] = [];
  try {
    for (const bind of binds) {
      const server = net.createServer((c) => {
        c.on('error', () => {}); // the client hangs up at once: a reset here is expected
        c.end('hi');
      });
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ host: bind, port: 0 }, () => resolve());
      });
      servers.push(server);
      const port = (server.address() as net.AddressInfo).port;
      const target = connectAddress(listenSockets(), port, host);
      assert.ok(target, `listener on ${bind} not found`);
      await new Promise<void>((resolve, reject) => {
        const c = net.connect({ host: target, port }, () => {
          c.destroy();
          resolve();
        });
        c.once('error', (err) => reject(new Error(`${bind}: connect to ${target} failed: ${err.message}`)));
      });
    }
    // Our own process holds these sockets: their inodes are among its fds.
    const mine = socketInodes([process.pid]);
    const ports = new Set(servers.map((s) => (s.address() as net.AddressInfo).port));
    const found = listenSockets().filter((s) => ports.has(s.port) && mine.has(s.inode));
    assert.equal(found.length, binds.length);
  } finally {
    for (const s of servers) s.close();
  }
});
