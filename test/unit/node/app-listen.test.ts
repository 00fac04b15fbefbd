import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AppListen, type ListenLook, type ListenState } from '../../../src/node/app-listen.js';

const PORT = 61500;
const HOST = '127.1.1.6';

/** A look whose connection attempts fail `failures` times, then reach HOST; the app's sockets are `own`. */
function look(failures: number, own: { address: string; port: number }[]): ListenLook & { finds: number } {
  const l = {
    finds: 0,
    find: async (): Promise<string | undefined> => (l.finds++ < failures ? undefined : HOST),
    own: () => own.map((s, i) => ({ ...s, family: 4 as const, inode: 1000 + i })),
  };
  return l;
}

async function watch(l: ListenLook, ms: number): Promise<ListenState[]> {
  const seen: ListenState[] = [];
  const listen = new AppListen(HOST, PORT, (s) => seen.push(s), l);
  listen.appStarted(4242);
  await new Promise((r) => setTimeout(r, ms));
  listen.stop();
  return seen;
}

test('AppListen: an app seen in the socket tables on PORT after a failed connection attempt is not reported as listening elsewhere', async () => {
  // The connection attempts fail for 1.3 s (a start under load, or the app binding just then); the
  // tables, read after them, already show the app on PORT. The regression reported "listens on
  // 127.1.1.6:61500 but not on its PORT 61500" and the revision failed.
  const seen = await watch(look(13, [{ address: HOST, port: PORT }]), 2000);
  assert.deepEqual(
    seen.filter((s) => s.kind === 'elsewhere'),
    [],
  );
  assert.deepEqual(seen.at(-1), { kind: 'listening', address: HOST });
});

test('AppListen: an app on other ports only is reported as listening elsewhere (with where)', async () => {
  const seen = await watch(look(Infinity, [{ address: '127.0.0.1', port: 8080 }]), 1500);
  assert.deepEqual(seen.at(-1), { kind: 'elsewhere', on: ['127.0.0.1:8080'] });
});
