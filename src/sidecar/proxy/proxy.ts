// Wires the proxy's parts top to bottom: snapshot → routing table; listeners (inbound, outbound per
// used service, forward proxy, gateway ports, admin) → forward() over shared upstream pools; access
// log; drain on stop. A sidecar and the gateway are the same code with different listeners.
import type http2 from 'node:http2';
import { findListener } from '../../lib/listen-sockets.js';
import { GATEWAY_ID, type MeshActivity, type MeshAppProtocol, type MeshSnapshot } from '../../lib/mesh-protocol.js';
import { AccessLog } from './access-log.js';
import { HeldRequests } from './held-requests.js';
import type { ProxyConfig } from './config.js';
import { Cluster } from './cluster.js';
import { EndpointRegistry, EndpointState } from './endpoints.js';
import { applyHeaderOps, forward, Pools, reply, type ForwardOptions } from './forward.js';
import { MAX_HEAD_BYTES } from './lean-server.js';
import { Listener, type H2Handler, type Handler, type ProxyRequest, type ProxyResponse, type UpgradeHandler } from './listener.js';
import type { H2Sessions } from './h2-forward.js';
import { httpToGrpcStatus, isGrpcCall, isGrpcRequest } from './grpc-replies.js';
import type { CompiledRoute, RequestHead } from './routes.js';
import { RoutingTable, type ServiceEntry } from './routing-table.js';
import { SnapshotClient } from './snapshot-client.js';
import { forwardUpgrade, UpgradeResponse } from './upgrade.js';
import { addRequestHeaders, SNAPSHOT_HEADER, SOURCE_HEADER, takeSnapshotVersion, takeSource, type EdgeSettings } from './request-headers.js';
import { ThrottleRegistry, type Throttle } from './throttle.js';
import { Metrics } from './metrics.js';
import { propagateTrace } from './trace.js';
import type { SpanContext, SpanSink } from './spans.js';
import { setEjectionObserver } from './cluster.js';
import type { MeshConfig, MeshMock, MeshRecording, MeshTracing } from '../../lib/mesh-protocol.js';
import type { Responder } from './responder.js';
import type { ShadowStats } from './shadow.js';
import type { ExchangeTap } from './recorder.js';
import type { Recorder, RecordedExchange } from './recorder.js';
import { Mirrors, mirrorTap, type CopySettled } from './mirror.js';
// Imported, not the global: globalThis.performance is an accessor, read through a slow global load on every call.
import { performance } from 'node:perf_hooks';

/**
 * The mesh service a forward-proxy request's authority names, undefined when it names none: `svc`,
 * `svc.<app>`, or Kubernetes' `svc.<ns>.svc[.cluster.local]` (any case, a port, a trailing dot).
 * Anything else (`svc.evil.com`, an IP literal) is not taken for `svc`.
 */
export function meshName(authority: string, app: string): string | undefined {
  const m = /^([a-z0-9](?:[a-z0-9-]*[a-z0-9])?)((?:\.[a-z0-9-]+)*?)\.?(?::\d*)?$/i.exec(authority);
  if (!m) return undefined;
  const rest = m[2].toLowerCase();
  if (rest === '' || rest === `.${app.toLowerCase()}` || /^\.[a-z0-9-]+\.svc(\.cluster\.local)?$/.test(rest)) return m[1].toLowerCase();
  return undefined;
}

/** The last step of every HTTP/1.1 request: forwarded, or for an `Upgrade` request, sent on a connection of its own (a tunnel only on 101). */
function dispatch(req: ProxyRequest, res: ProxyResponse, opts: ForwardOptions): void {
  if (res instanceof UpgradeResponse) forwardUpgrade(req, res, opts);
  else forward(req, res, opts);
}

/** Characters that never need escaping in a JSON string (names, methods: nearly always). */
const PLAIN = /^[\w.:/@+-]*$/;

/** `s` as a JSON string: quoted as is when plain (one regex test), else JSON.stringify (route names come from specs). */
function jsonString(s: string): string {
  return PLAIN.test(s) ? `"${s}"` : JSON.stringify(s);
}

/** The gRPC status a gRPC call's client reports for this proxy's own answer `status` (0: it went away — CANCELLED); undefined for other requests. */
function ownGrpcStatus(stream: http2.ServerHttp2Stream, status: number): string | undefined {
  if (!isGrpcCall(stream)) return undefined;
  return status === 0 ? '1' : String(httpToGrpcStatus(status));
}

/** A hop's trace: the bare trace id (tracing off), or its span context (tracing on). */
type TraceRef = string | SpanContext;
const traceIdOf = (t: TraceRef): string => (typeof t === 'string' ? t : t.traceId);

/** Bytes of request head the mesh's own headers may add over the hops (a few hundred in practice). */
const MESH_HEAD_ALLOWANCE = 2048;
/**
 * How long a client's idle kept-alive connection stays open. Whoever closes an idle connection races
 * a request its peer may be sending on it, and a client that did not write that request itself (Go
 * keeps idle connections 90 s, many Java clients for ever, Node's Agent with keepAlive until told)
 * gets a reset it cannot safely retry for a POST. A sidecar's clients (its app, other sidecars) are
 * few and local: as Envoy's sidecars, they are left to close their own (1 h). The gateway's clients
 * are anyone's: nginx's 75 s.
 */
const SIDECAR_KEEP_ALIVE_MS = 3_600_000;
const GATEWAY_KEEP_ALIVE_MS = 75_000;

/** When and under which trace a held request was first held (scale to zero). */
interface HeldFrom {
  started: number;
  trace: TraceRef;
}

/** admit()'s answer when neither the route nor the destination has a limit: nothing to give back. */
const UNLIMITED = { ok: true as const, release: (): void => {} };

/** The app's address is looked up again at most this often (after a failed request to it). */
const APP_REAIM_MS = 200;

