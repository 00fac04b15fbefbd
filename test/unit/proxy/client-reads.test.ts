// An accepted connection read through net's onread into a buffer of its own (client-reads.ts):
// what a reader retains stays intact while later reads reuse the buffer (small pieces copied, large
// ones keep it), reads after detach() flow as 'data' events with back-pressure, and the server still
// counts the connection (its close callback waits for it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { ClientReads } from '../../../src/sidecar/proxy/client-reads.js';
import { copyBytes, nextReadSize } from '../../../src/sidecar/proxy/read-buffers.js';
import { rng } from '../../helpers/seeded-random.js';

/** A server whose connections are each given to `take` as ClientReads. */
async function server(take: (reads: ClientReads) => void): Promise<{ port: number; srv: net.Server }> {
  const srv: net.Server = net.createServer({ pauseOnConnect: true }, (accepted) => take(new ClientReads(accepted, srv)));
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return { port: (srv.address() as AddressInfo).port, srv };
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('retained views stay intact while the next reads reuse or replace the buffer', async () => {
  const kept: Buffer[] = [];
  let done!: () => void;
  const ended = new Promise<void>((r) => (done = r));
  const { port, srv } = await server((reads) => {
    reads.attach((view) => {
      // Without retain() the small views would be overwritten by the reads after them.
      kept.push(reads.retain(view));
    });
    reads.socket.on('end', () => {
      reads.socket.end();
      done();
    });
  });
  try {
    const sent: Buffer[] = [];
    const c = net.connect(port, '127.0.0.1');
    c.setNoDelay(true);
    await new Promise((r) => c.once('connect', r));
    // Small pieces (copied), then large ones (the piece keeps the buffer), each in its own read.
    for (const size of [10, 300, 5000, 16 * 1024, 40 * 1024, 64 * 1024, 100 * 1024, 700 * 1024, 7]) {
      const b = randomBytes(size);
      sent.push(b);
      c.write(b);
      await sleep(15);
    }
    c.end();
    await ended;
    assert.equal(sha(Buffer.concat(kept)), sha(Buffer.concat(sent)));
    assert.ok(kept.length >= 9, `${kept.length} reads`);
  } finally {
    srv.close();
  }
});

test('wordsFor: a DataView over the read being received, reading its bytes at the same offsets — across buffer replacements; none outside the call', async () => {
  let done!: () => void;
  const ended = new Promise<void>((r) => (done = r));
  const mismatches: string[] = [];
  let checked = 0;
  let last: Buffer | undefined;
  const { port, srv } = await server((reads) => {
    reads.attach((view) => {
      const words = reads.wordsFor(view);
      if (!words) return void mismatches.push('no DataView for the read being received');
      // Every whole word of the view, as the head parsers read them.
      for (let i = 0; i + 4 <= view.length; i += 4) if (words.getInt32(i, true) !== view.readInt32LE(i)) mismatches.push(`word ${i} of a ${view.length}-byte read`);
      if (reads.wordsFor(Buffer.from(view))) mismatches.push('a DataView for a copy');
      checked++;
      last = view;
      // Large reads are kept: the socket reads into another buffer next, which the DataView must follow.
      if (view.length > 1000) reads.keep(view);
    });
    reads.socket.on('end', () => {
      reads.socket.end();
      if (last && reads.wordsFor(last)) mismatches.push('a DataView after the receive call');
      done();
    });
  });
  try {
    const c = net.connect(port, '127.0.0.1');
    c.setNoDelay(true);
    await new Promise((r) => c.once('connect', r));
    const random = rng(5);
    for (let i = 0; i < 30; i++) {
      c.write(randomBytes(random() < 0.3 ? 2000 + Math.floor(random() * 3000) : 1 + Math.floor(random() * 400)));
      await sleep(5);
    }
    c.end();
    await ended;
    assert.deepEqual(mismatches, []);
    assert.ok(checked >= 10, `${checked} reads checked`);
  } finally {
    srv.close();
  }
});

test('after detach() reads are data events, with back-pressure, in order and unshared', async () => {
  const got: Buffer[] = [];
  let done!: () => void;
  const ended = new Promise<void>((r) => (done = r));
  const { port, srv } = await server((reads) => {
    const s = reads.socket;
    reads.attach((first) => {
      reads.detach();
      s.pause();
      got.push(reads.retain(first));
      // A slow consumer: paused for a while after each piece.
      s.on('data', (d: Buffer) => {
        got.push(d);
        s.pause();
        setTimeout(() => s.resume(), 2);
      });
      setTimeout(() => s.resume(), 20);
    });
    s.on('end', () => {
      s.end();
      done();
    });
  });
  try {
    const body = randomBytes(8 * 1024 * 1024);
    const c = net.connect(port, '127.0.0.1');
    c.end(body);
    c.resume();
    await ended;
    // Every piece is checked only at the end: one that shared a reused buffer would have changed.
    assert.equal(sha(Buffer.concat(got)), sha(body));
    // Reads of up to 1 MiB: at least 8 of them, each paused after.
    assert.ok(got.length >= 8, `${got.length} pieces`);
  } finally {
    srv.close();
  }
});

test('the server counts the connection: close() waits for it, then calls back', async () => {
  let sock: net.Socket | undefined;
  const { port, srv } = await server((reads) => {
    sock = reads.socket;
    reads.attach(() => {});
  });
  const c = net.connect(port, '127.0.0.1');
  await new Promise((r) => c.once('connect', r));
  await sleep(20);
  let closed = false;
  srv.close(() => (closed = true));
  await sleep(50);
  assert.equal(closed, false, 'the server closed with a connection open');
  assert.ok(sock);
  sock.destroy();
  await sleep(50);
  assert.equal(closed, true);
  c.destroy();
});

test('copyBytes copies any range exactly as Buffer.copy (whole buffers, long parts, short parts), and returns where it ended', () => {
  const random = rng(1206);
  for (let i = 0; i < 2000; i++) {
    const src = Buffer.alloc(Math.floor(random() * 300));
    for (let k = 0; k < src.length; k++) src[k] = Math.floor(random() * 256);
    const whole = random() < 0.3;
    const from = whole ? 0 : Math.floor(random() * (src.length + 1));
    const to = whole ? src.length : from + Math.floor(random() * (src.length - from + 1));
    const at = Math.floor(random() * 20);
    const got = Buffer.alloc(340, 7);
    const want = Buffer.alloc(340, 7);
    assert.equal(copyBytes(src, from, to, got, at), at + src.copy(want, at, from, to));
    assert.deepEqual(got, want, `from ${from} to ${to} of ${src.length} at ${at}`);
  }
});

test('nextReadSize: a read that fills its buffer moves to the next size up (none past the last); a read under a sixteenth of a larger buffer goes back to the first size', () => {
  const K = 1024;
  const sizes = [16 * K, 256 * K, 1024 * K];
  assert.equal(nextReadSize(sizes, 16 * K, 16 * K), 256 * K);
  assert.equal(nextReadSize(sizes, 256 * K, 256 * K), 1024 * K);
  assert.equal(nextReadSize(sizes, 1024 * K, 1024 * K), 1024 * K);
  assert.equal(nextReadSize(sizes, 16 * K, 10), 16 * K);
  assert.equal(nextReadSize(sizes, 256 * K, 16 * K - 1), 16 * K);
  assert.equal(nextReadSize(sizes, 256 * K, 16 * K), 256 * K);
  assert.equal(nextReadSize(sizes, 1024 * K, 64 * K - 1), 16 * K);
  assert.equal(nextReadSize(sizes, 1024 * K, 200 * K), 1024 * K);
});
