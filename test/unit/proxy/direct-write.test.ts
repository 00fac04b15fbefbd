import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import net from 'node:net';
import { once } from 'node:events';
import { test } from 'node:test';
import v8 from 'node:v8';
import vm from 'node:vm';
import { DIRECT_LIMIT, writeNow } from '../../../src/sidecar/proxy/direct-write.js';

/** A loopback connection: the client socket and the server's end of it. */
async function pair(): Promise<{ client: net.Socket; peer: net.Socket; close(): void }> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  const accepted = once(server, 'connection');
  const client = net.connect({ port, host: '127.0.0.1', noDelay: true });
  await once(client, 'connect');
  const [peer] = (await accepted) as [net.Socket];
  return { client, peer, close: () => (client.destroy(), peer.destroy(), server.close()) };
}

/** Piece `i` of a test stream: its own bytes, so a lost, doubled or reordered piece changes the digest. */
function piece(i: number, size: number): Buffer {
  const b = Buffer.allocUnsafe(size);
  for (let j = 0; j < size; j++) b[j] = (i * 31 + j * 7) & 0xff;
  return b;
}

/** Reads `peer` (paused until now) to its end: the byte count and their sha256. */
async function readAll(peer: net.Socket): Promise<{ received: number; sha: string }> {
  const got = createHash('sha256');
  let received = 0;
  peer.on('data', (d: Buffer) => {
    got.update(d);
    received += d.length;
  });
  peer.resume();
  await once(peer, 'end');
  return { received, sha: got.digest('hex') };
}

test('writeNow: bytes arrive whole and in call order, mixed with socket.write, cork and strings', async () => {
  const { client, peer, close } = await pair();
  try {
    const got: Buffer[] = [];
    peer.on('data', (d: Buffer) => got.push(d));
    const expected: Buffer[] = [];
    for (let i = 0; i < 300; i++) {
      const b = piece(i, 1 + ((i * 97) % 2000));
      expected.push(b);
      switch (i % 4) {
        case 0:
          writeNow(client, b);
          break;
        case 1:
          client.write(b);
          break;
        case 2:
          // Written while corked: it must wait behind what the cork holds.
          client.cork();
          client.write(b.subarray(0, 1));
          writeNow(client, b.subarray(1));
          client.uncork();
          break;
        default:
          writeNow(client, b.toString('latin1'));
      }
    }
    client.end();
    await once(peer, 'end');
    assert.equal(Buffer.concat(got).toString('hex'), Buffer.concat(expected).toString('hex'));
  } finally {
    close();
  }
});

test('writeNow: writes the kernel cannot take at once are queued, kept in order, and end() waits for them', async () => {
  const { client, peer, close } = await pair();
  try {
    // The reader stops: the kernel's buffers fill and later writes stay queued in libuv.
    peer.pause();
    const sent = createHash('sha256');
    let total = 0;
    for (let i = 0; i < 400; i++) {
      const b = piece(i, DIRECT_LIMIT - (i % 5));
      sent.update(b);
      total += b.length;
      // Every fifth through net's Writable: it must queue behind the direct writes, not overtake them.
      if (i % 5 === 4) client.write(b);
      else writeNow(client, i % 2 ? b : b.toString('latin1'));
    }
    const queued = (client as net.Socket & { _handle: { writeQueueSize: number } })._handle.writeQueueSize;
    assert.ok(queued > 0, `some writes are pending in libuv (${queued} bytes)`);
    client.end();
    const got = await readAll(peer);
    assert.equal(got.received, total);
    assert.equal(got.sha, sent.digest('hex'));
  } finally {
    close();
  }
});

test('writeNow: a Buffer whose write stays pending is held until written: garbage collections and new allocations in between change no byte', async () => {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  const { client, peer, close } = await pair();
  try {
    peer.pause();
    const sent = createHash('sha256');
    let total = 0;
    // Written and forgotten, as the proxy does with a head it built: nothing here keeps them.
    for (let i = 0; i < 200; i++) {
      const b = piece(i, DIRECT_LIMIT - (i % 7));
      sent.update(b);
      total += b.length;
      writeNow(client, b);
    }
    const queued = (client as net.Socket & { _handle: { writeQueueSize: number } })._handle.writeQueueSize;
    assert.ok(queued > 0, `some writes are pending in libuv (${queued} bytes)`);
    // Collected, their memory would be freed and handed out again, here filled with other bytes.
    for (let k = 0; k < 4; k++) gc();
    const other: Buffer[] = [];
    for (let k = 0; k < 400; k++) other.push(Buffer.alloc(DIRECT_LIMIT, 0xee));
    client.end();
    const got = await readAll(peer);
    assert.equal(other.length, 400);
    assert.equal(got.received, total);
    assert.equal(got.sha, sent.digest('hex'));
  } finally {
    close();
  }
});

test('writeNow: a connection reset under pending writes destroys the socket with the error, nothing throws', async () => {
  const { client, peer, close } = await pair();
  try {
    peer.pause();
    const errors: NodeJS.ErrnoException[] = [];
    client.on('error', (e: NodeJS.ErrnoException) => errors.push(e));
    for (let i = 0; i < 200; i++) writeNow(client, piece(i, DIRECT_LIMIT));
    // (events.once would reject on the 'error' event this waits past.)
    const closed = new Promise((resolve) => client.once('close', resolve));
    peer.resetAndDestroy();
    await closed;
    assert.ok(client.destroyed);
    assert.ok(errors.length >= 1, 'the reset is reported as an error event');
    assert.match(String(errors[0].code), /^E[A-Z]+$/);
    // Writing to the closed socket afterwards reports through net, as socket.write would.
    assert.doesNotThrow(() => writeNow(client, Buffer.from('late')));
  } finally {
    close();
  }
});

test('writeNow: a write over DIRECT_LIMIT goes through the Writable, which then sees it queued', async () => {
  const { client, peer, close } = await pair();
  try {
    peer.pause();
    for (let i = 0; i < 100; i++) writeNow(client, piece(i, DIRECT_LIMIT));
    const big = piece(1000, DIRECT_LIMIT + 1);
    const ok = writeNow(client, big);
    assert.equal(ok, false, 'back-pressure is reported for the large write');
    assert.ok(client.writableLength >= big.length);
  } finally {
    close();
  }
});
