// Install on the Node the README and `engines` promise (issue 12 point 14): no package in the lock
// file asks for a newer Node than the one running the tests (CI runs Node 20), so `npm ci` prints no
// EBADENGINE warning. Checked with npm's own range semantics (semver, as npm uses it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { ROOT } from './contract/helpers.js';

interface Semver {
  satisfies(version: string, range: string): boolean;
}
// semver is installed with npm's own tree (better-sqlite3 → prebuild-install → node-abi needs it).
const semver = createRequire(import.meta.url)('semver') as Semver;

test('every locked package accepts this Node (npm ci prints no EBADENGINE)', () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string } };
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version?: string; engines?: { node?: string } | string[] }> };
  assert.ok(semver.satisfies(process.version, pkg.engines.node), `package.json engines ${pkg.engines.node} excludes ${process.version}`);
  const refused = Object.entries(lock.packages)
    .filter(([path, p]) => path !== '' && p.engines !== undefined && !Array.isArray(p.engines) && typeof p.engines.node === 'string')
    .filter(([, p]) => !semver.satisfies(process.version, (p.engines as { node: string }).node))
    .map(([path, p]) => `${path.replace(/^.*node_modules\//, '')}@${p.version} wants node ${(p.engines as { node: string }).node}`);
  assert.deepEqual(refused, [], `on ${process.version}`);
});