export class Proxy {
  private table: RoutingTable | undefined;
  private readonly pools = new Pools();
  /** The HTTP/2 path, loaded on the first h2c connection (node:http2 costs a few MB of RSS that HTTP/1.1-only proxies keep). */
  private h2:
    | {
        mod: typeof import('./h2-forward.js');
        tr: typeof import('./h2-to-h1.js');
        sessions: H2Sessions;
        mirrorMod: typeof import('./h2-mirror.js');
        /** Mirrored copies' own sessions: copies never take the stream slots real requests use. */
        mirrorSessions: H2Sessions;
      }
    | undefined;
  private readonly fixed: Listener[] = [];
  private readonly gatewayListeners = new Map<number, Listener>();
  private readonly snapshots: SnapshotClient;
  private readonly registry = new EndpointRegistry();
  private readonly throttles = new ThrottleRegistry();
  private readonly metrics: Metrics;
  /** The app behind the inbound listener: a one-endpoint cluster, no policy. */
  private readonly appCluster: Cluster | undefined;
  private appAimedAt = -Infinity;
  private wasRegistered = false;
  private draining = false;
  private requests = 0;
  /** Inbound requests accepted, and in flight (GET /mesh/activity: the idle rule of scale to zero). */
  private inboundAccepted = 0;
  private inflight = 0;
  /** Copies for routes' `mirror` (their own pools and limits). */
  private readonly mirrors = new Mirrors(this.pools);
  private readonly held: HeldRequests;
  private readonly accessLog = new AccessLog();
  /** What the app behind the inbound listener speaks (its service's `protocol`): HTTP/2 streams to an `http` app are translated. */
  private appProtocol: MeshAppProtocol = 'http';
  /** The application the mesh snapshot is of: `svc.<app>` names `svc` on the forward proxy. */
  private meshApp: string | undefined;
  /** x-request-id and x-forwarded-for (the snapshot's mesh config). */
  private edge: EdgeSettings = { requestId: true, forwardedFor: true, trustedHops: 0 };
  /** Who this proxy says it is to its peers' inbound proxies (x-berth-source). */
  private readonly selfSource: string;
  /** Callers an inbound proxy accepts as a `source` label: the mesh's services and the ingress. */
  private readonly knownSource = (name: string): boolean => name === 'ingress' || this.table?.services.has(name) === true;
  /**
   * APP_API_TOKEN: every request this sidecar passes to its app carries it as `dapr-api-token`, as
   * daprd's calls to its app do (invocations included), so an app that checks it accepts them; a
   * caller's own value never reaches the app.
   */
  private readonly appToken: string | undefined;
  /** The building-block API, loaded only for services that use it. */
  private dapr: Promise<import('./dapr/index.js').DaprApi | undefined> | undefined;
  /** Recording (recorder.ts, loaded with the first recording): this sidecar's service's, or the gateway's per service. Undefined: nothing recorded, nothing paid. */
  private selfRecorder: Recorder | undefined;
  private gatewayRecorders: Map<string, Recorder> | undefined;
  private recorderMod: Promise<typeof import('./recorder.js')> | undefined;
  /** `berth replay --mock-dependencies`: answers the replayed requests' outbound calls from the recording (responder.ts). */
  private responder: Responder | undefined;
  private responderId: string | undefined;
  /** Shadow diff of mirrored requests (shadow.ts, loaded once a snapshot has a mirror route). */
  private shadow: { mod: typeof import('./shadow.js'); stats: ShadowStats } | undefined;
  private shadowLoading = false;
  private serviceConfig: MeshConfig['services'];
  /** Recording counters of recorders closed since (kept for /metrics). */
  private readonly recordingTotals = new Map<string, { recorded: number; dropped: number }>();
  /** Recorders replaced and still finishing their file: counted in /metrics until their counts move to recordingTotals. */
  private readonly closingRecorders = new Set<[string, Recorder]>();
  /** Span emission (spans.ts, loaded once a snapshot turns tracing on); undefined: no spans, no cost. */
  private spans: SpanSink | undefined;
  private spansMod: Promise<typeof import('./spans.js')> | undefined;
  /** Span counters of sinks tracing-off closed, and those closing: kept for /metrics (a counter never goes back). */
  private readonly spanTotals = { sent: 0, dropped: 0, otlpSent: 0, otlpDropped: 0 };
  /** Sinks tracing-off is closing, with their close(): stop() waits for them as for the sink in force. */
  private readonly closingSpans = new Map<SpanSink, Promise<void>>();
  private sample = 0;

  constructor(
    readonly cfg: ProxyConfig,
    private readonly log: (msg: string) => void,
  ) {
    if (cfg.appPort !== undefined) this.appCluster = new Cluster('app', [new EndpointState(`${cfg.proxyId}/app`, { id: `${cfg.proxyId}/app`, host: cfg.host, port: cfg.appPort, variant: '' })], undefined);
    this.metrics = new Metrics(cfg.proxyId, cfg.mode === 'gateway' ? 'ingress' : cfg.service);
    this.metrics.accessLogDropped = () => this.accessLog.dropped;
    this.metrics.recordings = () => this.recordingCounts();
    this.metrics.shadow = () => this.shadow?.stats.byRoute() ?? [];
    this.metrics.spans = () => this.spanCounts();
    this.selfSource = cfg.mode === 'gateway' ? 'ingress' : cfg.service;
    this.appToken = cfg.dapr?.appToken;
    setEjectionObserver((cluster, ep) => {
      this.metrics.ejection(cluster, ep.id);
      this.log(`ejected ${ep.id} from ${cluster} for ${Math.round(ep.ejectedUntil - performance.now())} ms (outlier detection)`);
    });
    this.snapshots = new SnapshotClient({ stateDir: cfg.stateDir, proxyId: cfg.proxyId, log, onSnapshot: (s) => this.apply(s) });
    this.held = new HeldRequests({ activate: (service) => this.snapshots.activate(service), log });
  }

  start(): void {
    const { cfg } = this;
    const listen = (name: string, host: string, port: number, handler: Handler, upgrade?: UpgradeHandler, h2?: () => Promise<H2Handler>): Listener =>
      // The inbound port takes a head as large as the first hop took plus what the proxies added on
      // the way (traceparent, x-request-id, x-forwarded-for, x-berth-*): a head one hop accepts is
      // not refused by the next.
      new Listener({
        name,
        host,
        port,
        handler,
        upgrade,
        h2,
        lean: name !== 'admin',
        log: this.log,
        ...(name === 'admin' ? {} : { keepAliveMs: SIDECAR_KEEP_ALIVE_MS, refused: this.refusedAt(name === 'inbound' ? 'inbound' : 'outbound') }),
        // A `#` is refused where routes read targets; the inbound has none (see ListenerOptions.fragments).
        ...(name === 'inbound' ? { maxHeadBytes: MAX_HEAD_BYTES + MESH_HEAD_ALLOWANCE, fragments: true } : {}),
      });
    if (cfg.mode === 'sidecar' && cfg.inboundPort !== undefined) {
        this.fixed.push(
        listen(
          'inbound',
          cfg.host,
          cfg.inboundPort!,
          (req, res) => this.inbound(req, res),
          (req, s, h, reuse) => this.inbound(req, new UpgradeResponse(s, h, reuse)),
          this.h2Loader((stream, headers) => this.inboundH2(stream, headers)),
        ),
      );
    }
    if (cfg.mode === 'sidecar') {
      for (const o of cfg.outbound) {
        this.fixed.push(
          listen(
            `outbound ${o.service}`,
            cfg.host,
            o.port,
            (req, res) => this.toService(o.service, req, res),
            (req, s, h, reuse) => this.toService(o.service, req, new UpgradeResponse(s, h, reuse)),
            this.h2Loader((stream, headers) => this.sendH2(this.table?.services.get(o.service), o.service, stream, headers)),
          ),
        );
      }
      if (cfg.forwardProxyPort !== undefined)
        this.fixed.push(
          listen(
            'forward proxy',
            cfg.host,
            cfg.forwardProxyPort,
            (req, res) => this.forwardProxy(req, res),
            // WebSocket and `Upgrade: h2c` (curl --http2, Java's HttpClient) as on the outbound ports: a 501 refused every such request.
            (req, s, h, reuse) => this.forwardProxy(req, new UpgradeResponse(s, h, reuse)),
          ),
        );
    }
    if (cfg.adminPort !== undefined) this.fixed.push(listen('admin', cfg.host, cfg.adminPort, (req, res) => this.admin(req, res)));
    if (cfg.dapr) this.dapr = this.startDapr(cfg.dapr);
    this.snapshots.start();
  }

