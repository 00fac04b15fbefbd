// Spec fields for the simulated cluster: `nodes:` (how many node agents, their capacity and labels)
// and a service's `placement:` (nodeSelector, antiAffinity), with Kubernetes' meaning.
import { z } from 'zod';
import { Label } from './label.js';

const LabelMap = z.record(z.string().min(1), z.string()).describe('Labels, as Kubernetes node labels (key → value).');

export const NodeCapacity = z
  .strictObject({
    cpuMillis: z.number().int({ message: 'must be a whole number of millicores' }).positive({ message: 'must be greater than 0' }).optional().describe('CPU the node offers, in millicores (Kubernetes allocatable cpu).'),
    memoryMiB: z.number().int({ message: 'must be a whole number of MiB' }).positive({ message: 'must be greater than 0' }).optional().describe('Memory the node offers, in MiB (Kubernetes allocatable memory).'),
  })
  .describe('What the node can hold; instances are fitted by their resources. Absent: unlimited.');

export const NodeDecl = z
  .strictObject({
    name: Label.describe('Node name (a DNS-1123 label); `berth node` commands take it.'),
    capacity: NodeCapacity.default({}),
    labels: LabelMap.default({}),
  })
  .describe('A named node.');

export const MAX_NODES = 50;

export const Nodes = z
  .union([
    z.number().int({ message: 'must be a whole number' }).min(1, { message: 'must be at least 1' }).max(MAX_NODES, { message: `must be at most ${MAX_NODES}` }),
    z.array(NodeDecl).min(1, { message: 'declare at least one node' }).max(MAX_NODES, { message: `at most ${MAX_NODES} nodes` }),
  ])
  .describe('Simulated nodes, each its own node-agent process with its own address block: a count (3 → node-1…node-3) or a list of named nodes. Default: one node, node-1.');

export const ANTI_AFFINITY = ['required', 'preferred'] as const;

export const Placement = z
  .strictObject({
    nodeSelector: LabelMap.default({}).describe('Only nodes carrying all these labels (Kubernetes nodeSelector).'),
    antiAffinity: z
      .enum(ANTI_AFFINITY)
      .optional()
      .describe('Instances of this service on distinct nodes: required (stay pending rather than share) or preferred (Kubernetes podAntiAffinity on the hostname topology).'),
  })
  .describe('Where instances may run.');

export const Priority = z
  .number()
  .int({ message: 'must be a whole number' })
  .default(0)
  .describe('Scheduling priority (Kubernetes PriorityClass value): under node pressure, lower-priority instances move first.');

export type NodesSpec = z.output<typeof Nodes>;
export type NodeSpec = z.output<typeof NodeDecl>;
export type PlacementSpec = z.output<typeof Placement>;

/** The node list a spec declares, with names resolved (a count becomes node-1…node-N). */
export function resolveNodes(nodes: NodesSpec | undefined): NodeSpec[] {
  if (nodes === undefined) return [{ name: 'node-1', capacity: {}, labels: {} }];
  if (typeof nodes === 'number') return Array.from({ length: nodes }, (_, i) => ({ name: `node-${i + 1}`, capacity: {}, labels: {} }));
  return nodes;
}
