// Routing: which records a sink receives, by level, stream and service. Compiled once per config.
import type { LogRouteConfig } from '../../lib/log-agent-config.js';
import { LEVEL_ORDER, type LogRecord } from './record.js';

export type RouteFilter = (r: LogRecord) => boolean;

export function compileRoute(route: LogRouteConfig | undefined): RouteFilter | undefined {
  if (!route) return undefined;
  const levels = route.levels ? new Set<string>(route.levels) : undefined;
  const min = route.minLevel ? LEVEL_ORDER[route.minLevel] : undefined;
  const streams = route.streams ? new Set<string>(route.streams) : undefined;
  const services = route.services ? new Set(route.services) : undefined;
  if (!levels && min === undefined && !streams && !services) return undefined;
  return (r) =>
    (!levels || (r.level !== undefined && levels.has(r.level))) &&
    (min === undefined || (r.level !== undefined && LEVEL_ORDER[r.level] >= min)) &&
    (!streams || streams.has(r.stream)) &&
    (!services || services.has(r.service));
}
