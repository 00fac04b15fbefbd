// Coverage: every spec field a user sets must either be rendered by some renderer or produce a
// "not rendered yet" warning — never be dropped in silence. Fields are compared with the keys the
// renderers declare they handle; a field left at its schema default counts as not set.
import { isDeepStrictEqual } from 'node:util';
import { AppSchema, ServiceSchema, type AppSpec } from '../../contract/index.js';
import type { RenderWarning } from './types.js';

/** App-level fields the target reads itself (`kubernetes:` holds render options, `secrets:` renders with the workloads). */
export const HANDLED_APP_KEYS: ReadonlySet<string> = new Set(['app', 'services', 'environments', 'kubernetes', 'secrets']);

function defaultsOf(parse: () => unknown): Record<string, unknown> {
  try {
    const v = parse();
    return v && typeof v === 'object' ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

let serviceDefaultsCache: Record<string, unknown> | undefined;
const serviceDefaults = () => (serviceDefaultsCache ??= defaultsOf(() => ServiceSchema.parse({ run: 'x' })));

/**
 * The service's fields that differ from their schema defaults. Revisions hash this, so a field
 * another part of Berth adds to the schema (with a default) does not change every revision.
 */
export function explicitServiceFields(svc: object): Record<string, unknown> {
  const defaults = serviceDefaults();
  return Object.fromEntries(Object.entries(svc).filter(([k, v]) => v !== undefined && !(k in defaults && isDeepStrictEqual(v, defaults[k]))));
}

const NOT_RENDERED = 'not rendered yet for Kubernetes (no renderer handles this field): the cluster will not have it';

/** Warnings for every field that is set in the spec and that no renderer handles. */
export function coverageWarnings(
  spec: AppSpec,
  handledServiceKeys: ReadonlySet<string>,
  appNotes: Record<string, string> = {},
  handledAppKeys: ReadonlySet<string> = new Set(),
): RenderWarning[] {
  const warnings: RenderWarning[] = [];
  const appDefaults = defaultsOf(() => AppSchema.parse({ app: 'x', services: { x: { run: 'x' } } }));
  const isSet = (value: unknown, defaults: Record<string, unknown>, key: string) =>
    value !== undefined && !(key in defaults && isDeepStrictEqual(value, defaults[key]));

  for (const [key, value] of Object.entries(spec as unknown as Record<string, unknown>)) {
    if (HANDLED_APP_KEYS.has(key) || handledAppKeys.has(key) || !isSet(value, appDefaults, key)) continue;
    warnings.push({ path: key, message: appNotes[key] ?? NOT_RENDERED });
  }
  for (const [name, svc] of Object.entries(spec.services)) {
    for (const [key, value] of Object.entries(svc as unknown as Record<string, unknown>)) {
      if (handledServiceKeys.has(key) || !isSet(value, serviceDefaults(), key)) continue;
      warnings.push({ path: `services.${name}.${key}`, message: NOT_RENDERED });
    }
  }
  return warnings;
}
