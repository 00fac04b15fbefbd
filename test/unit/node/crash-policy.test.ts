// The node agent's uncaught-exception policy, run in real child processes: a peer socket's error is
// logged and survived; any other uncaught error is logged and ends the process with EX_SOFTWARE, so
// the control plane restarts the node in a known state (it used to be swallowed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { CRASH_EXIT_CODE, isSurvivable } from '../../../src/node/crash-policy.js';

const policyUrl = new URL('../../../src/node/crash-policy.js', import.meta.url).href;

function run(body: string): { status: number | null; stderr: string; stdout: string } {
  const script = `import { installCrashPolicy } from ${JSON.stringify(policyUrl)};\ninstallCrashPolicy('agent-under-test');\n${body}`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 10_000, cwd: fileURLToPath(new URL('.', import.meta.url)) });
  return { status: r.status, stderr: r.stderr, stdout: r.stdout };
}

test('crash policy: an unknown uncaught error logs its stack and exits with EX_SOFTWARE', () => {
  const r = run(`setTimeout(() => { throw new Error('state is broken'); }, 10); setTimeout(() => console.log('still alive'), 500);`);
  assert.equal(r.status, CRASH_EXIT_CODE);
  assert.match(r.stderr, /agent-under-test: uncaught exception.*state is broken/s);
  assert.doesNotMatch(r.stdout, /still alive/);
});

test('crash policy: a peer socket error (EPIPE/ECONNRESET) is logged and survived', () => {
  const r = run(`setTimeout(() => { const e = new Error('write EPIPE'); e.code = 'EPIPE'; throw e; }, 10); setTimeout(() => { console.log('still alive'); process.exit(0); }, 300);`);
  assert.equal(r.status, 0);
  assert.match(r.stdout, /still alive/);
  assert.match(r.stderr, /ignored a peer socket error.*EPIPE/);
});

test('crash policy: classification', () => {
  assert.equal(isSurvivable(Object.assign(new Error('x'), { code: 'ECONNRESET' })), true);
  assert.equal(isSurvivable(new TypeError('undefined is not a function')), false);
  assert.equal(isSurvivable(null), false);
  assert.equal(isSurvivable('a string'), false);
});
