// A problem found in a spec before it is given a source position: the path of the offending
// value, an actionable message, an optional hint, and whether to point at the key or the value.
import type { PathSeg } from './positions.js';

export interface Problem {
  path: PathSeg[];
  message: string;
  hint?: string;
  /** Point at the key of the last path segment (unknown keys, bad names) rather than at its value. */
  mode?: 'value' | 'key';
}
