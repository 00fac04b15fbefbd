// The developer loop's figures (issue 19 point 10), one JSON line:
//   saveToServingMs    a Node service under `berth up --watch` (1 replica, default readiness: TCP):
//                      writeFile of its source → the first answer of the new code at the service
//                      address (polled every 10 ms). Median and max of `runs`. Goal ≤ 1500 ms
//                      (Tilt's live_update is the anchor).
//   lsMs / psMs        `berth ls --json` and `berth ps --json` run from a folder outside any app, the
//                      app found through the machine's registry. Median of `runs`. Goal ≤ 150 ms.
//   versionMs / nodeMs the floor: `berth --version` and `node -e 0` on the same machine at that time.
//   loadavg            the 1-minute load average when the bench ran (other engineers share the machine).
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { berth, berthBin, httpRequest, portBlock, spawnBerth, tempApp, waitFor } from '../test/integration/harness/berth.js';

const RUNS = Number(process.env.RUNS ?? 5);
const appJs = (v: number) => `import http from 'node:http';
const server = http.createServer((q, s) => s.end('v${v}'));
server.listen(Number(process.env.PORT), process.env.HOST);
process.on('SIGTERM', () => server.close(() => process.exit(0)));
`;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function wall(cwd: string, args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const t = performance.now();
    const child = spawn(process.execPath, args, { cwd, stdio: 'ignore', env: { ...process.env, NO_COLOR: '1' } });
    child.on('exit', (code) => (code === 0 ? resolve(performance.now() - t) : reject(new Error(`${args.join(' ')} exited ${code}`))));
  });
}

async function timed(cwd: string, args: string[]): Promise<number> {
  const xs: number[] = [];
  await wall(cwd, args); // warm the file cache
  for (let i = 0; i < RUNS * 2; i++) xs.push(await wall(cwd, args));
  return Math.round(median(xs));
}

async function main(): Promise<void> {
  const port = portBlock();
  const dir = tempApp({ 'app.mjs': appJs(0), 'berth.yaml': `app: bench-devloop\nservices:\n  api:\n    run: node app.mjs\n    port: ${port}\n    stopGracePeriodSeconds: 2\n    watch: { paths: [app.mjs] }\n` });
  const up = spawnBerth(dir, ['up', '--watch']);
  let out = '';
  up.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  try {
    await waitFor('the app serving', async () => (await httpRequest(`http://127.0.0.1:${port}/`)).body === 'v0', 60_000, 50);
    await waitFor('watching', () => /watching api/.test(out), 10_000);
    const saves: number[] = [];
    for (let v = 1; v <= RUNS; v++) {
      const t = performance.now();
      writeFileSync(join(dir, 'app.mjs'), appJs(v));
      await waitFor(`v${v} serving`, async () => (await httpRequest(`http://127.0.0.1:${port}/`, 'GET', 2000)).body === `v${v}`, 30_000, 10);
      saves.push(performance.now() - t);
      await waitFor('the rollout finished', () => (out.match(/serving, [\d.]+ s after the save/g) ?? []).length >= v, 30_000, 20);
    }
    const elsewhere = mkdtempSync(join(tmpdir(), 'berth-bench-elsewhere-'));
    const result = {
      bench: 'devloop',
      date: new Date().toISOString(),
      runs: RUNS,
      saveToServingMs: { median: Math.round(median(saves)), max: Math.round(Math.max(...saves)), all: saves.map(Math.round), goal: 1500 },
      lsMs: { median: await timed(elsewhere, [berthBin, 'ls', '--json']), goal: 150 },
      psMs: { median: await timed(elsewhere, [berthBin, 'ps', '--json', '--app', 'bench-devloop']), goal: 150 },
      versionMs: await timed(elsewhere, [berthBin, '--version']),
      nodeMs: await timed(elsewhere, ['-e', '0']),
      loadavg: Number(loadavg()[0].toFixed(2)),
      cpus: (await import('node:os')).cpus().length,
    };
    process.stdout.write(JSON.stringify(result) + '\n');
  } finally {
    up.kill('SIGINT');
    await new Promise((r) => up.on('exit', r));
    await berth(dir, ['down']);
  }
}

await main();
