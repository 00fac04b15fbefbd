export type { ComponentSpec } from './component.js';
