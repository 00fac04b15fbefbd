// Parsing /proc/net/tcp* and choosing where to connect for a private PORT, against real listeners.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { findListener, listenSockets, parseListenTable, socketInodes } from '../../../src/lib/listen-sockets.js';

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

test('real listeners: the table shows each bind, and findListener finds an address that accepts', async () => {
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
      assert.ok(listenSockets().some((l) => l.port === port), `listener on ${bind} not in the table`);
      const found = await findListener(port, host);
      assert.equal(found, bind === '127.0.0.1' || bind === '::1' ? bind : host, `findListener for a bind on ${bind}`);
      await new Promise<void>((resolve, reject) => {
        const c = net.connect({ host: found, port }, () => {
          c.destroy();
          resolve();
        });
        c.once('error', (err) => reject(new Error(`${bind}: connect to ${found} failed: ${err.message}`)));
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

test('findListener: undefined when nothing listens on the port', async () => {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, () => resolve()));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  assert.equal(await findListener(port, '127.66.1.10'), undefined);
});
