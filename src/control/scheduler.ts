// The scheduler as a pure decision (kube-scheduler's filter-then-score, simplified): which node an
// instance goes to, or why it fits nowhere. Filters: the node is Ready and not cordoned, carries the
// service's nodeSelector labels, has room for the instance's resources, and — with required
// antiAffinity — holds no other instance of the service. Score: spread the service first, then the
// least loaded node, then name order (deterministic).

export interface SchedulingNode {
  name: string;
  ready: boolean;
  cordoned: boolean;
  /** Measured use above the pressure threshold: like a NoSchedule taint while it lasts. */
  pressured?: boolean;
  labels: Record<string, string>;
  capacity: { cpuMillis?: number; memoryMiB?: number };
  /** Resources already requested by the node's live instances. */
  requested: { cpuMillis: number; memoryMiB: number };
  /** Live instances of the service being scheduled on this node. */
  serviceInstances: number;
  /** All live instances on this node. */
  instances: number;
}

export interface SchedulingRequest {
  cpuMillis?: number;
  memoryMiB?: number;
  nodeSelector?: Record<string, string>;
  antiAffinity?: 'required' | 'preferred';
}

export type SchedulingDecision = { node: string } | { reason: string };

export function scheduleInstance(req: SchedulingRequest, nodes: SchedulingNode[]): SchedulingDecision {
  const rejected = new Map<string, number>();
  const reject = (why: string) => rejected.set(why, (rejected.get(why) ?? 0) + 1);
  const fits: SchedulingNode[] = [];
  for (const n of nodes) {
    if (!n.ready) reject('not ready');
    else if (n.cordoned) reject('cordoned');
    else if (n.pressured) reject('under resource pressure');
    else if (req.nodeSelector && !Object.entries(req.nodeSelector).every(([k, v]) => n.labels[k] === v)) reject("didn't match the nodeSelector");
    else if (req.cpuMillis && n.capacity.cpuMillis !== undefined && n.requested.cpuMillis + req.cpuMillis > n.capacity.cpuMillis) reject('insufficient cpu');
    else if (req.memoryMiB && n.capacity.memoryMiB !== undefined && n.requested.memoryMiB + req.memoryMiB > n.capacity.memoryMiB) reject('insufficient memory');
    else if (req.antiAffinity === 'required' && n.serviceInstances > 0) reject('already runs an instance of this service (antiAffinity: required)');
    else fits.push(n);
  }
  if (fits.length === 0) {
    const why = [...rejected.entries()].map(([r, c]) => `${c} ${r}`).join(', ');
    return { reason: `0/${nodes.length} nodes are available${why ? `: ${why}` : ''}` };
  }
  fits.sort((a, b) => a.serviceInstances - b.serviceInstances || a.instances - b.instances || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { node: fits[0].name };
}
