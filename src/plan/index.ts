// Public surface of the plan: pure compilation of a spec into desired state, hashing and diffing.
export type { DesiredState, DesiredService, InstanceTemplate } from './desired-state.js';
export { compile, watchInput, startOrder, serviceUrl, serviceHost, type CompileOptions } from './compile.js';
export { canonicalJson, shortHash } from './hash.js';
export { diffStates, diffValues, serviceView, SECRET_MASK, type StateDiff, type ServiceDiff, type FieldChange, type DiffOptions } from './diff.js';
