// Service variants: `variants: { v2: { env: {…}, replicas: 1 } }` runs each variant as its own set
// of instances of the same service (same port, same routes), with the variant's fields merged onto
// the service's (JSON Merge Patch, as environment overlays). Routes pick a variant with
// `to: [{ service, variant, weight }]` (Istio subsets). Locally each variant is its own deployment,
// named `<service>.<variant>` (a dot never occurs in a service name).
import { z } from 'zod';
import { Label } from './label.js';
import { mergeOverlay } from './overlay.js';
import { isPlainObject } from './shape.js';
import type { Problem } from './problem.js';
import { Service, type ServiceSpec } from './schema.js';

/** Fields a variant may not change: they belong to the service as a whole. */
export const VARIANT_FIXED_FIELDS = ['port', 'uses', 'variants', 'routes', 'policy', 'dependsOn', 'volumes', 'release'] as const;

export const Variants = z
  .record(Label, z.record(z.string(), z.unknown()))
  .describe('Variants of the service by name: overrides of service fields (e.g. env, run, replicas), merged onto the service. Each variant runs its own replicas (default 1).');

export function variantDeploymentName(service: string, variant: string): string {
  return `${service}.${variant}`;
}

/** The full spec of one variant: the service with the variant's fields merged on. */
export function variantSpec(base: ServiceSpec, override: Record<string, unknown>): ServiceSpec {
  const { variants: _v, routes: _r, policy: _p, release: _rel, ...rest } = base as ServiceSpec & { variants?: unknown; routes?: unknown; policy?: unknown; release?: unknown };
  return Service.parse(mergeOverlay({ ...rest, replicas: 1 }, override));
}

/** Each variant, merged onto its raw service, must be a valid service; fixed fields stay the service's. */
export function checkVariants(services: Record<string, unknown>, errors: Problem[]): void {
  for (const [name, svc] of Object.entries(services)) {
    if (!isPlainObject(svc) || !isPlainObject(svc.variants)) continue;
    for (const [variant, override] of Object.entries(svc.variants)) {
      if (!isPlainObject(override)) continue; // the schema reports it
      const base = ['services', name, 'variants', variant];
      if (variant === 'default') {
        errors.push({ path: base, message: 'the variant name `default` is reserved for the service\'s own instances', hint: 'choose another name' });
        continue;
      }
      let fixed = false;
      for (const f of VARIANT_FIXED_FIELDS) {
        if (f in override) {
          errors.push({ path: [...base, f], message: `a variant cannot change \`${f}\``, hint: `\`${f}\` belongs to service \`${name}\` as a whole` });
          fixed = true;
        }
      }
      if (fixed) continue;
      const { variants: _v, routes: _r, policy: _p, release: _rel, ...rest } = svc;
      const parsed = Service.safeParse(mergeOverlay({ ...rest, replicas: 1 }, override));
      if (parsed.success) continue;
      for (const issue of parsed.error.issues) errors.push({ path: [...base, ...(issue.path as (string | number)[])], message: issue.message });
    }
  }
}
