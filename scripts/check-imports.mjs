// Keeps DESIGN.md's "may import" table true: every relative import in src/ that crosses into
// another top-level folder must be allowed by the table and must go through that folder's index
// (src/lib holds shared libraries and may be imported file by file). Type-only imports count too.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';

const allowed = {
  contract: ['lib'], // only lib/bounds.ts: the table of bounds the runtime shares
  plan: ['contract', 'lib'],
  control: ['contract', 'plan', 'lib', 'replay'], // replay: the release gate replays recorded traffic
  node: ['lib'],
  lib: [],
  'sidecar/proxy': ['lib', 'components', 'replay'], // replay: recording writes HAR, shadow traffic is diffed
  'sidecar/logs': ['lib'],
  components: ['lib'],
  replay: ['lib'],
  'targets/kubernetes': ['contract', 'plan', 'lib'],
  cli: ['contract', 'plan', 'control', 'node', 'lib', 'sidecar/proxy', 'sidecar/logs', 'components', 'replay', 'targets/kubernetes'],
};

// Imports that may name a file instead of the folder's index.ts: src/lib is a set of libraries, and
// berth-proxy's building-block API (src/sidecar/proxy/dapr) imports each backend of src/components
// only when a component of that type opens — components' index loads every backend and its client
// library (pg, ioredis, amqplib, nats) at once, which a proxy serving one sqlite store must not pay.
const FILE_BY_FILE = { lib: () => true, components: (fromFile) => fromFile.startsWith(`sidecar${sep}proxy${sep}dapr${sep}`) };

// Rooms nested one level down (src/sidecar/proxy, src/targets/kubernetes) are rooms of their own.
const NESTED = new Set(['sidecar', 'targets']);
const roomOf = (segments) => (NESTED.has(segments[0]) && segments.length > 2 ? `${segments[0]}/${segments[1]}` : segments[0]);

function walk(dir) {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? walk(p) : p.endsWith('.ts') ? [p] : [];
  });
}

const src = resolve('src');
const problems = [];
for (const file of walk(src)) {
  const from = relative(src, file).split(sep);
  if (from.length < 2) continue; // src/index.ts: the package's public surface
  const fromFolder = roomOf(from);
  const text = readFileSync(file, 'utf8');
  const re = /(?:import|export)\s[^'"]*?from\s+['"](\.[^'"]+)['"]|import\(\s*['"](\.[^'"]+)['"]\s*\)/g;
  for (const m of text.matchAll(re)) {
    const spec = m[1] ?? m[2];
    const target = relative(src, resolve(dirname(file), spec)).split(sep);
    const toFolder = roomOf(target);
    const depth = toFolder.split('/').length;
    if (toFolder === fromFolder) continue;
    if (!(fromFolder in allowed)) continue;
    if (!allowed[fromFolder].includes(toFolder)) {
      problems.push(`${relative('.', file)}: src/${fromFolder} may not import src/${toFolder} (${spec})`);
      continue;
    }
    if (!FILE_BY_FILE[toFolder]?.(relative(src, file)) && !(target.length === depth + 1 && target[depth] === 'index.js')) {
      problems.push(`${relative('.', file)}: import src/${toFolder} through its index.ts, not ${spec}`);
    }
  }
}
if (problems.length) {
  console.error(`import rules (DESIGN.md "may import") broken:\n${problems.join('\n')}`);
  process.exit(1);
}
console.log('import rules: ok');
