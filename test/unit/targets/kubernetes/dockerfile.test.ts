// Generated Dockerfiles, parsed with dockerfile-ast: runtime and package manager detected, deps in
// a cached layer before the sources, a build stage where a build step exists, a pinned slim base,
// a non-root user; the .dockerignore keeps .berth/, .git/, node_modules/ and .env* out.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { DockerfileParser, type Instruction } from 'dockerfile-ast';
import { DOCKERIGNORE, dockerfile, kustomizeLayout } from '../../../../src/targets/kubernetes/index.js';
import { renderAll } from './fixtures.js';
import { renderFile, tempApp } from './helpers.js';

const CASES: Record<string, { files: Record<string, string>; run: string; install?: RegExp; stages: number; base: RegExp }> = {
  'node + npm lockfile': { files: { 'package.json': '{"name":"a"}', 'package-lock.json': '{}' }, run: 'node a.js', install: /npm ci --omit=dev/, stages: 1, base: /^node:/ },
  'node + pnpm, build step': { files: { 'package.json': '{"scripts":{"build":"tsc"}}', 'pnpm-lock.yaml': '' }, run: 'node dist/a.js', install: /pnpm install --frozen-lockfile --prod/, stages: 2, base: /^node:/ },
  'node + yarn': { files: { 'package.json': '{}', 'yarn.lock': '' }, run: 'yarn start', install: /yarn install --frozen-lockfile --production/, stages: 1, base: /^node:/ },
  'python + requirements.txt': { files: { 'requirements.txt': 'flask==3.0.3\n' }, run: 'python app.py', install: /pip install --no-cache-dir -r requirements.txt/, stages: 1, base: /^python:/ },
  'python + pyproject.toml': { files: { 'pyproject.toml': '[project]\nname="a"\n' }, run: 'python -m a', install: /pip install --no-cache-dir \/wheels/, stages: 2, base: /^python:/ },
  'static binary': { files: { server: 'ELF' }, run: './server', stages: 1, base: /^debian:/ },
};

/** Checks the rules every generated Dockerfile must follow; returns the parsed instructions. */
function checkRules(text: string, label: string): Instruction[] {
  const df = DockerfileParser.parse(text);
  const ins = df.getInstructions();
  const froms = df.getFROMs();
  assert.ok(froms.length >= 1, label);
  for (const f of froms) {
    const image = f.getImage() ?? '';
    assert.match(image, /^[a-z]+:\d+\.\d+(\.\d+)?-[a-z0-9-]*slim[a-z0-9-]*$|^[a-z]+:\d+\.\d+-slim$/, `${label}: pinned slim base, got ${image}`);
  }
  const lastFrom = ins.lastIndexOf(froms[froms.length - 1]);
  const final = ins.slice(lastFrom);
  const user = final.filter((i) => i.getKeyword() === 'USER').pop();
  assert.ok(user, `${label}: the final stage sets USER`);
  const uid = user.getArgumentsContent()?.split(':')[0] ?? '';
  assert.ok(uid !== '' && uid !== '0' && uid !== 'root', `${label}: non-root USER, got ${uid}`);
  // The sources: `COPY . .` or the build stage's /app; a dependency install must come before it.
  const copyAll = final.findIndex((i) => i.getKeyword() === 'COPY' && /^COPY\s+(\.|--from=build \/app)\s/.test(i.getTextContent()));
  const installs = final.map((x, n) => [x, n] as const).filter(([x]) => x.getKeyword() === 'RUN' && /(npm ci|npm install|pnpm install|yarn install|pip install)/.test(x.getArgumentsContent() ?? ''));
  for (const [, n] of installs) assert.ok(copyAll === -1 || n < copyAll, `${label}: dependencies install before the sources are copied (a cached layer)`);
  return ins;
}

for (const [label, c] of Object.entries(CASES)) {
  test(`Dockerfile: ${label}`, async () => {
    const dir = tempApp({ 'berth.yaml': `app: x\nservices:\n  s: { run: "${c.run}" }\n`, ...c.files });
    const r = await renderFile(join(dir, 'berth.yaml'));
    const img = r.images[0];
    const text = dockerfile('x', img, '.');
    const ins = checkRules(text, label);
    const df = DockerfileParser.parse(text);
    assert.equal(df.getFROMs().length, c.stages, `${label}: stages`);
    assert.match(df.getFROMs()[0].getImage() ?? '', c.base);
    if (c.install) assert.ok(ins.some((i) => c.install!.test(i.getArgumentsContent() ?? '')), `${label}: installs with ${c.install}\n${text}`);
    if (c.stages === 2) assert.ok(ins.some((i) => i.getKeyword() === 'COPY' && /--from=build/.test(i.getTextContent())), `${label}: copies from the build stage`);
  });
}

test('every example and fixture: each Dockerfile follows the rules and a .dockerignore excludes .berth/, .git/, node_modules/ and .env*', async () => {
  for (const { label, result } of await renderAll()) {
    const layout = kustomizeLayout({ base: result, envs: {}, specDirFromOut: '.', repoPath: 'deploy' });
    for (const img of result.images) {
      if (!img.build) continue;
      checkRules(layout.files.get(`images/${img.service}/Dockerfile`) ?? '', `${label} ${img.service}`);
      assert.equal(layout.files.get(`images/${img.service}/Dockerfile.dockerignore`), DOCKERIGNORE);
    }
  }
  const lines = DOCKERIGNORE.split('\n');
  for (const p of ['.berth', '.git', 'node_modules', '.env*']) assert.ok(lines.includes(p) && lines.includes(`**/${p}`), p);
});
