// Entry point of `berth-proxy`, the mesh data plane: run as a sidecar in every instance group of a
// service with a port, and as the gateway (ingress + the services' 127.0.0.1 addresses). Reads its
// configuration from the environment (see config.ts); SIGTERM drains it.
import { ConfigError, loadConfig } from './config.js';
import { Proxy } from './proxy.js';

function log(msg: string): void {
  process.stderr.write(`${new Date().toISOString()} berth-proxy: ${msg}\n`);
}
// A log reader that went away (EPIPE) loses the proxy's messages, not its traffic: without a
// listener, the stream's 'error' would end the process. (stdout's is the access log's: access-log.ts.)
process.stderr.on('error', () => {});

let cfg;
try {
  cfg = loadConfig(process.env);
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  log(err.message);
  process.exit(2);
}
const proxy = new Proxy(cfg, log);
proxy.start();
log(`${cfg.mode} ${cfg.proxyId} started${cfg.inboundPort !== undefined ? ` (inbound ${cfg.host}:${cfg.inboundPort} → app :${cfg.appPort})` : ''}`);

let stopping = false;
const stop = (signal: string): void => {
  if (stopping) return;
  stopping = true;
  log(`${signal}: draining`);
  void proxy.stop().then(() => process.exit(0));
};
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));
