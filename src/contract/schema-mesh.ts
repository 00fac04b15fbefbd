// Spec fields for the service mesh: the top-level `ingress:` (a gateway on 127.0.0.1 that sends
// requests to services by route, with Istio VirtualService meaning: the first matching route wins,
// path `prefix` is a plain string prefix) and `mesh:` (settings of every proxy).
import { z } from 'zod';
import { Label } from './label.js';

const MeshPort = z
  .number()
  .int({ message: 'a port must be a whole number' })
  .min(1, { message: 'a port must be between 1 and 65535' })
  .max(65535, { message: 'a port must be between 1 and 65535' });

export const PathMatch = z
  .strictObject({
    prefix: z.string().startsWith('/', { message: 'a path prefix must start with "/"' }).optional().describe('Matches paths starting with this string (Istio uri.prefix).'),
    exact: z.string().startsWith('/', { message: 'a path must start with "/"' }).optional().describe('Matches exactly this path, without the query (Istio uri.exact).'),
  })
  .refine((p) => (p.prefix === undefined) !== (p.exact === undefined), { message: 'give exactly one of `prefix` or `exact`' })
  .describe('How the request path is matched.');

export const IngressRoute = z
  .strictObject({
    match: z.strictObject({ path: PathMatch.optional() }).optional().describe('Conditions; an absent match matches every request.'),
    to: Label.describe('The service that receives matching requests.'),
  })
  .describe('One ingress route (Istio HTTPRoute): the first route whose match holds is used.');

export const Ingress = z
  .strictObject({
    port: MeshPort.describe('Port of the gateway on 127.0.0.1 (Istio Gateway port).'),
    routes: z.array(IngressRoute).min(1, { message: 'give at least one route' }).describe('Routes, tried in order; the first match wins. A request no route matches gets 404.'),
  })
  .describe('The ingress gateway: how people and tests reach the application from outside, on 127.0.0.1.');

export const MeshSettings = z
  .strictObject({
    accessLog: z.boolean().default(true).describe('Every proxy writes one JSON line per request to its log.'),
  })
  .describe('Settings of the mesh proxies (the `berth-proxy` sidecar of every service with a port, and the gateway).');

export type IngressSpec = z.output<typeof Ingress>;
export type MeshSettingsSpec = z.output<typeof MeshSettings>;
