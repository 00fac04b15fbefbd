// src/sidecar/proxy/dapr: the Dapr-compatible building-block API that berth-proxy serves for services
// that use it. The proxy imports this index dynamically, so other services never load it.
export { startDaprApi, type DaprApi } from './api.js';