  private async startDapr(d: NonNullable<ProxyConfig['dapr']>): Promise<import('./dapr/index.js').DaprApi | undefined> {
    const { startDaprApi } = await import('./dapr/index.js');
    const app = this.appCluster?.endpoints[0];
    try {
      return await startDaprApi({
        cfg: d.config,
        port: d.port,
        stateDir: this.cfg.stateDir,
        mesh: (service, req, res) => this.toService(service, req, res),
        app: () => ({ host: app?.host ?? this.cfg.host, port: app?.port ?? this.cfg.appPort ?? 0 }),
        ...(d.apiToken ? { apiToken: d.apiToken } : {}),
        ...(d.appToken ? { appToken: d.appToken } : {}),
        instance: this.cfg.proxyId,
        log: this.log,
      });
    } catch (err) {
      this.log(`dapr: cannot serve the building-block API on 127.0.0.1:${d.port}: ${(err as Error).message}`);
      return undefined;
    }
  }

  /** Drains every listener (in-flight requests finish within the grace period), then closes the pools. */
  async stop(): Promise<void> {
    this.draining = true;
    this.held.failAll('draining', 'the proxy is shutting down');
    this.snapshots.stop();
    const dapr = this.dapr;
    const deadline = performance.now() + this.cfg.drainSeconds * 1000;
    // The building-block API drains with the mesh's listeners: invocations in flight get the same time as mesh calls.
    await Promise.all([...[...this.fixed, ...this.gatewayListeners.values()].map((l) => l.drain(deadline)), dapr?.then((d) => d?.close(deadline))]);
    this.h2?.sessions.closeAll();
    this.h2?.mirrorSessions.closeAll();
    this.pools.closeAll();
    this.accessLog.flush();
    // A sink tracing-off is closing still sends its last spans: waited for too, until the deadline.
    const closing = Promise.all(this.closingSpans.values());
    const left = deadline - performance.now();
    await Promise.all([this.spans?.close(deadline), left > 0 ? Promise.race([closing, new Promise((r) => setTimeout(r, left).unref())]) : undefined]);
    await Promise.all(this.recorders().map(([, r]) => r.close().catch(() => undefined))); // shutting down: a failed last write was counted as dropped
  }

  /** Every recorder with its service. */
  private recorders(): [string, Recorder][] {
    const out: [string, Recorder][] = [];
    if (this.selfRecorder) out.push([this.cfg.service, this.selfRecorder]);
    for (const e of this.gatewayRecorders ?? []) out.push(e);
    return out;
  }

  private recordingCounts(): { service: string; recorded: number; dropped: number }[] {
    const totals = new Map<string, { recorded: number; dropped: number }>();
    for (const [service, t] of this.recordingTotals) totals.set(service, { ...t });
    // A replaced recorder still finishing counts here until its counts join recordingTotals (in the
    // same turn it leaves this set): the counters never go backwards.
    for (const [service, r] of [...this.recorders(), ...this.closingRecorders]) {
      const t = totals.get(service) ?? { recorded: 0, dropped: 0 };
      t.recorded += r.recorded;
      t.dropped += r.dropped;
      totals.set(service, t);
    }
    return [...totals].map(([service, t]) => ({ service, ...t }));
  }

  /** Loads the replay's responder when the snapshot names one for this sidecar; writes its result when it goes away. */
  private applyMock(mock: MeshMock | undefined): void {
    if (this.cfg.mode !== 'sidecar') return;
    const id = mock && (mock.variant === undefined || mock.variant === this.cfg.variant) ? mock.id : undefined;
    if (id === this.responderId) return;
    this.responderId = id;
    const old = this.responder;
    this.responder = undefined;
    if (old) void old.finish().catch((err: Error) => this.log(`mock ${old.id}: cannot write its result: ${err.message}`));
    if (id === undefined) return;
    void import('./responder.js')
      .then((mod) => mod.Responder.load(id, this.cfg.stateDir, this.cfg.proxyId))
      .then(
        (r) => {
          if (this.responderId !== id) return;
          this.responder = r;
          this.log(`answering replayed downstream calls from ${id}`);
        },
        (err: Error) => this.log(`mock ${id}: cannot load: ${err.message}`),
      );
  }

  /**
   * Starts, keeps or stops recorders as the snapshot's `recordings` say. A stopped recorder's file is
   * finished in the background; recorder.ts is loaded only when a recording first applies here.
   */
  private applyRecordings(all: Record<string, MeshRecording> | undefined): void {
    const wanted = new Map<string, MeshRecording>();
    for (const [service, r] of Object.entries(all ?? {})) {
      // The gateway records what comes in through the ingress (`ingress`); each sidecar its own service.
      if (service === (this.cfg.mode === 'gateway' ? 'ingress' : this.cfg.service)) wanted.set(service, r);
    }
    if (wanted.size === 0 && !this.selfRecorder && !this.gatewayRecorders) return;
    this.recorderMod ??= import('./recorder.js');
    void this.recorderMod.then((mod) => {
      const current = new Map(this.recorders());
      const next = new Map<string, Recorder>();
      for (const [service, settings] of wanted) {
        const cur = current.get(service);
        if (cur?.sameAs(settings)) {
          next.set(service, cur);
          continue;
        }
        next.set(service, new mod.Recorder(settings, { stateDir: this.cfg.stateDir, proxyId: this.cfg.proxyId, revision: process.env.BERTH_REVISION, onError: (err) => this.log(`recording ${settings.id}: ${err.message} (entries dropped)`) }));
        this.log(`recording ${service} (${settings.id}, sample ${settings.sample})`);
      }
      for (const [service, r] of current) {
        if (next.get(service) === r) continue;
        const closing: [string, Recorder] = [service, r];
        this.closingRecorders.add(closing);
        const settle = (): void => {
          // Its final counts move to the totals in the turn it stops being counted as closing.
          this.closingRecorders.delete(closing);
          const t = this.recordingTotals.get(service) ?? { recorded: 0, dropped: 0 };
          t.recorded += r.recorded;
          t.dropped += r.dropped;
          this.recordingTotals.set(service, t);
        };
        void r.close().then(
          () => {
            settle();
            this.log(`recording ${r.settings.id} of ${service} stopped: ${r.recorded} entries, ${r.dropped} dropped`);
          },
          (err: Error) => {
            settle();
            this.log(`recording ${r.settings.id}: closing failed: ${err.message}`);
          },
        );
      }
      if (this.cfg.mode === 'gateway') this.gatewayRecorders = next.size > 0 ? next : undefined;
      else this.selfRecorder = next.get(this.cfg.service);
    });
  }

