// Bindings: input (bindings.cron) and output (bindings.http), one factory each.
import type { ComponentSpec } from '../component.js';
import { ComponentConfigError } from '../metadata.js';
import { CronBinding } from './cron.js';
import { HttpBinding } from './http.js';
import type { InputBinding, OutputBinding } from './types.js';

export * from './types.js';
export { CronBinding, HttpBinding };
export { parseSchedule, type CronSchedule } from './cron.js';

export function createInputBinding(spec: ComponentSpec): InputBinding {
  if (spec.type === 'bindings.cron') return new CronBinding(spec);
  throw new ComponentConfigError(spec.name, `unknown input binding type "${spec.type}"; known: bindings.cron`);
}

export function createOutputBinding(spec: ComponentSpec): OutputBinding {
  if (spec.type === 'bindings.http') return new HttpBinding(spec);
  throw new ComponentConfigError(spec.name, `unknown output binding type "${spec.type}"; known: bindings.http`);
}
