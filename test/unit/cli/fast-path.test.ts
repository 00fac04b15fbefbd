// The quick path of bin/berth.js: only `ls`, `ps` (with their own flags, services and --app) and
// --version skip the full parser; anything else (help, -f, other commands, odd names) goes to main.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fastPath } from '../../../src/cli/fast.js';
import { repoRoot } from '../../integration/harness/berth.js';

test('fastPath leaves everything but the quick commands to main.ts', async () => {
  for (const argv of [[], ['ps', '--help'], ['ps', '-f', 'berth.yaml'], ['ps', '--file=x'], ['logs'], ['ls', 'extra'], ['ls', '-h'], ['ps', '../etc'], ['up'], ['--app', 'x', 'logs'], ['--help']])
    assert.equal(await fastPath(argv), false, argv.join(' '));
});

test('fastPath prints the version', async () => {
  const write = process.stdout.write.bind(process.stdout);
  let out = '';
  process.stdout.write = ((s: string) => ((out += s), true)) as typeof process.stdout.write;
  try {
    assert.equal(await fastPath(['--version']), true);
  } finally {
    process.stdout.write = write;
  }
  const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string };
  assert.equal(out, `${pkg.version}\n`, 'the same version as package.json (and main.ts)');
});