  /** The cluster named as `cluster` in the table now in force (itself when the table no longer has it). */
  private readonly currentCluster = (cluster: Cluster): Cluster => this.table?.clusters.get(cluster.name) ?? cluster;

  private apply(snapshot: MeshSnapshot): void {
    // Compiled first against scratch registries: a snapshot that does not compile throws here (the
    // snapshot client keeps the last good one) having changed nothing.
    new RoutingTable(snapshot, new EndpointRegistry(), new ThrottleRegistry());
    const table = new RoutingTable(snapshot, this.registry, this.throttles);
    this.table = table;
    this.appProtocol = snapshot.config.services?.[this.cfg.service]?.protocol ?? 'http';
    this.meshApp = snapshot.app;
    this.edge = { requestId: snapshot.config.requestId !== false, forwardedFor: snapshot.config.forwardedFor !== false, trustedHops: snapshot.config.trustedHops ?? 0 };
    const keep = new Set(table.addresses);
    const registered = table.registered(this.cfg.proxyId);
    if (registered && !this.wasRegistered) this.aimApp();
    // Ready: the app is asked for its subscriptions, as Dapr does once the app channel is up.
    if (registered) void this.dapr?.then((d) => d?.appReady());
    this.wasRegistered = registered;
    const app = this.appCluster?.endpoints[0];
    if (app) keep.add(`${app.host}:${app.port}`);
    this.pools.retain(keep);
    this.h2?.sessions.retain(keep);
    this.h2?.mirrorSessions.retain(keep);
    if (this.cfg.mode === 'gateway') this.applyGatewayListeners(table);
    this.applyRecordings(snapshot.config.recordings);
    this.applyTracing(snapshot.config.tracing);
    this.applyMock(snapshot.config.mocks?.[this.cfg.service]);
    if (!this.shadow && !this.shadowLoading && Object.values(snapshot.config.services ?? {}).some((s) => s.routes?.some((r) => r.mirror))) {
      this.shadowLoading = true;
      void import('./shadow.js').then((mod) => {
        this.shadow = { mod, stats: new mod.ShadowStats() };
        this.shadow.stats.setIgnores(this.serviceConfig);
      });
    }
    this.serviceConfig = snapshot.config.services;
    this.shadow?.stats.setIgnores(snapshot.config.services);
    this.held.recheck((service) => {
      const entry = table.services.get(service);
      // Released once the service has an endpoint; send() holds it again if its route's destination (a variant) still has none.
      return !entry || !entry.activation || entry.cluster.endpoints.length > 0;
    });
  }

  /** Spans sent and dropped, tracing on or off since; undefined: tracing never sent or dropped a span. */
  private spanCounts(): { sent: number; dropped: number; otlpSent: number; otlpDropped: number } | undefined {
    const t = { ...this.spanTotals };
    for (const s of this.spans ? [...this.closingSpans.keys(), this.spans] : this.closingSpans.keys()) {
      t.sent += s.sent;
      t.dropped += s.dropped;
      t.otlpSent += s.otlpSent;
      t.otlpDropped += s.otlpDropped;
    }
    return this.spans || t.sent + t.dropped > 0 ? t : undefined;
  }

  /** Starts, updates or stops span emission as the snapshot's `tracing` says. */
  private applyTracing(tracing: MeshTracing | undefined): void {
    if (!tracing) {
      this.sample = 0;
      const old = this.spans;
      this.spans = undefined;
      if (old) {
        this.closingSpans.set(
          old,
          old.close().then(() => {
            this.closingSpans.delete(old);
            this.spanTotals.sent += old.sent;
            this.spanTotals.dropped += old.dropped;
            this.spanTotals.otlpSent += old.otlpSent;
            this.spanTotals.otlpDropped += old.otlpDropped;
          }),
        );
      }
      return;
    }
    if (this.spans) {
      this.spans.settings = tracing;
      this.sample = tracing.sample;
      return;
    }
    this.spansMod ??= import('./spans.js');
    void this.spansMod.then((mod) => {
      if (this.spans || this.draining) return;
      this.spans = new mod.SpanSink(tracing, {
        proxy: this.cfg.proxyId,
        service: this.selfSource,
        post: (batch, signal) => this.snapshots.post('/api/v1/traces', batch, signal),
        log: this.log,
      });
      this.sample = tracing.sample;
      this.propagateSampled = mod.propagateSampled;
      this.log(`tracing: sampling ${tracing.sample} of new traces${tracing.otlp ? `, exporting to ${tracing.otlp}` : ''}`);
    });
  }

  private propagateSampled: typeof import('./spans.js').propagateSampled | undefined;

  /** The hop's trace context: a bare id while tracing is off (as before), a span context while it is on. */
  private trace(headers: Record<string, string | string[] | undefined>): TraceRef {
    return this.spans && this.propagateSampled ? this.propagateSampled(headers, this.sample) : propagateTrace(headers);
  }

  /**
   * The app listens on its private PORT on whatever address it chose (HOST, 127.0.0.1, ::1, 0.0.0.0,
   * ::): aim the app endpoint at the first of HOST, 127.0.0.1, ::1 that accepts a connection. Runs
   * when the instance is registered (its readiness passed) and after a refused request, off the
   * request path; until it answers, requests go where they went before.
   */
  private aimApp(): void {
    const ep = this.appCluster?.endpoints[0];
    const now = performance.now();
    if (!ep || now - this.appAimedAt < APP_REAIM_MS) return;
    this.appAimedAt = now;
    void findListener(ep.port, this.cfg.host).then((host) => {
      if (host === undefined || host === ep.host) return;
      this.log(`app listens on PORT ${ep.port} at ${host}: forwarding there`);
      ep.update({ id: ep.id, host, port: ep.port, variant: ep.variant });
    });
  }

