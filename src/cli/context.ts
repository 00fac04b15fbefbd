// Where a CLI command works: the spec file, the `.berth/` state beside it, and a client for the
// control plane's API. Kept free of heavy imports: `berth ps --json` goes through here.
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { requestJson, type RequestOptions } from '../lib/http.js';
import { readToken } from '../lib/files.js';
import { stateLayout, type ControlInfo } from '../lib/state-dir.js';
import { describeApp, knownApps, liveControlInfo, type KnownApp } from './apps.js';
import { errors } from './errors.js';

export const SPEC_NAMES = ['berth.yaml', 'berth.yml', 'berth.config.ts', 'berth.config.mjs', 'berth.config.js'];

export interface Context {
  specFile: string | undefined;
  stateDir: string;
  layout: ReturnType<typeof stateLayout>;
}

/** The global `--app NAME` (set by main.ts before a command runs): the app to work on, from any directory. */
let selectedApp: string | undefined;
export function selectApp(name: string | undefined): void {
  selectedApp = name;
}

/** The spec in `dir` or the nearest folder above it, as `docker compose` finds its file. */
function findSpecUpward(dir: string): string | undefined {
  for (let d = resolve(dir); ; d = dirname(d)) {
    const found = SPEC_NAMES.map((n) => join(d, n)).find((p) => existsSync(p));
    if (found || dirname(d) === d) return found;
  }
}

/** The app `--app NAME` names: one holding an address block on this machine (a running one wins over a stopped namesake). */
function appNamed(name: string): KnownApp {
  const apps = knownApps();
  let matches = apps.filter((a) => a.name === name);
  if (matches.length > 1 && matches.some((a) => a.control)) matches = matches.filter((a) => a.control);
  if (matches.length === 1) return matches[0];
  if (matches.length === 0) {
    const names = apps.filter((a) => a.name).map((a) => a.name).join(', ');
    throw errors.usage(`no Berth app named "${name}" on this machine`, names ? `apps here: ${names} (see \`berth ls\`)` : 'start one with `berth up` in its folder');
  }
  throw errors.usage(`${matches.length} apps are named "${name}": ${matches.map(describeApp).join(', ')}`, 'pick one with -f SPEC instead');
}

function appContext(app: KnownApp, requireSpec: boolean): Context {
  const specFile = app.spec && existsSync(app.spec) ? app.spec : undefined;
  if (!specFile && requireSpec) throw errors.usage(`the spec of app "${app.name ?? ''}" is gone (${app.spec ?? 'never applied'})`, 'pass -f SPEC');
  return { specFile, stateDir: app.stateDir, layout: stateLayout(app.stateDir) };
}

/**
 * Resolves the spec (-f, --app NAME, or berth.yaml… in this folder or the nearest one above) and its
 * state dir. With `requireSpec`, a missing spec is a usage error.
 */
export function resolveContext(file: string | undefined, requireSpec: boolean): Context {
  if (file && selectedApp) throw errors.usage('give -f/--file or --app, not both');
  if (selectedApp) return appContext(appNamed(selectedApp), requireSpec);
  let specFile: string | undefined;
  if (file) {
    specFile = resolve(file);
    if (!existsSync(specFile)) throw errors.usage(`spec file not found: ${file}`, 'check the path, or create one with `berth init`');
  } else {
    specFile = findSpecUpward(process.cwd());
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
  const info = liveControlInfo(ctx.stateDir);
  const token = readToken(ctx.layout.token);
  if (!info || !token) return undefined;
  const opts = { port: info.port, token, timeoutMs: 30_000 };
  return {
    info,
    opts,
    get: <T>(path: string) => requestJson<T>(opts, 'GET', path),
    post: <T>(path: string, body?: unknown) => requestJson<T>(opts, 'POST', path, body ?? {}),
  };
}

/**
 * The control plane of the context's app. Outside any app's folder (no spec found, no --app), the one
 * app running on this machine; with several, a usage error naming them (exit 2).
 */
export function requireControl(ctx: Context): ControlClient {
  return requireRunningApp(ctx).client;
}

/** As requireControl, with the context of the app it found (its state dir: logs, files). */
export function requireRunningApp(ctx: Context): { ctx: Context; client: ControlClient } {
  const c = controlClient(ctx);
  if (c) return { ctx, client: c };
  if (!ctx.specFile && !selectedApp) {
    const running = knownApps().filter((a) => a.control);
    if (running.length === 1) {
      const onlyCtx = appContext(running[0], false);
      const only = controlClient(onlyCtx);
      if (only) return { ctx: onlyCtx, client: only };
    }
    if (running.length > 1) throw errors.usage(`no berth.yaml here or above, and ${running.length} apps are running: ${running.map(describeApp).join(', ')}`, 'pick one with --app NAME');
  }
  throw errors.notRunning(ctx.specFile ? dirname(ctx.specFile) : process.cwd());
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
