// Reading a component's string metadata the way Dapr does: names are matched case-insensitively,
// booleans accept "true"/"1"/"yes", durations accept Go strings ("15s", "1m30s", "500ms") or a
// plain number of milliseconds. A bad value is an error naming the component and the field.
import type { ComponentSpec } from './component.js';

/** A component's metadata is wrong (missing required value, bad number): the component fails to initialise. One class for every kind. */
export class ComponentConfigError extends Error {
  readonly code = 'COMPONENT_CONFIG';
  /** `(message)`, or `(component, message)` to name the component first. */
  constructor(componentOrMessage: string, message?: string) {
    super(message === undefined ? componentOrMessage : `component "${componentOrMessage}": ${message}`);
    this.name = 'ComponentConfigError';
  }
}

export class MetadataReader {
  private readonly lower = new Map<string, string>();
  /** The component's name, for error messages. */
  get component(): string {
    return this.spec.name;
  }

  constructor(private readonly spec: Pick<ComponentSpec, 'name' | 'metadata'>) {
    for (const [k, v] of Object.entries(spec.metadata ?? {})) this.lower.set(k.toLowerCase(), v);
  }

  raw(name: string): string | undefined {
    const v = this.lower.get(name.toLowerCase());
    return v === undefined || v === '' ? undefined : v;
  }

  string(name: string, fallback: string): string;
  string(name: string): string | undefined;
  string(name: string, fallback?: string): string | undefined {
    return this.raw(name) ?? fallback;
  }

  required(name: string): string {
    const v = this.raw(name);
    if (v === undefined) throw new ComponentConfigError(this.spec.name, `metadata "${name}" is required`);
    return v;
  }

  bool(name: string, fallback: boolean): boolean {
    const v = this.raw(name);
    if (v === undefined) return fallback;
    const s = v.trim().toLowerCase();
    if (['true', '1', 'yes', 'y', 'on'].includes(s)) return true;
    if (['false', '0', 'no', 'n', 'off'].includes(s)) return false;
    throw new ComponentConfigError(this.spec.name, `metadata "${name}" must be true or false, got "${v}"`);
  }

  int(name: string, fallback: number): number {
    const v = this.raw(name);
    if (v === undefined) return fallback;
    const n = Number(v.trim());
    if (!Number.isInteger(n)) throw new ComponentConfigError(this.spec.name, `metadata "${name}" must be an integer, got "${v}"`);
    return n;
  }

  /** Milliseconds. */
  duration(name: string, fallbackMs: number): number {
    const v = this.raw(name);
    if (v === undefined) return fallbackMs;
    const ms = parseDuration(v);
    if (ms === undefined) throw new ComponentConfigError(this.spec.name, `metadata "${name}" must be a duration such as "15s" or "500ms", got "${v}"`);
    return ms;
  }
}

const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Go duration ("1h2m3.5s", "250ms") or a bare number of milliseconds; undefined when malformed. */
export function parseDuration(text: string): number | undefined {
  const s = text.trim();
  if (/^\d+(\.\d+)?$/.test(s)) return Number(s);
  if (!/^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/.test(s)) return undefined;
  let total = 0;
  for (const m of s.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) total += Number(m[1]) * UNIT_MS[m[2]];
  return total;
}
