// Pluggable backends per building block, one interface per kind.
export type { ComponentSpec } from './component.js';
export * from './state/index.js';
