// Issue 19 point 8: `berth init --template` for each template makes an app that comes up and serves
// on a port that was free (a taken 8080 is skipped); a berth.config.ts importing 'berth' works in a
// fresh folder with no Berth installed (CommonJS and ES module configs); `berth completion` prints
// scripts bash, zsh and fish accept, and bash's completes commands, subcommands and flag choices.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { berth, berthOk, giveToAppUser, httpRequest, ps, waitFor } from './harness/berth.js';

const which = (cmd: string) => {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`]);
    return true;
  } catch {
    return false;
  }
};

for (const template of ['node-http', 'node-worker', 'two-services', 'python-http']) {
  test(`berth init --template ${template}: a free port, and the app comes up`, async () => {
    const dir = mkdtempSync(join(tmpdir(), `berth-init-${template}-`));
    // Hold 8080 (when free) so the template must pick another port.
    const blocker = createServer();
    await new Promise<void>((r) => blocker.once('error', () => r()).listen({ port: 8080, host: '127.0.0.1' }, () => r()));
    let ports: number[];
    try {
      const r = await berthOk(dir, ['init', '--template', template, '--json']);
      ports = (JSON.parse(r.stdout) as { ports: number[] }).ports;
      assert.ok(!ports.includes(8080), `8080 is taken: got ${ports.join(',')}`);
    } finally {
      blocker.close();
    }
    assert.equal(ports.length, { 'node-http': 1, 'node-worker': 0, 'two-services': 2, 'python-http': 1 }[template]);
    assert.ok(existsSync(join(dir, '.gitignore')));
    giveToAppUser(dir);
    try {
      await berthOk(dir, ['up', '-d', '--wait', '--timeout', '60'], { timeoutMs: 90_000 });
      if (ports.length > 0) {
        const reply = await waitFor('an answer', async () => {
          const x = await httpRequest(`http://127.0.0.1:${ports[0]}/`);
          return x.status === 200 ? x : undefined;
        });
        assert.match(reply.body, template === 'two-services' ? /the api answered "api from/ : /hello from/);
      } else assert.ok((await ps(dir)).every((row) => row.ready));
      assert.equal((await berth(dir, ['init', '--template', template])).code, 2, 'existing files are not overwritten');
    } finally {
      await berth(dir, ['down']);
    }
  });
}

test('berth init: an unknown template is a usage error naming the templates', async () => {
  const r = await berth(mkdtempSync(join(tmpdir(), 'berth-init-')), ['init', '--template', 'rust']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /node-http/);
});

for (const [file, pkg] of [
  ['berth.config.ts', undefined],
  ['berth.config.ts', '{"type": "module"}'],
  ['berth.config.mts', undefined],
] as const) {
  test(`${file}${pkg ? ' (type: module)' : ''} imports defineApp from 'berth' in a fresh folder without Berth installed`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-fresh-'));
    assert.equal(existsSync(join(tmpdir(), 'node_modules')), false, 'no node_modules above the folder');
    if (pkg) writeFileSync(join(dir, 'package.json'), pkg);
    writeFileSync(join(dir, file), `import { defineApp } from 'berth';\nexport default defineApp({ app: 'fresh', services: { w: { run: 'node -e "setInterval(() => {}, 1000)"', replicas: 2 } } });\n`);
    const r = await berthOk(dir, ['validate', '--json', '-f', file]);
    assert.equal((JSON.parse(r.stdout) as { ok: boolean }).ok, true);
    const cfg = JSON.parse((await berthOk(dir, ['config', '--json', '-f', file])).stdout) as { services: { w: { replicas: number } } };
    assert.equal(cfg.services.w.replicas, 2);
  });
}

test('berth completion: bash, zsh and fish scripts parse; bash completes commands, subcommands and choices', async () => {
  const scripts: Record<string, string> = {};
  for (const shell of ['bash', 'zsh', 'fish']) scripts[shell] = (await berthOk(tmpdir(), ['completion', shell])).stdout;
  const dir = mkdtempSync(join(tmpdir(), 'berth-completion-'));
  for (const [shell, text] of Object.entries(scripts)) {
    writeFileSync(join(dir, shell), text);
    // On CI (.ci/run installs zsh and fish) a missing shell fails the test instead of skipping its check.
    if (shell === 'bash' || which(shell) || process.env.CI === 'true') execFileSync(shell, ['-n', join(dir, shell)]);
  }
  assert.match(scripts.zsh, /^#compdef berth/);
  assert.match(scripts.fish, /complete -c berth -n '__fish_use_subcommand' -a 'attach'/);
  const complete = (words: string[]) =>
    execFileSync('bash', ['-c', `source ${join(dir, 'bash')}; COMP_WORDS=(${words.map((w) => `"${w}"`).join(' ')}); COMP_CWORD=${words.length - 1}; _berth; echo "\${COMPREPLY[@]}"`]).toString().trim().split(/\s+/);
  assert.deepEqual(complete(['berth', 'att']), ['attach']);
  assert.deepEqual(complete(['berth', 'node', 'dr']), ['drain']);
  assert.deepEqual(complete(['berth', 'init', '--template', '']), ['node-http', 'node-worker', 'two-services', 'python-http']);
  assert.ok(complete(['berth', 'up', '--']).includes('--watch'));
  assert.equal((await berth(tmpdir(), ['completion', 'tcsh'])).code, 2);
});
