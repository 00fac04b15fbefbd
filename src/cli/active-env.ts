// The app's active environment (issue 19 point 4): the overlay its running state was applied with,
// kept by the control plane in the desired state (and .berth/last-applied.json, which it writes on
// every apply). `berth up`/`apply` without --env keep it; `--env NAME` switches; `--env default`
// goes back to the base spec. Whenever the result differs from what the command line says, it is
// said on stderr (stdout stays clean for --json).
import { readJsonFile } from '../lib/files.js';
import type { LastApplied } from '../lib/state-dir.js';
import type { Context } from './context.js';
import { dim } from './output.js';

/** `--env default`: the base spec, whatever was active. */
export const DEFAULT_ENV = 'default';

/** The environment the app's state was last applied with (undefined: the base spec, or never applied). */
export function activeEnv(ctx: Context): string | undefined {
  const last = readJsonFile<LastApplied<{ env?: string }>>(ctx.layout.lastApplied);
  return typeof last?.desired?.env === 'string' ? last.desired.env : undefined;
}

export interface EnvChoice {
  /** The overlay to apply (undefined: the base spec). */
  env: string | undefined;
  /** What was active before. */
  previous: string | undefined;
  /** A line for the user when the result is not simply what the command line says, else undefined. */
  note: string | undefined;
}

const label = (env: string | undefined) => env ?? DEFAULT_ENV;

/** The environment a `berth up`/`apply`/`diff` works with, from `--env` and the active one. */
export function chooseEnv(ctx: Context, requested: string | undefined): EnvChoice {
  const previous = activeEnv(ctx);
  if (requested === undefined) {
    const note = previous !== undefined ? `environment ${previous} (the app's active environment, kept; \`--env default\` goes back to the base spec)` : undefined;
    return { env: previous, previous, note };
  }
  const env = requested === DEFAULT_ENV ? undefined : requested;
  const note = previous !== env && (previous !== undefined || env !== undefined) ? `environment ${label(previous)} → ${label(env)}` : undefined;
  return { env, previous, note };
}

export function printEnvNote(choice: EnvChoice, quiet = false): void {
  if (choice.note && !quiet) process.stderr.write(`${dim(choice.note, process.stderr)}\n`);
}
