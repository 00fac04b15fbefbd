// The `berth` package's public surface for berth.config.ts and tools: the spec's types and helpers.
export { defineApp, jsonSchema, loadSpec, formatSpecErrors, type AppSpec, type AppSpecInput, type ServiceSpec, type ProbeSpec, type SpecError, type LoadResult } from './contract/index.js';
export { compile, type DesiredState } from './plan/index.js';
