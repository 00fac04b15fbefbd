// Public surface of the mesh proxy room (the CLI and tests spawn main.js by path; these are for reuse).
export { loadConfig, type ProxyConfig } from './config.js';
export { RoutingTable } from './routing-table.js';
