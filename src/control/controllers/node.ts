// node/<name>: pull the node agent's observed instances and events, record what changed (stopped
// instances, observed status), then push the node its desired set — its dispatched instances, the
// mesh gateway on the gateway node, and the TCP forwarders for services the mesh does not serve.
import type { InstanceSpec } from '../../lib/agent-protocol.js';
import { GATEWAY_ID } from '../../lib/mesh-protocol.js';
import type { stateLayout } from '../../lib/state-dir.js';
import { materialize } from '../instances.js';
import { gatewayInstance, meshServedServices } from '../mesh-snapshots.js';
import type { World } from '../world.js';
import type { Act, ReconcileOutcome } from './act.js';

/** What turning records into instance specs needs from this control plane's process. */
export interface NodeEnv {
  stateDir: string;
  layout: ReturnType<typeof stateLayout>;
  /** The environment that hands an instance's sidecars their scoped credential. */
  sidecarEnv(instance: string, service: string): Record<string, string>;
  /** The user apps run as when their spec names none. */
  defaultAppUser: string | undefined;
}

type Forwarder = { name: string; host: string; port: number; remoteEndpoints: { id: string; host: string; port: number }[] };

/** The node whose agent serves the services' cluster addresses (127.0.0.1:port): the first ready one. */
export function gatewayNode(world: World): string | undefined {
  return world.nodes().find((n) => world.nodeReady(n.name))?.name;
}

export class NodeController {
  /** Instances whose adoption this process reported (one Adopted event per instance and control-plane start). */
  private readonly adoptedReported = new Set<string>();
  /** Per node: what its last successful push was derived from, and the forwarders sent (an unchanged set is not rebuilt). */
  private readonly pushed = new Map<string, { key: string; services: string }>();

  constructor(private readonly env: NodeEnv) {}

  async reconcile(name: string, world: World, act: Act): Promise<ReconcileOutcome> {
    const agent = world.agent(name);
    // A node whose agent is gone is the node monitor's business (loss → fence → restart), not an error here.
    if (!agent?.alive) return {};
    const { before, events } = await act.pull(name);
    act.addAgentEvents(name, events);
    const observed = world.observedOn(name) ?? new Map();
    let changed = events.length > 0 || before.size !== observed.size;
    for (const rec of world.liveOn(name)) {
      const obs = observed.get(rec.id);
      const prev = before.get(rec.id);
      if (obs && (!prev || prev.status !== obs.status || prev.pid !== obs.pid || prev.restarts !== obs.restarts)) changed = true;
      if (obs && rec.phase === 'active' && !this.adoptedReported.has(rec.id) && !agent.startedFresh && before.size === 0) {
        act.event({ type: 'Normal', reason: 'Adopted', message: `adopted running instance ${rec.id} (pid ${obs.pid ?? '-'})`, service: rec.service, instance: rec.id, node: name });
      }
      if (obs) this.adoptedReported.add(rec.id);
      if (rec.phase === 'terminating' && !obs) {
        act.markStopped(rec.id, prev ?? rec.lastObserved);
        changed = true;
      }
      if (obs && (obs.status !== prev?.status || obs.restarts !== prev?.restarts)) act.saveObserved(rec.id, obs);
    }
    await this.push(name, world, act);
    if (changed) {
      act.notify();
      act.enqueueAllDeployments();
      act.enqueue('lifecycle', 'all');
      // Readiness here changes the endpoints the gateway node forwards to.
      const gateway = gatewayNode(world);
      if (gateway && gateway !== name) act.enqueue('node', gateway);
    }
    return {};
  }

  /**
   * The node's desired set, pushed. The instance specs depend only on recorded state (the world's
   * version), the withdrawals still running and which node is the gateway; the forwarders also on
   * readiness elsewhere. When none of that changed since the last push to the same agent process,
   * nothing is rebuilt or sent (the resync pulls every node every few seconds).
   */
  async push(name: string, world: World, act: Act): Promise<void> {
    const agent = world.agent(name);
    if (!agent?.synced) return;
    const withdrawing = world
      .liveOn(name)
      .filter((r) => r.phase !== 'active' && r.dispatched && act.withdrawals.still(r.id))
      .map((r) => r.id);
    const key = `${world.version}|${agent.pid ?? ''}|${gatewayNode(world) === name}|${withdrawing.join(',')}`;
    const services = this.forwarders(name, world);
    const servicesKey = JSON.stringify(services);
    const last = this.pushed.get(name);
    if (last && last.key === key && last.services === servicesKey) return;
    await act.push(name, { instances: this.instancesFor(name, world, act), services });
    this.pushed.set(name, { key, services: servicesKey });
  }

  desiredFor(name: string, world: World, act: Act): { instances: InstanceSpec[]; services: Forwarder[] } {
    return { instances: this.instancesFor(name, world, act), services: this.forwarders(name, world) };
  }

  private instancesFor(name: string, world: World, act: Act): InstanceSpec[] {
    const desired = world.desired;
    const app = desired?.app ?? 'app';
    const instances: InstanceSpec[] = [];
    for (const rec of world.liveOn(name)) {
      if (!rec.dispatched) continue;
      if (rec.phase !== 'active' && !act.withdrawals.still(rec.id)) continue;
      const template = world.template(rec.service, rec.revision);
      if (template) instances.push(materialize(app, rec, template, this.env.layout.instanceLogDir(rec.service, rec.id), this.env.sidecarEnv(rec.id, rec.service), this.env.defaultAppUser));
    }
    const gateway = name !== gatewayNode(world) || world.down ? undefined : gatewayInstance(desired, { node: name, nodeIndex: world.node(name)!.idx, slot: world.slot, stateDir: this.env.stateDir, logDir: this.env.layout.instanceLogDir(GATEWAY_ID, GATEWAY_ID), credentialEnv: this.env.sidecarEnv(GATEWAY_ID, GATEWAY_ID) });
    if (gateway) instances.push(gateway);
    return instances;
  }

  /** The cluster-address forwarders of the gateway node: services the mesh does not serve, to ready instances on other nodes. */
  private forwarders(name: string, world: World): Forwarder[] {
    const desired = world.desired;
    const down = world.down;
    // Meshed services are served on 127.0.0.1:port by the mesh gateway (see mesh-snapshots.ts), not the agent's TCP forwarder.
    const meshed = meshServedServices(desired);
    // One node's agent serves the cluster addresses; it forwards to ready instances on every node.
    const forwarding = !down && name === gatewayNode(world);
    return !forwarding
      ? []
      : (desired?.services ?? [])
          .filter((s) => s.port !== undefined && !meshed.has(s.name))
          .map((s) => ({
            name: s.name,
            host: '127.0.0.1',
            port: s.port!,
            remoteEndpoints: world
              .readyOf(s.name)
              .filter((r) => r.node !== name && r.node !== '')
              .map((r) => ({ id: r.id, host: r.host, port: s.port! })),
          }));
  }
}
