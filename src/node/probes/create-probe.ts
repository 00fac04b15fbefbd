// Builds the Probe for a ProbeHandler aimed at one instance (its host, environment and working directory).
import type { ProbeHandler } from '../../lib/agent-protocol.js';
import type { Probe } from './probe.js';
import { HttpProbe } from './http-probe.js';
import { TcpProbe } from './tcp-probe.js';
import { ExecProbe } from './exec-probe.js';
import { GrpcProbe } from './grpc-probe.js';

/**
 * HTTP probes this frequent keep their connection between checks: a connect and a teardown per check
 * was most of the node agent's idle CPU. Servers keep idle connections for ≥ 5 s by default (Node.js),
 * well above this period; a kept connection that turns out closed is retried once on a fresh one.
 */
const KEEP_ALIVE_MAX_PERIOD_S = 2;

export interface ProbeTargetContext {
  host: string;
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** The instance's OS user (the app's `user:`, lib/users.ts): exec probes run as it. Absent: the agent's user. */
  user?: string;
  /**
   * Where a probe aimed at `port` really connects, asked before every check: the instance's spec
   * port is re-aimed at the app's private PORT on the address the app bound. Absent: host:port.
   */
  aim?(port: number): { host: string; port: number };
}

/** A probe's host and port, read anew at every check (so a re-aimed probe follows the app). */
function target(ctx: ProbeTargetContext, port: number): { readonly host: string; readonly port: number } {
  const aim = ctx.aim;
  if (!aim) return { host: ctx.host, port };
  return {
    get host() {
      return aim(port).host;
    },
    get port() {
      return aim(port).port;
    },
  };
}

export function createProbe(handler: ProbeHandler, ctx: ProbeTargetContext, periodSeconds = Infinity): Probe {
  if (handler.http) {
    const { port, ...rest } = handler.http;
    return new HttpProbe(Object.assign(target(ctx, port), rest, { headers: handler.http.headers ?? [] }), { keepAlive: periodSeconds <= KEEP_ALIVE_MAX_PERIOD_S });
  }
  if (handler.tcp) return new TcpProbe(target(ctx, handler.tcp.port));
  if (handler.exec) return new ExecProbe({ command: handler.exec.command, env: ctx.env, cwd: ctx.cwd, ...(ctx.user !== undefined ? { user: ctx.user } : {}) });
  if (handler.grpc) return new GrpcProbe(Object.assign(target(ctx, handler.grpc.port), { service: handler.grpc.service }));
  throw new Error('probe handler sets none of http, tcp, exec, grpc');
}
