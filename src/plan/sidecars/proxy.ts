// Platform sidecar `berth-proxy` (the mesh data plane), added to every instance group of a service
// with a port. It takes HOST:port (inbound) and forwards to the app's private PORT, which the node
// agent allocates per instance (unique on the machine, so the app may bind it on any address) and
// puts in for `$(PORT)`. Each used service gets an outbound listener on HOST too, and one
// forward-proxy port serves `http://<service>/…`; every instance has its own loopback HOST, so these
// fixed port numbers never collide between instances. `$(HOST)` in the values is expanded per
// instance when the control plane materializes it.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { envVarName } from '../../contract/index.js';
import { meshPorts, PROXY_ENV, PROXY_NODE_FLAGS, PROXY_SIDECAR_NAME } from '../../lib/mesh-protocol.js';
import type { SidecarBuilder, SidecarBuildContext } from '../platform-sidecars.js';
import { daprEnv } from './dapr.js';

const proxyMain = fileURLToPath(new URL('../../sidecar/proxy/main.js', import.meta.url));

export const proxySidecar: SidecarBuilder = (ctx) => {
  const port = ctx.spec.port;
  // A service without a port has no inbound traffic: its proxy runs only to serve the building-block API (and its `uses`).
  if (port === undefined && !ctx.dapr) return undefined;
  const ports = meshPorts(port ?? 0);
  const uses = ctx.spec.uses.filter((u) => ctx.app.services[u]?.port !== undefined).sort();
  const outbound = uses.map((u, i) => ({ service: u, port: ports.outbound(i) }));
  const appEnv: Record<string, string> = {
    BERTH_PROXY_URL: `http://$(HOST):${ports.forwardProxy}`,
  };
  for (const o of outbound) appEnv[`BERTH_${envVarName(o.service)}_URL`] = `http://$(HOST):${o.port}`;
  const dapr = building(ctx);
  Object.assign(appEnv, dapr.app);
  return {
    sidecar: {
      name: PROXY_SIDECAR_NAME,
      argv: [process.execPath, ...PROXY_NODE_FLAGS, proxyMain],
      cwd: ctx.dir,
      // Traffic reaches the instance through this listener: the instance is not ready before it listens.
      ...(port !== undefined ? { listenPort: port } : {}),
      env: {
        ...PROXY_ENV,
        BERTH_APP: ctx.app.app,
        BERTH_SERVICE: ctx.service,
        BERTH_PROXY_MODE: 'sidecar',
        BERTH_STATE_DIR: join(ctx.dir, '.berth'),
        ...(port !== undefined ? { BERTH_PROXY_PORT: String(port), BERTH_PROXY_APP_PORT: '$(PORT)' } : {}),
        BERTH_PROXY_ADMIN_PORT: String(ports.admin),
        BERTH_PROXY_FORWARD_PORT: String(ports.forwardProxy),
        BERTH_PROXY_OUTBOUND: outbound.map((o) => `${o.service}=${o.port}`).join(','),
        BERTH_PROXY_DRAIN_SECONDS: String(ctx.spec.stopGracePeriodSeconds),
        ...dapr.proxy,
      },
    },
    appEnv,
  };
};

/** The building-block API's variables, when the service uses it (none otherwise: the proxy never loads that code). */
function building(ctx: SidecarBuildContext): { app: Record<string, string>; proxy: Record<string, string> } {
  return ctx.dapr ? daprEnv(ctx, ctx.dapr) : { app: {}, proxy: {} };
}
