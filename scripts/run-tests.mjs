// Runs the compiled tests with node's test runner. Usage: run-tests.mjs [unit|integration|<substring>...]
// Each test file runs in its own `node --test` process (as `node --test a b c` does), at most
// BERTH_TEST_CONCURRENCY (2) at once, the slowest files first: with a few files taking minutes
// (50 instances, a log flood), starting them last left the suite waiting on one of them alone.
// scripts/test-durations.json holds each file's last measured seconds; BERTH_TEST_DURATIONS_OUT
// names a file to write this run's durations to (to refresh it). A file's output is printed whole
// when it ends, so two files' lines never interleave; the totals are summed at the end.
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';

function walk(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out;
}

const filters = process.argv.slice(2);
const files = walk('dist/test').filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)));
if (files.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
let known = {};
try {
  known = JSON.parse(readFileSync(new URL('./test-durations.json', import.meta.url), 'utf8'));
} catch {
  // no durations yet: every file counts as unknown
}
/** Files not measured yet go first among the rest: a new file may well be slow. */
const UNKNOWN_SECONDS = 60;
const expected = (f) => known[f] ?? UNKNOWN_SECONDS;
files.sort((a, b) => expected(b) - expected(a) || a.localeCompare(b));

const concurrency = Math.max(1, Number(process.env.BERTH_TEST_CONCURRENCY ?? '2') || 2);
const totals = { tests: 0, suites: 0, pass: 0, fail: 0, cancelled: 0, skipped: 0, todo: 0 };
const failedFiles = [];
/** Why each failed file failed, repeated at the end: CI keeps only the tail of a long log. */
const digests = [];
const durations = {};
const started = performance.now();

function runFile(file) {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const chunks = [];
    const child = spawn(process.execPath, ['--test', '--test-reporter=tap', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (c) => chunks.push(c));
    child.stderr.on('data', (c) => chunks.push(c));
    child.on('close', (code, signal) => {
      const seconds = (performance.now() - t0) / 1000;
      durations[file] = Math.round(seconds);
      const text = Buffer.concat(chunks).toString('utf8');
      for (const [, key, n] of text.matchAll(/^# (tests|suites|pass|fail|cancelled|skipped|todo) (\d+)$/gm)) totals[key] += Number(n);
      const ok = code === 0;
      if (!ok) {
        failedFiles.push(`${file} (exit ${code ?? signal})`);
        digests.push(`# ---- ${file}\n${failureDigest(text)}`);
      }
      process.stdout.write(`# ---- ${file}: ${ok ? 'ok' : 'FAILED'} in ${seconds.toFixed(1)} s\n${text}`);
      resolve();
    });
  });
}

/**
 * The failing tests' own blocks (name, location, error; no stack, no suites that failed only
 * because a subtest did), or the output's last lines when none (a crash before TAP's verdict).
 */
function failureDigest(text) {
  const lines = text.split('\n');
  const out = [];
  for (let i = 0; i < lines.length; i++) {
    if (!/^\s*not ok \d+ - /.test(lines[i])) continue;
    const block = [lines[i]];
    for (let j = i + 1; j < lines.length && !/^\s*\.\.\.$/.test(lines[j]); j++) {
      if (/^\s*stack: /.test(lines[j])) break;
      block.push(lines[j]);
    }
    if (block.some((l) => /failureType: 'subtestsFailed'/.test(l))) continue;
    out.push(...block.slice(0, 40));
  }
  return (out.length ? out : lines.slice(-40)).join('\n');
}

const queue = [...files];
await Promise.all(
  Array.from({ length: Math.min(concurrency, queue.length) }, async () => {
    for (let f = queue.shift(); f !== undefined; f = queue.shift()) await runFile(f);
  }),
);

const wall = (performance.now() - started) / 1000;
const slowest = Object.entries(durations).sort((a, b) => b[1] - a[1]).slice(0, 8);
process.stdout.write(`# ==== ${files.length} files in ${wall.toFixed(0)} s (concurrency ${concurrency}); slowest: ${slowest.map(([f, s]) => `${f.replace(/^dist\/test\//, '')} ${s} s`).join(', ')}\n`);
for (const [key, n] of Object.entries(totals)) process.stdout.write(`# ${key} ${n}\n`);
if (digests.length) process.stdout.write(`# ==== why they failed (repeated from above)\n${digests.join('\n')}\n`);
if (failedFiles.length) process.stdout.write(`# failed files:\n${failedFiles.map((f) => `#   ${f}\n`).join('')}`);
if (process.env.BERTH_TEST_DURATIONS_OUT) writeFileSync(process.env.BERTH_TEST_DURATIONS_OUT, JSON.stringify({ ...known, ...durations }, Object.keys({ ...known, ...durations }).sort(), 1) + '\n');
process.exit(failedFiles.length ? 1 : 0);
