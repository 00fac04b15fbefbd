// `berth init [dir]`: a starter spec and a one-file service that already has probes.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { errors } from '../errors.js';

const serviceJs = `// A minimal service for Berth: listens on $HOST:$PORT, with health and readiness endpoints.
import http from 'node:http';

const host = process.env.HOST ?? '127.0.0.1';
const port = Number(process.env.PORT ?? 8080);
const server = http.createServer((req, res) => {
  if (req.url === '/healthz' || req.url === '/ready') return res.end('ok\\n');
  res.setHeader('content-type', 'text/plain');
  res.end(\`hello from \${process.env.BERTH_INSTANCE ?? 'hello'} (\${process.env.GREETING ?? 'hi'})\\n\`);
});
server.listen(port, host, () => console.log(\`listening on http://\${host}:\${port}\`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
`;

const specYaml = (app: string) => `# Berth spec: see docs/spec.md for every field.
app: ${app}
services:
  hello:
    run: node hello.mjs
    port: 8080
    replicas: 2
    env: { GREETING: hi }
    probes:
      readiness: { http: { path: /ready }, periodSeconds: 1 }
      liveness: { http: { path: /healthz }, periodSeconds: 1, failureThreshold: 3 }
`;

function appName(dir: string): string {
  const n = basename(resolve(dir)).toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^[^a-z]+/, '').replace(/-+$/, '').slice(0, 63);
  return n || 'app';
}

export async function init(dir: string, o: { force?: boolean }): Promise<void> {
  const target = resolve(dir);
  mkdirSync(target, { recursive: true });
  const files: [string, string][] = [
    ['berth.yaml', specYaml(appName(target))],
    ['hello.mjs', serviceJs],
  ];
  for (const [name] of files) {
    if (!o.force && existsSync(join(target, name))) throw errors.usage(`${join(target, name)} already exists`, 'pass --force to overwrite');
  }
  for (const [name, text] of files) writeFileSync(join(target, name), text);
  process.stdout.write(`created ${files.map(([n]) => join(dir, n)).join(' and ')}\nnext: cd ${dir} && berth up\n`);
}
