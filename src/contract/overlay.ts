// Environment overlays: `environments.<name>` is deep-merged onto the base spec with JSON Merge
// Patch rules (RFC 7386): mappings merge key by key, lists and scalars replace, null removes.
import { isPlainObject } from './shape.js';

export function mergeOverlay(base: unknown, overlay: unknown): unknown {
  if (!isPlainObject(overlay)) return overlay;
  const out: Record<string, unknown> = isPlainObject(base) ? { ...base } : {};
  for (const [k, v] of Object.entries(overlay)) {
    if (v === null) delete out[k];
    else out[k] = mergeOverlay(out[k], v);
  }
  return out;
}
