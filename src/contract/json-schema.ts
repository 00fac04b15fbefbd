// The published JSON Schema (draft 2020-12) of berth.yaml, generated from the zod schema so the
// two cannot disagree. Editors use it for completion and inline validation.
import { z } from 'zod';
import { AppSchema } from './schema.js';

export const SCHEMA_ID = 'https://berth.dev/schema/berth.schema.json';

type Json = Record<string, unknown>;

/**
 * A copy of an object schema for environment overlays: nothing is required, nothing has a
 * default, and every property may be null (null removes the key, as in JSON Merge Patch).
 */
function deepPartial(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(deepPartial);
  if (typeof node !== 'object' || node === null) return node;
  const out: Json = {};
  for (const [k, v] of Object.entries(node)) {
    if (k === 'required' || k === 'default') continue;
    if (k === 'properties' && typeof v === 'object' && v !== null) {
      out[k] = Object.fromEntries(Object.entries(v).map(([name, p]) => [name, { anyOf: [deepPartial(p), { type: 'null' }] }]));
    } else out[k] = deepPartial(v);
  }
  return out;
}

export function jsonSchema(): Json {
  const base = z.toJSONSchema(AppSchema, { io: 'input', target: 'draft-2020-12' }) as Json;
  const props = base.properties as Json;
  const overlay = deepPartial({ type: 'object', properties: { app: props.app, services: props.services, nodes: props.nodes }, additionalProperties: false }) as Json;
  overlay.description = 'An overlay: a partial spec deep-merged onto the base (maps merge, lists and scalars replace, null removes).';
  const environments = props.environments as Json;
  environments.additionalProperties = overlay;
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: SCHEMA_ID,
    title: 'Berth application spec',
    description:
      'berth.yaml: an application declared once — services, probes, scaling, restarts, rollout — run locally by Berth or compiled to Kubernetes resources.',
    ...Object.fromEntries(Object.entries(base).filter(([k]) => k !== '$schema' && k !== 'description')),
  };
}
