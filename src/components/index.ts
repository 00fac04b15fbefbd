// src/components: pluggable backends per building block, one interface per kind.
export type { ComponentSpec } from './component.js';
export { ComponentConfigError, MetadataReader, parseDuration } from './metadata.js';
export * from './state/index.js';
export * from './pubsub/index.js';
export * from './lock/index.js';
export * from './secrets/index.js';
export * from './bindings/index.js';
