// Deterministic YAML: keys in a fixed order (apiVersion, kind, metadata, name first, the rest
// sorted), lists in their given order, no line folding, YAML 1.1 quoting (so `on`, `yes`, `08`
// stay strings for Kubernetes' YAML 1.1 parser). Same objects in, same bytes out.
import { stringify } from 'yaml';

const FIRST = ['apiVersion', 'kind', 'metadata', 'name', 'namespace'];

function rank(key: string): number {
  const i = FIRST.indexOf(key);
  return i === -1 ? FIRST.length : i;
}

/** A copy of `value` with every mapping's keys in canonical order (undefined fields dropped). */
export function canonicalOrder(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonicalOrder);
  if (value === null || typeof value !== 'object') return value;
  const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
  entries.sort(([a], [b]) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
  return Object.fromEntries(entries.map(([k, v]) => [k, canonicalOrder(v)]));
}

export function toYaml(value: unknown): string {
  return stringify(canonicalOrder(value), { lineWidth: 0, version: '1.1', aliasDuplicateObjects: false });
}

/** A multi-document YAML stream, one document per object. */
export function toYamlStream(objects: readonly unknown[]): string {
  return objects.map((o) => `---\n${toYaml(o)}`).join('');
}
