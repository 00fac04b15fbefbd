// Revision hashing lives in the shared libs (the control plane's hot path needs it without the plan).
export { canonicalJson, shortHash } from '../lib/canonical-json.js';
