// Where a CLI command works: the spec file, the `.berth/` state beside it, and a client for the
// control plane's API. Kept free of heavy imports: `berth ps --json` goes through here.
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { requestJson, type RequestOptions } from '../lib/http.js';
import { readJsonFile, readToken } from '../lib/files.js';
import { isProcessAlive } from '../lib/proc.js';
import { stateLayout, type ControlInfo } from '../lib/state-dir.js';
import { errors } from './errors.js';

export const SPEC_NAMES = ['berth.yaml', 'berth.yml', 'berth.config.ts', 'berth.config.mjs', 'berth.config.js'];

export interface Context {
  specFile: string | undefined;
  stateDir: string;
  layout: ReturnType<typeof stateLayout>;
}

/** Resolves the spec (-f or ./berth.yaml…) and its state dir. With `requireSpec`, a missing spec is a usage error. */
export function resolveContext(file: string | undefined, requireSpec: boolean): Context {
  let specFile: string | undefined;
  if (file) {
    specFile = resolve(file);
    if (!existsSync(specFile)) throw errors.usage(`spec file not found: ${file}`, 'check the path, or create one with `berth init`');
  } else {
    specFile = SPEC_NAMES.map((n) => resolve(n)).find((p) => existsSync(p));
  }
  if (!specFile && requireSpec) throw errors.noSpec(process.cwd());
  const stateDir = specFile ? join(dirname(specFile), '.berth') : resolve('.berth');
  return { specFile, stateDir, layout: stateLayout(stateDir) };
}

export interface ControlClient {
  info: ControlInfo;
  get<T>(path: string): Promise<T>;
  post<T>(path: string, body?: unknown): Promise<T>;
  opts: RequestOptions;
}

/** A client for the running control plane, or undefined when none runs (PID alone is not trusted: zombies, reuse). */
export function controlClient(ctx: Context): ControlClient | undefined {
  const info = readJsonFile<ControlInfo>(ctx.layout.controlInfo);
  const token = readToken(ctx.layout.token);
  if (!info || !token || !isProcessAlive(info.pid, info.startTime)) return undefined;
  const opts = { port: info.port, token, timeoutMs: 30_000 };
  return {
    info,
    opts,
    get: <T>(path: string) => requestJson<T>(opts, 'GET', path),
    post: <T>(path: string, body?: unknown) => requestJson<T>(opts, 'POST', path, body ?? {}),
  };
}

export function requireControl(ctx: Context): ControlClient {
  const c = controlClient(ctx);
  if (!c) throw errors.notRunning(ctx.specFile ? dirname(ctx.specFile) : process.cwd());
  return c;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
