import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import net from 'node:net';
import { test } from 'node:test';
import { readDirectly } from '../../../src/sidecar/proxy/direct-read.js';

/** A server that runs `serve` on each connection; its port. */
async function server(serve: (s: net.Socket) => void): Promise<{ port: number; close(): void }> {
  const srv = net.createServer(serve);
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  return { port: (srv.address() as net.AddressInfo).port, close: () => srv.close() };
}

/**
 * A client socket reading into buffers of its own through readDirectly: the buffer changes after
 * some reads (as the proxy's do when a reader kept one), and each read is checked to be in the
 * buffer the socket was told to read into.
 */
function client(port: number, onBytes: (b: Buffer) => boolean): { socket: net.Socket; direct: boolean; reads: () => number } {
  let buf = Buffer.alloc(1024);
  let reads = 0;
  const nextBuffer = (): Buffer => buf;
  const callback = (n: number, b: Uint8Array): boolean => {
    assert.equal(b, buf, 'the read is in the buffer given last');
    reads++;
    const more = onBytes(Buffer.from(buf.subarray(0, n)));
    if (reads % 3 === 0) buf = Buffer.alloc(256 + (reads % 5) * 300);
    return more;
  };
  const socket = net.connect({ port, host: '127.0.0.1', onread: { buffer: nextBuffer, callback } });
  const direct = readDirectly(socket, callback, nextBuffer);
  return { socket, direct, reads: () => reads };
}

function piece(i: number): Buffer {
  const b = Buffer.allocUnsafe(1 + ((i * 7919) % 3000));
  for (let j = 0; j < b.length; j++) b[j] = (i * 13 + j) & 0xff;
  return b;
}

test('readDirectly: every byte arrives once and in order across buffer changes, then the end of the stream as ever', async () => {
  const sent = createHash('sha256');
  const srv = await server((s) => {
    let i = 0;
    const more = (): void => {
      if (i === 200) return void s.end();
      const b = piece(i++);
      sent.update(b);
      s.write(b);
      setImmediate(more);
    };
    more();
  });
  try {
    const got = createHash('sha256');
    const c = client(srv.port, (b) => (got.update(b), true));
    assert.equal(c.direct, true, 'this Node has the handle readDirectly expects');
    const ended = once(c.socket, 'end');
    c.socket.resume();
    await ended;
    assert.ok(c.reads() > 10, `${c.reads()} reads`);
    assert.equal(got.digest('hex'), sent.digest('hex'));
    c.socket.destroy();
  } finally {
    srv.close();
  }
});

test('readDirectly: a callback answering false stops reading until resume(); nothing is lost', async () => {
  const total = 400_000;
  const srv = await server((s) => {
    s.end(Buffer.alloc(total, 7));
  });
  let c: ReturnType<typeof client> | undefined;
  try {
    let received = 0;
    let paused = 0;
    c = client(srv.port, (b) => {
      received += b.length;
      // Every fourth read asks for a pause; the socket is resumed a little later.
      if (c!.reads() % 4 === 0) {
        paused++;
        setTimeout(() => c!.socket.resume(), 2);
        return false;
      }
      return true;
    });
    const ended = once(c.socket, 'end');
    c.socket.resume();
    // Bounded: a socket whose reading was not restarted by resume() would wait forever.
    await Promise.race([ended, new Promise((_, reject) => setTimeout(() => reject(new Error(`reading stopped for good after ${received} bytes`)), 5000).unref())]);
    assert.equal(received, total);
    assert.ok(paused > 0);
  } finally {
    c?.socket.destroy();
    srv.close();
  }
});

test('readDirectly: reads refresh a socket timeout as net does; a reset still errors and closes the socket', async () => {
  let peer: net.Socket | undefined;
  const srv = await server((s) => {
    peer = s;
    // A byte every 40 ms for 400 ms: a 300 ms timeout must not fire while they come (the margin is
    // for a loaded machine's late timers).
    let n = 0;
    const t = setInterval(() => {
      s.write('x');
      if (++n === 10) clearInterval(t);
    }, 40);
  });
  let c: ReturnType<typeof client> | undefined;
  try {
    let bytes = 0;
    c = client(srv.port, (b) => ((bytes += b.length), true));
    let timedOut = false;
    c.socket.setTimeout(300, () => (timedOut = true));
    c.socket.resume();
    for (let i = 0; i < 100 && bytes < 10; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(bytes, 10);
    assert.equal(timedOut, false, 'the reads kept the timeout from firing');
    for (let i = 0; i < 100 && !timedOut; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(timedOut, true, 'quiet afterwards: it fires');
    const errors: NodeJS.ErrnoException[] = [];
    c.socket.on('error', (e: NodeJS.ErrnoException) => errors.push(e));
    // (events.once would reject on the 'error' event this waits past.)
    const sock = c.socket;
    const closed = new Promise((resolve) => sock.once('close', resolve));
    peer!.resetAndDestroy();
    await closed;
    assert.equal(errors[0]?.code, 'ECONNRESET');
  } finally {
    c?.socket.destroy();
    peer?.destroy();
    srv.close();
  }
});