  /** The gateway serves each meshed service's 127.0.0.1:port and the ingress port (level-triggered). */
  private applyGatewayListeners(table: RoutingTable): void {
    if (this.draining) return;
    const wanted = new Map<number, string>();
    for (const s of table.services.values()) wanted.set(s.port, s.name);
    if (table.ingressPort !== undefined) wanted.set(table.ingressPort, '');
    for (const [port, l] of this.gatewayListeners) {
      if (!wanted.has(port)) {
        // New connections are refused at once; requests in flight finish (as on SIGTERM), not cut.
        void l.drain(performance.now() + this.cfg.drainSeconds * 1000);
        this.gatewayListeners.delete(port);
      }
    }
    for (const [port, name] of wanted) {
      if (this.gatewayListeners.has(port)) continue;
      const what = name ? `service ${name}` : 'ingress';
      this.gatewayListeners.set(
        port,
        new Listener({
          name: what,
          host: '127.0.0.1',
          port,
          lean: true,
          keepAliveMs: GATEWAY_KEEP_ALIVE_MS,
          log: this.log,
          refused: this.refusedAt('outbound'),
          handler: (req, res, peer) => this.gateway(port, req, res, peer),
          h2: this.h2Loader((stream, headers, peer) => {
            const t = this.table;
            const name = port === t?.ingressPort ? t.ingress?.(headers[':path'] ?? '/') : t?.byPort.get(port)?.name;
            this.sendH2(name === undefined ? undefined : t?.services.get(name), name ?? `port ${port}`, stream, headers, peer);
          }),
          upgrade: (req, s, h, reuse) => this.gateway(port, req, new UpgradeResponse(s, h, reuse), req.socket.remoteAddress),
        }),
      );
    }
  }

  private gateway(port: number, req: ProxyRequest, res: ProxyResponse, peer: string | undefined): void {
    const table = this.table;
    if (!table) return reply(res, 503, 'no-configuration', 'the gateway has no routing configuration yet');
    if (port === table.ingressPort) {
      const to = table.ingress?.(req.url ?? '/');
      if (!to) return reply(res, 404, 'no-route', 'no ingress route matches this request');
      return this.toService(to, req, res, peer, this.gatewayRecorders !== undefined);
    }
    const route = table.byPort.get(port);
    if (!route) return reply(res, 503, 'no-route', 'this port is not served any more');
    this.send(route, req, res, peer);
  }

  /**
   * Whether this instance takes a request: it is an endpoint in this sidecar's snapshot, or withdrawn
   * but still running while the other proxies drop it (`leaving`: a proxy with an older snapshot may
   * still send it requests, and it can serve them), or the sender routed it here with a newer snapshot
   * than this sidecar holds yet (proxies learn a snapshot at different moments — after a control-plane
   * restart, seconds apart — and the newer one is right).
   */
  private acceptsInbound(senderVersion: number): boolean {
    const table = this.table;
    if (!table) return senderVersion > 0;
    return table.registered(this.cfg.proxyId) || table.leaving(this.cfg.proxyId) || senderVersion > table.version;
  }

  private inbound(req: ProxyRequest, res: ProxyResponse): void {
    if (this.draining) return reply(res, 503, 'draining', 'instance is shutting down');
    if (!this.acceptsInbound(takeSnapshotVersion(req.headers))) return reply(res, 503, 'app-not-ready', 'instance is not ready');
    const started = performance.now();
    const trace = this.trace(req.headers);
    const source = takeSource(req.headers, this.knownSource);
    addRequestHeaders(req.headers, this.edge, undefined);
    if (this.appToken !== undefined) req.headers['dapr-api-token'] = this.appToken;
    this.inboundAccepted++;
    this.inflight++;
    const rec = this.selfRecorder && !(res instanceof UpgradeResponse) ? this.selfRecorder.begin(req, traceIdOf(trace)) : undefined;
    dispatch(req, res, {
      pools: this.pools,
      cluster: this.appCluster!,
      app: true,
      tap: rec,
      done: (status) => {
        this.inflight--;
        rec?.finish(status);
        if (status === 503 || status === 502) this.aimApp(); // refused: the app may have bound another address
        this.logged('inbound', this.cfg.service, 'inbound', this.cfg.variant, req, status, started, trace, source);
      },
    });
  }

  /** Loads the HTTP/2 path once, then hands the listener its stream handler. */
  private h2Loader(handler: H2Handler): () => Promise<H2Handler> {
    return async () => {
      if (!this.h2) {
        const [mod, tr, mirrorMod] = await Promise.all([import('./h2-forward.js'), import('./h2-to-h1.js'), import('./h2-mirror.js')]);
        this.h2 ??= { mod, tr, sessions: new mod.H2Sessions(), mirrorMod, mirrorSessions: new mod.H2Sessions() };
      }
      return handler;
    };
  }

  /** HTTP/2 (h2c, gRPC) to the app, like inbound(). */
  private inboundH2(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    const { mod, sessions } = this.h2!;
    const { h2Reply } = mod;
    if (this.draining) return h2Reply(stream, 503, 'draining', 'instance is shutting down');
    if (!this.acceptsInbound(takeSnapshotVersion(headers))) return h2Reply(stream, 503, 'app-not-ready', 'instance is not ready');
    const started = performance.now();
    const trace = this.trace(headers);
    const source = takeSource(headers, this.knownSource);
    addRequestHeaders(headers, this.edge, undefined);
    if (this.appToken !== undefined) headers['dapr-api-token'] = this.appToken;
    this.inboundAccepted++;
    this.inflight++;
    const { tr } = this.h2!;
    if (this.appProtocol === 'http' && !isGrpcRequest(headers)) {
      // The app speaks HTTP/1.1: the stream is translated (gRPC needs HTTP/2 end to end — its status is in
      // trailers — and is kept as it is; gRPC-Web, made for HTTP/1.1, is translated).
      const req = new tr.H2AsH1Request(stream, headers);
      const go = (): void => {
        // Recorded like an HTTP/1.1 request (the app sees one); gRPC and h2c apps are not recorded yet.
        const rec = this.selfRecorder?.begin(req, traceIdOf(trace));
        const done = (status: number): void => {
          this.inflight--;
          rec?.finish(status);
          this.logged('inbound', this.cfg.service, 'inbound', this.cfg.variant, req, status, started, trace, source);
        };
        // Reset by the client in the same read as its headers (a rapid-reset flood): no connection is opened for it.
        if (stream.closed || stream.destroyed) return done(0);
        forward(req, new tr.H2AsH1Response(stream), { pools: this.pools, cluster: this.appCluster!, app: true, done, tap: rec });
      };
      // One turn later, the frames read with the headers (a reset) have been seen.
      setImmediate(go);
      return;
    }
    const head = mod.h2RequestHead(headers);
    mod.forwardH2(stream, headers, {
      sessions,
      cluster: this.appCluster!,
      head,
      app: true,
      done: (status, _ep, grpcStatus) => {
        this.inflight--;
        this.logged('inbound', this.cfg.service, 'inbound', this.cfg.variant, head, status, started, trace, source, grpcStatus);
      },
    });
  }

