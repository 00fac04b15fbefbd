// berth.config.ts (and .mjs) loading through tsx: default export, functions, errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { loadSpec, findSpecFile, formatSpecErrors } from '../../../src/contract/index.js';
import { ROOT, tempDir } from './helpers.js';

const CONTRACT_URL = pathToFileURL(join(ROOT, 'dist/src/contract/index.js')).href;

test('loads export default defineApp({...}) from berth.config.ts', async () => {
  const dir = tempDir({
    'package.json': '{ "type": "module" }',
    'berth.config.ts': [
      `import { defineApp } from ${JSON.stringify(CONTRACT_URL)};`,
      `const port: number = 8080;`,
      `export default defineApp({`,
      `  app: 'shop',`,
      `  services: {`,
      `    web: { run: ['node', 'web.js'], port, dependsOn: ['db'] },`,
      `    db: { run: 'postgres', port: 5432 },`,
      `  },`,
      `  environments: { prod: { services: { web: { replicas: 3 } } } },`,
      `});`,
    ].join('\n'),
  });
  assert.equal(findSpecFile(dir), join(dir, 'berth.config.ts'));
  const r = await loadSpec(join(dir, 'berth.config.ts'), { env: 'prod' });
  assert.ok(r.ok, r.ok ? '' : formatSpecErrors(r.errors));
  assert.equal(r.file, join(dir, 'berth.config.ts'));
  assert.equal(r.dir, dir);
  assert.equal(r.spec.services.web.replicas, 3);
  assert.deepEqual(r.spec.services.web.dependsOn, { db: 'started' });
  // A directory is accepted too.
  const viaDir = await loadSpec(dir);
  assert.ok(viaDir.ok);
});

test('a default-exported function is called', async () => {
  const dir = tempDir({
    'berth.config.mjs': `export default async () => ({ app: 'fn', services: { web: { run: 'node web.js' } } });\n`,
  });
  const r = await loadSpec(join(dir, 'berth.config.mjs'));
  assert.ok(r.ok, r.ok ? '' : formatSpecErrors(r.errors));
  assert.equal(r.spec.app, 'fn');
});

test('validation errors from a config have the right paths and best-effort positions', async () => {
  const dir = tempDir({
    'berth.config.ts': [
      `export default {`,
      `  app: 'shop',`,
      `  services: {`,
      `    web: {`,
      `      run: 'a | b',`,
      `      replicsa: 2,`,
      `    },`,
      `  },`,
      `};`,
    ].join('\n'),
  });
  const r = await loadSpec(join(dir, 'berth.config.ts'));
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.deepEqual(
    r.errors.map((e) => [e.line, e.col, e.path]),
    [
      [5, 12, 'services.web.run'],
      [6, 7, 'services.web.replicsa'],
    ],
  );
  assert.equal(r.errors[1].hint, 'did you mean `replicas`?');
});

test('a config that throws, fails to compile or has no default export becomes a SpecError', async () => {
  const dir = tempDir({
    'throws.config.ts': `const n: number = 1;\nthrow new Error('boom ' + n);\n`,
    'syntax.config.ts': `export default {\nconst = ;\n`,
    'nodefault.config.ts': `export const app = 'x';\n`,
  });
  const thrown = await loadSpec(join(dir, 'throws.config.ts'));
  assert.equal(thrown.ok, false);
  if (!thrown.ok) assert.match(thrown.errors[0].message, /boom 1/);
  const syntax = await loadSpec(join(dir, 'syntax.config.ts'));
  assert.equal(syntax.ok, false);
  if (!syntax.ok) assert.equal(syntax.errors[0].line, 2);
  const nodefault = await loadSpec(join(dir, 'nodefault.config.ts'));
  assert.equal(nodefault.ok, false);
  if (!nodefault.ok) assert.match(nodefault.errors[0].message, /no default export/);
});

test('findSpecFile prefers berth.yaml, then berth.yml, then berth.config.ts', () => {
  const dir = tempDir({ 'berth.config.ts': '', 'berth.yml': '' });
  assert.equal(findSpecFile(dir), join(dir, 'berth.yml'));
  const dir2 = tempDir({ 'berth.yml': '', 'berth.yaml': '' });
  assert.equal(findSpecFile(dir2), join(dir2, 'berth.yaml'));
  assert.equal(findSpecFile(tempDir()), undefined);
});

test('a missing file says how to create one', async () => {
  const dir = tempDir();
  const r = await loadSpec(join(dir, 'berth.yaml'));
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.equal(r.errors[0].file, join(dir, 'berth.yaml'));
  assert.match(r.errors[0].message, /not found/);
  assert.match(r.errors[0].hint ?? '', /berth init/);
  const empty = await loadSpec(dir);
  assert.equal(empty.ok, false);
});

test('relative paths are resolved; dir is the spec directory', async () => {
  const dir = tempDir({ 'sub/berth.yaml': 'app: a\nservices:\n  web: { run: x }\n' });
  const prev = process.cwd();
  process.chdir(dir);
  try {
    const r = await loadSpec('sub/berth.yaml');
    assert.ok(r.ok);
    assert.equal(r.file, join(dir, 'sub/berth.yaml'));
    assert.equal(r.dir, join(dir, 'sub'));
  } finally {
    process.chdir(prev);
  }
});
