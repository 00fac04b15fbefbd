// Bundles the dashboard (web/) into dist/web/ with esbuild: one minified ES module (Preact, htm,
// uPlot and the views) and one stylesheet, served by the control plane. No CDN at run time.
// Run by `npm run build` after tsc; prints the gzipped size of what a first load transfers.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist', 'web');
rmSync(join(out, 'assets'), { recursive: true, force: true }); // no stale chunks of an earlier build
mkdirSync(join(out, 'assets'), { recursive: true });
await build({
  entryPoints: { app: join(root, 'web', 'src', 'main.js') },
  outdir: join(out, 'assets'),
  bundle: true,
  format: 'esm',
  splitting: true, // views' heavy libraries (uPlot) in chunks loaded with their view
  chunkNames: 'chunk-[hash]',
  minify: true,
  target: ['chrome100', 'firefox100', 'safari15'],
  legalComments: 'none',
  logLevel: 'warning',
});
copyFileSync(join(root, 'web', 'index.html'), join(out, 'index.html'));
const gz = (f) => gzipSync(readFileSync(join(out, f)), { level: 9 }).length;
const total = ['index.html', 'assets/app.js', 'assets/app.css'].reduce((n, f) => n + gz(f), 0);
if (process.argv.includes('--verbose')) console.log(`dashboard: dist/web, first load ${(total / 1024).toFixed(1)} KiB gzipped`);