  /** HTTP/2 to a mesh service: its routes (match, weights, fault abort, timeout), limits and policy, like send(). */
  private sendH2(service: ServiceEntry | undefined, name: string, stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, peer?: string, held?: HeldFrom): void {
    const { mod, sessions } = this.h2!;
    const { h2Reply } = mod;
    if (!service) return h2Reply(stream, 503, 'unknown-service', `service "${name}" is not in the mesh (yet)`);
    const head = mod.h2RequestHead(headers);
    const route = service.route(head);
    if (!route) {
      h2Reply(stream, 404, 'no-route', `no route of ${service.name} matches this request`);
      return this.logged('outbound', service.name, '-', '-', head, 404, held?.started ?? performance.now(), held?.trace ?? this.trace(headers), undefined, ownGrpcStatus(stream, 404));
    }
    const started = held?.started ?? performance.now();
    const trace = held?.trace ?? this.trace(headers);
    // Released after a hold: the edge headers and the fault roll were done before it (x-forwarded-for
    // got the client twice).
    if (!held) addRequestHeaders(headers, this.edge, this.cfg.mode === 'gateway' ? peer : undefined);
    headers[SOURCE_HEADER] = this.selfSource;
    headers[SNAPSHOT_HEADER] = this.table?.versionHeader ?? '0';
    const fault = route.fault;
    if (!held && fault?.abort && Math.random() * 100 < fault.abort.percent) {
      h2Reply(stream, fault.abort.status, 'fault-abort', 'fault injected');
      return this.logged('outbound', service.name, route.name, '-', head, fault.abort.status, started, trace, undefined, ownGrpcStatus(stream, fault.abort.status));
    }
    const cluster = route.destination();
    if (service.activation && cluster.endpoints.length === 0) {
      // Scaled to zero: the stream waits (its body behind HTTP/2 flow control) while an instance starts.
      // Timed and traced from the first hold (as send()).
      const failed = (reason: string, message: string): void => {
        h2Reply(stream, 503, reason, message);
        this.logged('outbound', service.name, route.name, '-', head, 503, started, trace, undefined, ownGrpcStatus(stream, 503));
      };
      return this.held.hold(
        service.name,
        {
          key: stream,
          release: () => {
            const entry = this.table?.services.get(service.name);
            if (entry) this.sendH2(entry, service.name, stream, headers, peer, { started, trace });
            else failed('unknown-service', `service "${service.name}" left the mesh`);
          },
          fail: failed,
          // A client leaving while held is a 499, logged as every other.
          onClientGone: (fn) => {
            const gone = (): void => {
              fn();
              this.logged('outbound', service.name, route.name, '-', head, 0, started, trace, undefined, ownGrpcStatus(stream, 0));
            };
            stream.once('close', gone);
            return () => stream.off('close', gone);
          },
        },
        service.activation.timeoutMs,
      );
    }
    const admitted = this.admit(route, cluster, (status, reason, message, extra) => h2Reply(stream, status, reason, message, extra));
    if (!admitted.ok) return this.logged('outbound', service.name, route.name, '-', head, admitted.status, started, trace, undefined, ownGrpcStatus(stream, admitted.status));
    const go = (): void => {
      if (stream.destroyed || stream.closed) {
        // The client went away during a fault delay.
        admitted.release();
        return this.logged('outbound', service.name, route.name, '-', head, 0, started, trace, undefined, ownGrpcStatus(stream, 0));
      }
      applyHeaderOps(headers, route.requestHeaders);
      const mirrored = this.mirrorH2(service.name, route, stream, headers, head);
      mod.forwardH2(stream, headers, {
        sessions,
        // After a fault delay, from the table in force now.
        cluster: this.currentCluster(admitted.cluster ?? cluster),
        current: this.currentCluster,
        platformRetries: true,
        head,
        ...(route.timeout !== undefined ? { timeout: route.timeout } : {}),
        ...(route.responseHeaders ? { responseHeaders: route.responseHeaders } : {}),
        ...(route.retries ? { retries: route.retries } : {}),
        ...(mirrored ? { tap: mirrored.tap } : {}),
        done: (status, ep, grpcStatus) => {
          admitted.release();
          mirrored?.done(status);
          this.logged('outbound', service.name, route.name, ep?.variant ?? '-', head, status, started, trace, undefined, grpcStatus);
        },
      });
    };
    if (fault?.delay && Math.random() * 100 < fault.delay.percent) setTimeout(go, fault.delay.fixedDelay);
    else go();
  }

  /**
   * A copy of an HTTP/2 stream for the route's mirror (its headers as they are now, the route's
   * rewrites applied, as HTTP/1.1's): the tap feeds it the body and the comparison the answer;
   * `done` ends them with the primary exchange. Undefined: no copy.
   */
  private mirrorH2(service: string, route: CompiledRoute, stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, head: RequestHead): { tap: ExchangeTap; done(status: number): void } | undefined {
    const { mirror } = route;
    if (!mirror || !(Math.random() * 100 < mirror.percent)) return undefined;
    const { mirrorMod, mirrorSessions } = this.h2!;
    const cmp = this.shadow ? new this.shadow.mod.ShadowComparison(this.shadow.stats, service, route.name, head.method ?? 'GET', head.url ?? '/', mirror.key) : undefined;
    const { send, span } = mirrorMod.h2MirrorSender(mirrorSessions, mirror.cluster, head, headers);
    const copy = this.mirrors.start(!stream.endAfterHeaders, Number(headers['content-length']), send, cmp, route.timeout, { span, settled: this.copySettled(route, head) });
    if (!copy) return undefined;
    return {
      tap: mirrorTap(undefined, copy, cmp),
      done: (status) => {
        copy.primaryDone();
        cmp?.primaryDone(status);
      },
    };
  }

  /**
   * The route's and the destination's rate and concurrency limits: either every one admits the
   * request (release() gives the concurrency slots back when it ends), or it is refused through
   * `refuse` (429 with Retry-After, or 503 concurrency-limit) and counted.
   */
  private admit(
    route: CompiledRoute,
    cluster: Cluster,
    refuse: (status: number, reason: string, message: string, extra?: Record<string, string>) => void,
  ): { ok: true; release(): void; cluster?: Cluster } | { ok: false; status: number } {
    // A variant's requests count against the service's own limits as well as the variant's.
    const whole = cluster.whole;
    if (!route.throttle && !cluster.throttle && !whole) return UNLIMITED;
    const admitted: Throttle[] = [];
    const release = (): void => admitted.forEach((a) => a.release());
    // Refusals are labelled with the destination whose limit refused (the route's count against the picked one).
    for (const [t, owner] of [[route.throttle, cluster], [whole?.throttle, whole ?? cluster], [cluster.throttle, cluster]] as const) {
      if (!t) continue;
      let verdict = t.admit();
      if (verdict === 'ok') {
        admitted.push(t);
        continue;
      }
      let refuser = owner;
      // A release's canary over its budget: the request is served by stable, not refused.
      if (t === cluster.throttle && cluster.spill) {
        const spill = cluster.spill;
        const next = spill.throttle?.admit() ?? 'ok';
        if (next === 'ok') {
          if (spill.throttle) admitted.push(spill.throttle);
          this.metrics.throttle(cluster.name, route.name, 'overflow');
          return { ok: true, cluster: spill, release };
        }
        // Stable is over its own limit too: one refusal, stable's.
        refuser = spill;
        verdict = next;
      }
      release();
      this.metrics.throttle(refuser.name, route.name, verdict === 'concurrency' ? 'concurrency' : 'rate');
      if (verdict === 'concurrency') {
        refuse(503, 'concurrency-limit', 'too many requests in flight');
        return { ok: false, status: 503 };
      }
      refuse(429, 'rate-limited', 'rate limit exceeded', { 'retry-after': String(verdict) });
      return { ok: false, status: 429 };
    }
    return { ok: true, release };
  }

