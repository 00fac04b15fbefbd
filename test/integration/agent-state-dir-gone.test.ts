// A node agent outlives control-plane restarts by design, but not its state dir: once the dir is
// deleted (an app folder removed, a test's temp dir cleaned up) it stops its instances and exits.
// Before, CI runs left such agents (and their apps) running for ever.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { isProcessAlive } from '../../src/lib/proc.js';
import { desired, instanceSpec, pickPort, startTestAgent, waitFor } from './node-helpers/harness.js';

test('an agent whose state dir is deleted stops its instances and exits', async () => {
  const agent = await startTestAgent({ BERTH_STATE_DIR_CHECK_MS: '200' });
  try {
    const host = '127.77.9.2';
    const spec = instanceSpec({ id: 'web-1', host, port: await pickPort(host), script: agent.script('app'), logDir: join(agent.dir, 'logs', 'web-1') });
    await agent.put(desired(1, [spec]));
    const running = await waitFor(async () => {
      const i = await agent.instance('web-1');
      return i?.pid !== undefined && i.status !== 'pending' ? i : undefined;
    }, 10_000, 'web-1 running');
    rmSync(agent.stateDir, { recursive: true, force: true });
    const code = await Promise.race([agent.exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 10_000))]);
    assert.notEqual(code, 'timeout', 'the agent exits once its state dir is gone');
    await waitFor(() => !isProcessAlive(running.pid!), 5_000, 'the instance stopped with its agent');
  } finally {
    await agent.cleanup();
  }
});
