// The building-block API (Dapr-compatible) of a service's proxy: what the proxy is told (its
// components and subscriptions, as JSON) and what the app is told (Dapr's variables). The port is
// `$(DAPR_HTTP_PORT)`, which the node agent fills in per instance with a port unique on the machine,
// so `daprHost: 127.0.0.1, daprPort: DAPR_HTTP_PORT` reaches the instance's own proxy.
import { createHmac, randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DaprServiceDecl } from '../../contract/index.js';
import { DAPR_PORT_VAR } from '../../lib/private-port.js';
import type { DaprProxyConfig } from '../../lib/dapr-config.js';
import type { SidecarBuildContext } from '../platform-sidecars.js';

export type { DaprProxyConfig };

/**
 * A stable secret per application (`.berth/dapr-token.key`), so the API tokens derived from it do
 * not change between compiles (a change would restart every instance).
 */
function tokenKey(dir: string): Buffer {
  const file = join(dir, '.berth', 'dapr-token.key');
  try {
    return readFileSync(file);
  } catch {
    mkdirSync(join(dir, '.berth'), { recursive: true });
    const key = randomBytes(32);
    try {
      writeFileSync(file, key, { flag: 'wx', mode: 0o600 });
      chmodSync(file, 0o600);
      return key;
    } catch {
      return readFileSync(file); // another compile wrote it first
    }
  }
}

function token(dir: string, purpose: string, appId: string): string {
  return createHmac('sha256', tokenKey(dir)).update(`${purpose}\0${appId}`).digest('hex');
}

export function daprEnv(ctx: SidecarBuildContext, dapr: DaprServiceDecl): { app: Record<string, string>; proxy: Record<string, string> } {
  const apps: Record<string, string> = {};
  for (const [name, svc] of Object.entries(ctx.app.services)) apps[svc.dapr?.appId ?? name] = name;
  const cfg: DaprProxyConfig = { ...dapr, apps, baseDir: ctx.dir };
  const app: Record<string, string> = {
    APP_ID: dapr.appId,
    DAPR_HTTP_PORT: DAPR_PORT_VAR,
    DAPR_HTTP_ENDPOINT: `http://127.0.0.1:${DAPR_PORT_VAR}`,
  };
  const proxy: Record<string, string> = { BERTH_DAPR: JSON.stringify(cfg), BERTH_DAPR_HTTP_PORT: DAPR_PORT_VAR };
  if (dapr.apiToken) {
    app.DAPR_API_TOKEN = proxy.DAPR_API_TOKEN = token(ctx.dir, 'dapr-api-token', dapr.appId);
    app.APP_API_TOKEN = proxy.APP_API_TOKEN = token(ctx.dir, 'app-api-token', dapr.appId);
  }
  return { app, proxy };
}
