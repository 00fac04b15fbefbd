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
}

export function createProbe(handler: ProbeHandler, ctx: ProbeTargetContext, periodSeconds = Infinity): Probe {
  if (handler.http) return new HttpProbe({ host: ctx.host, ...handler.http, headers: handler.http.headers ?? [] }, { keepAlive: periodSeconds <= KEEP_ALIVE_MAX_PERIOD_S });
  if (handler.tcp) return new TcpProbe({ host: ctx.host, port: handler.tcp.port });
  if (handler.exec) return new ExecProbe({ command: handler.exec.command, env: ctx.env, cwd: ctx.cwd });
  if (handler.grpc) return new GrpcProbe({ host: ctx.host, port: handler.grpc.port, service: handler.grpc.service });
  throw new Error('probe handler sets none of http, tcp, exec, grpc');
}