  private toService(service: string, req: ProxyRequest, res: ProxyResponse, peer?: string, ingress = false): void {
    if (this.responder && !(res instanceof UpgradeResponse) && this.responder.handle(service, req, res)) return;
    const route = this.table?.services.get(service);
    if (!route) {
      reply(res, 503, 'unknown-service', `service "${service}" is not in the mesh (yet)`);
      // Counted and logged as a no-route is (Envoy's NR); the metric label stays fixed (the name is the client's).
      return this.logged('outbound', '-', '-', '-', req, 503, performance.now(), this.trace(req.headers));
    }
    this.send(route, req, res, peer, ingress);
  }

  /** Applies the destination service's routes (fault, mirror, weighted destinations), then forwards. */
  private send(service: ServiceEntry, req: ProxyRequest, res: ProxyResponse, peer?: string, ingress = false, held?: HeldFrom): void {
    const route = service.route(req);
    if (!route) {
      // Counted and logged as every answer (Envoy's NR): a misrouted client shows in the error rate.
      reply(res, 404, 'no-route', `no route of ${service.name} matches this request`);
      return this.logged('outbound', service.name, '-', '-', req, 404, held?.started ?? performance.now(), held?.trace ?? this.trace(req.headers));
    }
    // One draw per request: the destination checked for endpoints is the one the request goes to.
    const picked = route.destination();
    // Scaled to zero: hold the request while an instance starts (released by the snapshot that lists it).
    if (service.activation && picked.endpoints.length === 0) {
      const name = service.name;
      // Timed and traced from the first hold: its answer, whichever, is counted, logged and traced once.
      const from = held ?? { started: performance.now(), trace: this.trace(req.headers) };
      const failed = (reason: string, message: string): void => {
        reply(res, 503, reason, message);
        this.logged('outbound', name, route.name, '-', req, 503, from.started, from.trace);
      };
      return this.held.hold(
        name,
        {
          key: req,
          // Routed afresh with the table that now lists an endpoint.
          release: () => {
            const entry = this.table?.services.get(name);
            if (entry) this.send(entry, req, res, peer, ingress, from);
            else failed('unknown-service', `service "${name}" left the mesh`);
          },
          fail: failed,
          // A client leaving while held is a 499, logged as every other.
          onClientGone: (fn) => {
            const gone = (): void => {
              fn();
              this.logged('outbound', name, route.name, '-', req, 0, from.started, from.trace);
            };
            res.once('close', gone);
            return () => res.off('close', gone);
          },
        },
        service.activation.timeoutMs,
      );
    }
    const started = held?.started ?? performance.now();
    const trace = held?.trace ?? this.trace(req.headers);
    addRequestHeaders(req.headers, this.edge, this.cfg.mode === 'gateway' ? peer : undefined);
    req.headers[SOURCE_HEADER] = this.selfSource;
    req.headers[SNAPSHOT_HEADER] = this.table?.versionHeader ?? '0';
    const fault = route.fault;
    if (fault?.abort && Math.random() * 100 < fault.abort.percent) {
      reply(res, fault.abort.status, 'fault-abort', 'fault injected');
      return this.logged('outbound', service.name, route.name, '-', req, fault.abort.status, started, trace);
    }
    const admitted = this.admit(route, picked, (status, reason, message, extra) => reply(res, status, reason, message, extra));
    if (!admitted.ok) return this.logged('outbound', service.name, route.name, '-', req, admitted.status, started, trace);
    const cluster = admitted.cluster ?? picked;
    const rec = this.selfRecorder || ingress ? this.recordOutbound(service.name, req, res, traceIdOf(trace)) : undefined;
    const opts: ForwardOptions & { route: CompiledRoute } = {
      pools: this.pools,
      cluster,
      current: this.currentCluster,
      route,
      tap: rec,
      done: (status, ep) => {
        admitted.release();
        rec?.finish(status);
        this.logged('outbound', service.name, route.name, ep?.variant ?? '-', req, status, started, trace);
      },
    };
    if (fault?.delay && Math.random() * 100 < fault.delay.percent) {
      // A client leaving during the delay is done with at once: nothing is sent, its slots are free.
      const gone = (): void => {
        clearTimeout(delayed);
        opts.done?.(0, undefined);
      };
      const delayed = setTimeout(() => {
        res.off('close', gone);
        this.mirrorAndForward(service.name, req, res, opts);
      }, fault.delay.fixedDelay);
      res.once('close', gone);
    } else this.mirrorAndForward(service.name, req, res, opts);
  }

  /** The gateway records what comes in through the ingress; a sidecar keeps its app's calls made for a recorded request in flight. */
  private recordOutbound(service: string, req: ProxyRequest, res: ProxyResponse, trace: string): RecordedExchange | undefined {
    if (res instanceof UpgradeResponse) return undefined;
    if (this.cfg.mode === 'gateway') return this.gatewayRecorders?.get('ingress')?.begin(req, trace);
    return this.selfRecorder?.beginDownstream(req, trace, service);
  }

  private mirrorAndForward(service: string, req: ProxyRequest, res: ProxyResponse, opts: ForwardOptions & { route: CompiledRoute }): void {
    const { mirror } = opts.route;
    if (mirror && !(res instanceof UpgradeResponse) && Math.random() * 100 < mirror.percent) {
      const cmp = this.shadow ? new this.shadow.mod.ShadowComparison(this.shadow.stats, service, opts.route.name, req.method ?? 'GET', req.url ?? '/', mirror.key) : undefined;
      const copy = this.mirrors.begin(mirror.cluster, req, opts.route.requestHeaders, cmp, opts.route.timeout, this.copySettled(opts.route, req));
      if (copy) {
        // The copy takes the body as the primary sends it; the comparison sees the primary's answer.
        const tap = mirrorTap(opts.tap, copy, cmp);
        const done = opts.done;
        return dispatch(req, res, { ...opts, tap, done: (status, ep) => (done?.(status, ep), copy.primaryDone(), cmp?.primaryDone(status)) });
      }
    }
    dispatch(req, res, opts);
  }

