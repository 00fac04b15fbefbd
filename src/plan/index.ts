// Public surface of the plan: pure compilation of a spec into desired state, hashing and diffing.
export type { DesiredState, DesiredService, InstanceTemplate } from './desired-state.js';
export { compile, startOrder, serviceUrl, serviceHost, type CompileOptions } from './compile.js';
export { canonicalJson, shortHash } from './hash.js';
