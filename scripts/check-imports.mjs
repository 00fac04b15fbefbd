// Keeps DESIGN.md's "may import" table true: every relative import in src/ that crosses into
// another top-level folder must be allowed by the table and must go through that folder's index
// (src/lib holds shared libraries and may be imported file by file). Type-only imports count too.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';

const allowed = {
  contract: [],
  plan: ['contract', 'lib'],
  control: ['contract', 'plan', 'lib'],
  node: ['lib'],
  lib: [],
  sidecar: ['lib', 'components'],
  components: ['lib'],
  replay: ['lib'],
  targets: ['contract', 'plan', 'lib'],
  cli: ['contract', 'plan', 'control', 'node', 'lib', 'sidecar', 'components', 'replay', 'targets'],
};

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
  const fromFolder = from[0];
  const text = readFileSync(file, 'utf8');
  const re = /(?:import|export)\s[^'"]*?from\s+['"](\.[^'"]+)['"]|import\(\s*['"](\.[^'"]+)['"]\s*\)/g;
  for (const m of text.matchAll(re)) {
    const spec = m[1] ?? m[2];
    const target = relative(src, resolve(dirname(file), spec)).split(sep);
    const toFolder = target[0];
    if (toFolder === fromFolder) continue;
    if (!(fromFolder in allowed)) continue;
    if (!allowed[fromFolder].includes(toFolder)) {
      problems.push(`${relative('.', file)}: src/${fromFolder} may not import src/${toFolder} (${spec})`);
      continue;
    }
    if (toFolder !== 'lib' && !(target.length === 2 && target[1] === 'index.js')) {
      problems.push(`${relative('.', file)}: import src/${toFolder} through its index.ts, not ${spec}`);
    }
  }
}
if (problems.length) {
  console.error(`import rules (DESIGN.md "may import") broken:\n${problems.join('\n')}`);
  process.exit(1);
}
console.log('import rules: ok');
