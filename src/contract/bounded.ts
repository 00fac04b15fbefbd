// zod numbers built from the shared table of bounds (src/lib/bounds.ts), so the schema refuses
// exactly what the runtime would refuse, with the same messages, and the JSON Schema carries the
// same minimum/maximum.
import { z } from 'zod';
import { BOUNDS, boundMessages, type Bound, type BoundName } from '../lib/bounds.js';

export { BOUNDS, MAX_REPLICAS, ADDRESSES_PER_NODE, MAX_DURATION_SECONDS, MIN_DURATION_SECONDS, badHeaderName, badHeaderValue, badRequestPath } from '../lib/bounds.js';

/** A number within the bound of that name (inclusive), with the table's messages. */
export function bounded(name: BoundName | Bound): z.ZodNumber {
  const b: Bound = typeof name === 'string' ? BOUNDS[name] : name;
  const m = boundMessages(b);
  let n = z.number();
  if (b.integer) n = n.int({ message: m.integer });
  return n.min(b.min, { message: m.min }).max(b.max, { message: m.max });
}
