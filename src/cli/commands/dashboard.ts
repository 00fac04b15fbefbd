// `berth dashboard`: prints the dashboard's URL with its login token (as Jupyter does) and opens it in a
// browser when one is available ($BROWSER, else xdg-open with a display); `--no-open` only prints.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { readToken } from '../../lib/files.js';
import { requireControl, resolveContext } from '../context.js';
import { errors } from '../errors.js';
import { bold, dim } from '../output.js';

interface DashboardOptions {
  file?: string;
  open?: boolean;
  json?: boolean;
}

function onPath(cmd: string): boolean {
  return (process.env.PATH ?? '').split(delimiter).some((d) => d && existsSync(join(d, cmd)));
}

/** The command that opens a URL here, or undefined (no $BROWSER, no display or no xdg-open). */
export function browserCommand(env: NodeJS.ProcessEnv = process.env): string[] | undefined {
  if (env.BROWSER) return env.BROWSER.split(/\s+/).filter(Boolean);
  if (process.platform === 'darwin') return ['open'];
  if ((env.DISPLAY || env.WAYLAND_DISPLAY) && onPath('xdg-open')) return ['xdg-open'];
  return undefined;
}

export async function dashboard(o: DashboardOptions): Promise<void> {
  const ctx = resolveContext(o.file, false);
  const c = requireControl(ctx);
  await c.get('/api/v1/healthz');
  const token = readToken(ctx.layout.dashboardToken);
  if (!token) throw errors.failed(`no dashboard token in ${ctx.layout.dashboardToken}`, 'the running control plane predates the dashboard: restart it with `berth down` and `berth up`');
  const base = `http://127.0.0.1:${c.info.port}/`;
  const url = `${base}?token=${token}`;
  const opener = o.open === false ? undefined : browserCommand();
  let opened = false;
  if (opener) {
    try {
      const child = spawn(opener[0], [...opener.slice(1), url], { detached: true, stdio: 'ignore' });
      child.on('error', () => {
        // no such browser command: the URL is printed anyway
      });
      child.unref();
      opened = true;
    } catch {
      opened = false; // the URL is printed anyway
    }
  }
  if (o.json) {
    process.stdout.write(JSON.stringify({ url, base, port: c.info.port, opened }) + '\n');
    return;
  }
  process.stdout.write(`${bold('dashboard')} ${url}\n`);
  process.stdout.write(dim(opened ? `opened with ${opener![0]}; the token logs the browser in once (a cookie), then the page is ${base}\n` : `open it in a browser on this machine (the token logs it in once; then the page is ${base})\n`));
}
