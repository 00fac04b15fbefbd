// Tests that need a real server (Redis, RabbitMQ, NATS, PostgreSQL ...) call requireServer first:
// a server that does not answer skips the test on a laptop and fails it under CI=true.
import net from 'node:net';
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';

export function portOpen(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    const done = (ok: boolean): void => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(timeoutMs, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

/** Returns false (test skipped) when the server is away and CI is not set; fails under CI. */
export async function requireServer(t: TestContext, name: string, host: string, port: number): Promise<boolean> {
  if (await portOpen(host, port)) return true;
  const msg = `${name} is not reachable at ${host}:${port}`;
  if (process.env.CI) assert.fail(`${msg} (CI needs it running)`);
  t.skip(msg);
  return false;
}

/** Waits for a condition with a deadline (no sleeps as synchronization). */
export async function until<T>(what: string, check: () => T | undefined | false | Promise<T | undefined | false>, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) assert.fail(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 15));
  }
}
