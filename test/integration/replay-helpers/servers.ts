// Starts the versioned test service as child processes and makes HAR files for tests.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { HarEntry, HarViolation } from '../../../src/replay/index.js';

const here = dirname(fileURLToPath(import.meta.url));

/** Writes seen, and the arrival time (ms, monotonic) of every request since the last reset. */
export interface Stats {
  writes: number;
  arrivals: number[];
}

export interface Service {
  url: string;
  proc: ChildProcess;
  stats(): Promise<Stats>;
  reset(): Promise<void>;
  stop(): void;
}

export function startService(version: 'v1' | 'v2'): Promise<Service> {
  const proc = spawn(process.execPath, [join(here, 'versioned-server.js'), version], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('test service did not start within 10 s')), 10_000);
    proc.once('exit', (code) => reject(new Error(`test service exited ${code}`)));
    proc.stdout!.once('data', (d: Buffer) => {
      clearTimeout(timer);
      const url = `http://127.0.0.1:${d.toString().trim()}`;
      resolve({
        url,
        proc,
        stats: async () => (await fetch(`${url}/__stats`)).json() as Promise<Stats>,
        reset: async () => void (await fetch(`${url}/__reset`)).arrayBuffer(),
        stop: () => proc.kill('SIGTERM'),
      });
    });
  });
}

/** Debian's chromium: required under CI (.ci/run installs it), optional elsewhere. */
/**
 * Playwright writes -1 for a timing it did not measure (`receive` of a response whose body it never
 * read, microsoft/playwright#19327) where HAR 1.2 asks for a non-negative number: the validator
 * reports it, readHar takes it. Any other violation in a browser's HAR is a real one.
 */
export function isBrowserTimingQuirk(v: HarViolation): boolean {
  return /\.timings\.(send|wait|receive)$/.test(v.path) && v.message === 'must be >= 0, got -1';
}

export function chromiumPath(): string | undefined {
  const p = '/usr/bin/chromium';
  if (existsSync(p)) return p;
  if (process.env.CI === 'true') throw new Error('/usr/bin/chromium is missing: .ci/run installs Debian\'s chromium package');
  return undefined;
}

/** What a test does in the page while the HAR records (default: wait for the page's script to set its title to `done`). */
export type PageActions = (page: import('playwright-core').Page) => Promise<void>;

/** Records a HAR of `url` and what `act` does there, with Playwright and headless Chromium. */
export async function browserHar(url: string, path: string, act?: PageActions): Promise<void> {
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: chromiumPath(), args: ['--no-sandbox'] });
  try {
    const ctx = await browser.newContext({ recordHar: { path, content: 'embed' } });
    const page = await ctx.newPage();
    await page.goto(url);
    if (act) await act(page);
    else await page.waitForFunction('document.title === "done"', undefined, { timeout: 30_000 });
    await ctx.close(); // writes the HAR
  } finally {
    await browser.close();
  }
}

/** A synthetic HAR of `n` GETs `gapMs` apart, answered as `answer(i)`. */
export function syntheticHar(n: number, gapMs: number, path: (i: number) => string, answer: (i: number) => unknown) {
  const t0 = Date.UTC(2026, 0, 1);
  const entries: HarEntry[] = Array.from({ length: n }, (_, i) => ({
    startedDateTime: new Date(t0 + i * gapMs).toISOString(),
    time: 1,
    request: { method: 'GET', url: `http://recorded.example${path(i)}`, httpVersion: 'HTTP/1.1', cookies: [], headers: [], queryString: [], headersSize: -1, bodySize: 0 },
    response: {
      status: 200,
      statusText: 'OK',
      httpVersion: 'HTTP/1.1',
      cookies: [],
      headers: [{ name: 'content-type', value: 'application/json' }],
      content: { size: -1, mimeType: 'application/json', text: JSON.stringify(answer(i)) },
      redirectURL: '',
      headersSize: -1,
      bodySize: -1,
    },
    cache: {},
    timings: { send: 0, wait: 1, receive: 0 },
  }));
  return { log: { version: '1.2', creator: { name: 'test', version: '1' }, entries } };
}
