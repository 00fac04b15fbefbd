// `berth init [dir] [--template T]`: a starter spec and its code, ready for `berth up --watch`:
// node-http (default), node-worker, two-services (a web front calling an api) or python-http. The
// ports are ones free on this machine (from 8080 up), so the first `berth up` does not collide.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { basename, join, resolve } from 'node:path';
import { errors } from '../errors.js';

export const TEMPLATES = ['node-http', 'node-worker', 'two-services', 'python-http'] as const;
type Template = (typeof TEMPLATES)[number];

const nodeHttp = (what: string) => `// A minimal HTTP service for Berth: listens on $HOST:$PORT, with health and readiness endpoints.
import http from 'node:http';

const host = process.env.HOST ?? '127.0.0.1';
const port = Number(process.env.PORT ?? 8080);
const server = http.createServer((req, res) => {
  if (req.url === '/healthz' || req.url === '/ready') return res.end('ok\\n');
  res.setHeader('content-type', 'text/plain');
  res.end(\`${what} from \${process.env.BERTH_INSTANCE ?? 'here'} (\${process.env.GREETING ?? 'hi'})\\n\`);
});
server.listen(port, host, () => console.log(\`listening on http://\${host}:\${port}\`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
`;

const nodeWorker = `// A background worker for Berth: no port; does a unit of work every few seconds and stops cleanly.
let n = 0;
const timer = setInterval(() => console.log(\`worker \${process.env.BERTH_INSTANCE ?? ''}: job \${++n} done\`), Number(process.env.INTERVAL_MS ?? 2000));
process.on('SIGTERM', () => {
  clearInterval(timer);
  console.log('finishing and stopping');
  process.exit(0);
});
`;

const webFront = `// The front: answers on $PORT and calls the api service at $BERTH_API_URL (set because it \`uses: [api]\`).
import http from 'node:http';

const server = http.createServer(async (req, res) => {
  if (req.url === '/ready') return res.end('ok\\n');
  try {
    const answer = await fetch(\`\${process.env.BERTH_API_URL}/\`).then((r) => r.text());
    res.end(\`web says: the api answered "\${answer.trim()}"\\n\`);
  } catch (err) {
    res.statusCode = 502;
    res.end(\`the api did not answer: \${err.message}\\n\`);
  }
});
server.listen(Number(process.env.PORT ?? 8080), process.env.HOST ?? '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
`;

const pythonHttp = `"""A minimal HTTP service for Berth: listens on $HOST:$PORT, with a readiness endpoint."""
import os
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"ok\\n" if self.path in ("/ready", "/healthz") else f"hello from {os.environ.get('BERTH_INSTANCE', 'python')}\\n".encode()
        self.send_response(200)
        self.send_header("content-type", "text/plain")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        print(fmt % args, flush=True)


server = ThreadingHTTPServer((os.environ.get("HOST", "127.0.0.1"), int(os.environ.get("PORT", "8080"))), Handler)
signal.signal(signal.SIGTERM, lambda *_: (server.server_close(), sys.exit(0)))
print(f"listening on http://{server.server_address[0]}:{server.server_address[1]}", flush=True)
server.serve_forever()
`;

const header = (app: string, template: Template) => `# Berth spec (template ${template}): see docs/spec.md for every field.
# \`berth up --watch\` reloads a service when you save one of its files (its \`watch:\`).
app: ${app}
services:
`;

function spec(app: string, template: Template, ports: number[]): string {
  const probes = `    probes:
      readiness: { http: { path: /ready }, periodSeconds: 1 }
`;
  switch (template) {
    case 'node-http':
      return `${header(app, template)}  hello:
    run: node hello.mjs
    port: ${ports[0]}
    replicas: 2
    env: { GREETING: hi }
${probes}      liveness: { http: { path: /healthz }, periodSeconds: 1, failureThreshold: 3 }
    watch: { paths: [hello.mjs] }
`;
    case 'node-worker':
      return `${header(app, template)}  worker:
    run: node worker.mjs
    env: { INTERVAL_MS: "2000" }
    probes: { readiness: none }
    watch: { paths: [worker.mjs] }
`;
    case 'two-services':
      return `${header(app, template)}  web:
    run: node web.mjs
    cwd: web
    port: ${ports[0]}
    uses: [api]
    dependsOn: { api: ready }
${probes}    watch: {}
  api:
    run: node api.mjs
    cwd: api
    port: ${ports[1]}
    replicas: 2
    env: { GREETING: hello }
${probes}    watch: {}
`;
    case 'python-http':
      return `${header(app, template)}  hello:
    run: python3 -u app.py
    port: ${ports[0]}
${probes}    watch: { paths: [app.py] }
`;
  }
}

function files(template: Template): [string, string][] {
  switch (template) {
    case 'node-http':
      return [['hello.mjs', nodeHttp('hello')]];
    case 'node-worker':
      return [['worker.mjs', nodeWorker]];
    case 'two-services':
      return [
        ['web/web.mjs', webFront],
        ['api/api.mjs', nodeHttp('api')],
      ];
    case 'python-http':
      return [['app.py', pythonHttp]];
  }
}

const PORTS_NEEDED: Record<Template, number> = { 'node-http': 1, 'node-worker': 0, 'two-services': 2, 'python-http': 1 };

/** True when nothing listens on 127.0.0.1:port (binding it is the only honest test). */
function portFree(port: number): Promise<boolean> {
  return new Promise((res) => {
    const s = createServer();
    s.once('error', () => res(false));
    s.listen({ port, host: '127.0.0.1', exclusive: true }, () => s.close(() => res(true)));
  });
}

/** `n` ports free now, from 8080 up. */
async function freePorts(n: number): Promise<number[]> {
  const out: number[] = [];
  for (let p = 8080; out.length < n && p < 65535; p++) if (await portFree(p)) out.push(p);
  return out;
}

function appName(dir: string): string {
  const n = basename(resolve(dir)).toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^[^a-z]+/, '').replace(/-+$/, '').slice(0, 63);
  return n || 'app';
}

export async function init(dir: string, o: { force?: boolean; template?: string; json?: boolean }): Promise<void> {
  const template = (o.template ?? 'node-http') as Template;
  if (!TEMPLATES.includes(template)) throw errors.usage(`unknown template "${o.template}"`, `templates: ${TEMPLATES.join(', ')}`);
  const target = resolve(dir);
  const ports = await freePorts(PORTS_NEEDED[template]);
  const all: [string, string][] = [['berth.yaml', spec(appName(target), template, ports)], ...files(template)];
  if (!existsSync(join(target, '.gitignore'))) all.push(['.gitignore', '.berth/\nnode_modules/\n']);
  for (const [name] of all) if (!o.force && name !== '.gitignore' && existsSync(join(target, name))) throw errors.usage(`${join(target, name)} already exists`, 'pass --force to overwrite');
  for (const [name, text] of all) {
    mkdirSync(join(target, name, '..'), { recursive: true });
    writeFileSync(join(target, name), text);
  }
  if (o.json) {
    process.stdout.write(JSON.stringify({ dir: target, template, ports, files: all.map(([n]) => n) }) + '\n');
    return;
  }
  process.stdout.write(`created ${all.map(([n]) => join(dir, n)).join(', ')} (template ${template}${ports.length ? `, port${ports.length > 1 ? 's' : ''} ${ports.join(', ')}` : ''})\nnext: cd ${dir} && berth up --watch\n`);
}