  /** HTTP proxy requests (`GET http://orders/path`): routed by host name to the mesh service. */
  private forwardProxy(req: ProxyRequest, res: ProxyResponse): void {
    if (req.method === 'CONNECT') return reply(res, 405, 'connect-not-supported', 'CONNECT is not supported; send plain http://<service>/ requests');
    // Meant for this hop (RFC 9110 §11.7.1), which asked for none: never passed to the app (squid consumes it too).
    req.headers['proxy-authorization'] = undefined;
    // The listener put an absolute-form target's authority in Host (RFC 9112 §3.2.2).
    // The application's name from the snapshot in force (BERTH_APP when none came yet).
    const name = meshName(req.headers.host ?? '', this.meshApp ?? this.cfg.app);
    if (name === undefined) {
      reply(res, 404, 'not-a-mesh-name', `"${req.headers.host ?? ''}" is not a mesh service name (use http://<service>/ or <service>.<namespace>.svc.cluster.local)`);
      return this.logged('outbound', '-', '-', '-', req, 404, performance.now(), this.trace(req.headers));
    }
    this.toService(name, req, res);
  }

  /**
   * Counts and logs a request a listener answered itself (Listener's `refused`): destination, route
   * and variant `-`, as the forward proxy's refusals; method and path `-` when the head was unreadable.
   */
  private refusedAt(direction: 'inbound' | 'outbound'): (status: number, method?: string, target?: string) => void {
    return (status, method, target) => {
      const head = { method: method ?? '-', url: target ?? '-', headers: {} };
      // An inbound caller that sent no readable head never said who it is.
      this.logged(direction, '-', '-', '-', head, status, performance.now(), '-', direction === 'inbound' ? 'unknown' : undefined);
    };
  }

  private logged(direction: string, service: string, route: string, variant: string, req: RequestHead, status: number, started: number, ref: TraceRef, source?: string, grpcStatus?: string): void {
    this.requests++;
    const elapsed = performance.now() - started;
    // 0: the client went away before the answer ended; counted as nginx's 499 (client closed request).
    if (status === 0) status = 499;
    this.metrics.request(direction, service, variant, route, status, elapsed / 1000, source, grpcStatus);
    let trace: string;
    if (typeof ref === 'string') trace = ref;
    else {
      trace = ref.traceId;
      if (ref.sampled) this.span(direction, service, route, variant, req, status, started, elapsed, ref, source);
    }
    if (!this.table?.accessLog) return;
    this.accessLog.line(
      `{"ts":"${new Date().toISOString()}","proxy":${jsonString(this.cfg.proxyId)},"direction":"${direction}","service":${jsonString(service)},"variant":${jsonString(variant)},"route":${jsonString(route)},"method":${jsonString(req.method ?? '')},"path":${JSON.stringify(req.url)},"status":${status},${grpcStatus !== undefined ? `"grpc_status":${grpcStatus},` : ''}"ms":${elapsed.toFixed(3)},"trace":"${trace}"}\n`,
    );
  }

  /**
   * One span of a sampled request: the hop to `service` (outbound, client) or its arrival here
   * (inbound, server). The kind decides its status (spans.ts otlpJson: CLIENT errs on 4xx, SERVER
   * only on 5xx): an outbound span — the app's call through its sidecar, or the gateway's call into
   * the mesh for an outside client, even when this proxy answered it itself (no route, no endpoint, a
   * fault, a limit) — is the calling side's CLIENT span; the called side's inbound proxy records the
   * SERVER span of the same hop.
   */
  private span(direction: string, service: string, route: string, variant: string, req: RequestHead, status: number, started: number, elapsed: number, ctx: SpanContext, source: string | undefined): void {
    const inbound = direction === 'inbound';
    this.spans?.add({
      traceId: ctx.traceId,
      spanId: ctx.spanId,
      ...(ctx.parentId ? { parentId: ctx.parentId } : {}),
      kind: inbound ? 'server' : 'client',
      service,
      ...(inbound ? (source ? { source } : {}) : { source: this.selfSource }),
      variant,
      route,
      method: req.method ?? '',
      path: req.url ?? '/',
      status,
      // Wall clock at the end minus the monotonic duration: comparable across processes (timeOrigin + now drifts).
      start: Date.now() - elapsed,
      durationMs: elapsed,
      proxy: this.cfg.proxyId,
    });
  }

  /**
   * Records a sampled mirror copy's CLIENT span (as Envoy's shadow span) once the copy is over: a
   * child of the primary hop's span, so the shadow's own spans nest under the hop that copied them
   * instead of forming a second root of the trace. Undefined when this proxy records no spans.
   */
  private copySettled(route: CompiledRoute, req: RequestHead): CopySettled | undefined {
    const { mirror } = route;
    if (!this.spans || !mirror) return undefined;
    return (span, status, start, elapsed) =>
      this.spans?.add({
        traceId: span.traceId,
        spanId: span.spanId,
        parentId: span.parentId,
        kind: 'client',
        service: mirror.service,
        source: this.selfSource,
        variant: mirror.variant,
        route: route.name,
        method: req.method ?? '',
        path: req.url ?? '/',
        status,
        start,
        durationMs: elapsed,
        proxy: this.cfg.proxyId,
        shadow: true,
      });
  }

  private admin(req: ProxyRequest, res: ProxyResponse): void {
    const send = (status: number, body: string, type = 'application/json'): void => {
      res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
      res.end(body);
    };
    if (req.url === '/healthz') return send(200, 'ok\n', 'text/plain');
    if (req.url === '/metrics') return send(200, this.metrics.render(), 'text/plain; version=0.0.4');
    if (req.url === '/mesh/shadow') return send(200, JSON.stringify({ counts: this.shadow?.stats.all() ?? [], recent: this.shadow?.stats.recent ?? [] }));
    if (req.url === '/mesh/stats') return send(200, JSON.stringify(this.metrics.stats()));
    // The building-block components' states and subscriptions (the dashboard's Components view); null: no building-block API.
    if (req.url === '/mesh/components') return void (this.dapr ?? Promise.resolve(undefined)).then((d) => send(200, JSON.stringify(d?.describe() ?? null)));
    if (req.url === '/mesh/activity') return send(200, JSON.stringify({ inbound: this.inboundAccepted, inflight: this.inflight } satisfies MeshActivity));
    if (req.url === '/mesh/state') {
      const t = this.table;
      const services: Record<string, number> = {};
      for (const s of t?.services.values() ?? []) services[s.name] = s.cluster.endpoints.length;
      return send(
        200,
        JSON.stringify({
          proxy: this.cfg.proxyId,
          mode: this.cfg.mode,
          version: t?.version ?? null,
          services,
          registered: this.cfg.mode === 'gateway' ? this.cfg.proxyId === GATEWAY_ID : (t?.registered(this.cfg.proxyId) ?? false),
          draining: this.draining,
          requests: this.requests,
          held: this.held.size,
        }),
      );
    }
    send(404, '{"error":"not found"}');
  }
}
