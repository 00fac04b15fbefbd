// Subscriptions of the app: declarative ones (Subscription files in its scope) and programmatic
// ones (the app's `GET /dapr/subscribe`, asked once it is ready, as Dapr does at start). Each is a
// subscription on the pub/sub component with the app ID as consumer group, so every instance of a
// service shares one group. A message goes to the app as a CloudEvent; the app's answer decides:
// 2xx with SUCCESS or no status → done; RETRY, or an error other than 404 → redelivered with
// back-off; DROP or 404 → dropped (to the dead-letter topic when one is set).
import type { SubscriptionDecl } from '../../../lib/dapr-config.js';
import { buildDeliveryEvent } from '../../../components/pubsub/cloudevents.js';
import type { DeliveryOutcome, PubSubMessage, Subscription } from '../../../components/pubsub/types.js';
import { callApp, type AppAddress } from './app-channel.js';
import { compileMatch } from './match.js';
import type { ComponentRegistry } from './registry.js';

export interface SubscriptionInfo {
  pubsubname: string;
  topic: string;
  rules: { match: string; path: string }[];
  defaultPath?: string;
  deadLetterTopic?: string;
  bulk: boolean;
  metadata: Record<string, string>;
  type: 'DECLARATIVE' | 'PROGRAMMATIC';
}

interface ProgrammaticEntry {
  pubsubname?: unknown;
  topic?: unknown;
  route?: unknown;
  routes?: { rules?: { match?: unknown; path?: unknown }[]; default?: unknown };
  deadLetterTopic?: unknown;
  metadata?: Record<string, unknown>;
  bulkSubscribe?: { enabled?: unknown };
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
const withSlash = (p: string): string => (p.startsWith('/') ? p : `/${p}`);

export function fromDeclared(s: SubscriptionDecl): SubscriptionInfo {
  return {
    pubsubname: s.pubsubname,
    topic: s.topic,
    rules: s.routes.rules.map((r) => ({ match: r.match, path: r.path })),
    ...(s.routes.default !== undefined ? { defaultPath: s.routes.default } : {}),
    ...(s.deadLetterTopic !== undefined ? { deadLetterTopic: s.deadLetterTopic } : {}),
    bulk: s.bulkSubscribe?.enabled === true,
    metadata: s.metadata,
    type: 'DECLARATIVE',
  };
}

/** The app's answer to GET /dapr/subscribe, read leniently (entries Berth cannot use are reported and skipped). */
export function fromProgrammatic(body: unknown, log: (m: string) => void): SubscriptionInfo[] {
  if (!Array.isArray(body)) {
    log('GET /dapr/subscribe did not answer a JSON array: no programmatic subscriptions');
    return [];
  }
  const out: SubscriptionInfo[] = [];
  for (const e of body as ProgrammaticEntry[]) {
    const pubsubname = str(e?.pubsubname);
    const topic = str(e?.topic);
    if (!pubsubname || !topic) {
      log(`GET /dapr/subscribe: an entry without pubsubname or topic was skipped: ${JSON.stringify(e)}`);
      continue;
    }
    const rules = (e.routes?.rules ?? []).flatMap((r) => (str(r.path) ? [{ match: typeof r.match === 'string' ? r.match : '', path: r.path as string }] : []));
    const defaultPath = str(e.routes?.default) ?? str(e.route);
    const metadata: Record<string, string> = {};
    for (const [k, v] of Object.entries(e.metadata ?? {})) metadata[k] = String(v);
    const dl = str(e.deadLetterTopic);
    out.push({ pubsubname, topic, rules, ...(defaultPath ? { defaultPath } : {}), ...(dl ? { deadLetterTopic: dl } : {}), bulk: e.bulkSubscribe?.enabled === true, metadata, type: 'PROGRAMMATIC' });
  }
  return out;
}

/** The app's answer as JSON; undefined (no programmatic subscriptions, as Dapr) when it is not. */
function parseAnswer(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
}

export class Subscriber {
  readonly active: SubscriptionInfo[] = [];
  private readonly subs: Subscription[] = [];
  private stopped = false;

  constructor(
    private readonly registry: ComponentRegistry,
    private readonly app: () => AppAddress,
    private readonly opts: { appId: string; appToken?: string; log: (m: string) => void; deadLetter?: (r: { pubsub: string; topic: string; id: string; reason: 'DROP' | 'EXHAUSTED' | 'EXPIRED'; deadLetterTopic?: string; error?: string }) => void },
  ) {}

  /** Asks the app for its subscriptions (retrying while it does not answer), then subscribes to them and the declared ones. */
  async start(): Promise<void> {
    const declared = this.registry.cfg.subscriptions.map(fromDeclared);
    let programmatic: SubscriptionInfo[] = [];
    for (let attempt = 0; !this.stopped; attempt++) {
      try {
        const a = await callApp(this.app(), { method: 'GET', path: '/dapr/subscribe', token: this.opts.appToken, timeoutMs: 5000 });
        // Only an unanswered call is asked again: an answer that is not JSON is final (it was asked
        // again every 0.5 s for the sidecar's whole life, a request to the app each time).
        if (a.status >= 200 && a.status < 300 && a.body.length > 0) programmatic = fromProgrammatic(parseAnswer(a.body), this.opts.log);
        break;
      } catch (err) {
        if (attempt % 10 === 0) this.opts.log(`dapr: GET /dapr/subscribe on the app failed (${(err as Error).message}); trying again`);
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    const key = (s: SubscriptionInfo): string => `${s.pubsubname}\0${s.topic}`;
    const seen = new Set(declared.map(key));
    for (const s of [...declared, ...programmatic.filter((p) => !seen.has(key(p)))]) {
      if (this.stopped) return;
      try {
        await this.subscribe(s);
      } catch (err) {
        this.opts.log(`dapr: cannot subscribe to ${s.pubsubname}/${s.topic}: ${(err as Error).message}`);
      }
    }
  }

  private async subscribe(s: SubscriptionInfo): Promise<void> {
    const pubsub = await this.registry.pubsub(s.pubsubname);
    const rules = s.rules.map((r) => {
      try {
        return { test: compileMatch(r.match), path: r.path };
      } catch (err) {
        this.opts.log(`dapr: rule "${r.match}" of ${s.pubsubname}/${s.topic} is ignored: ${(err as Error).message}`);
        return { test: () => false, path: r.path };
      }
    });
    const sub = await pubsub.subscribe({
      topic: s.topic,
      consumerGroup: this.opts.appId,
      ...(s.deadLetterTopic ? { deadLetterTopic: s.deadLetterTopic } : {}),
      handler: (m) => this.deliver(s, rules, m),
      onDeadLetter: (e) => {
        this.opts.deadLetter?.({ pubsub: s.pubsubname, topic: s.topic, id: e.message.id, reason: e.reason, ...(e.deadLetterTopic ? { deadLetterTopic: e.deadLetterTopic } : {}), ...(e.error ? { error: e.error } : {}) });
        this.opts.log(`dapr: message ${e.message.id} of ${s.pubsubname}/${s.topic} ${e.reason === 'DROP' ? 'dropped' : e.reason === 'EXPIRED' ? 'expired' : 'exhausted its retries'}${e.deadLetterTopic ? `: sent to dead-letter topic ${e.deadLetterTopic}` : ''}${e.error ? ` (dead-letter publish failed, kept: ${e.error})` : ''}`);
      },
    });
    this.subs.push(sub);
    this.active.push(s);
  }

  private async deliver(s: SubscriptionInfo, rules: { test(e: Record<string, unknown>): boolean; path: string }[], m: PubSubMessage): Promise<DeliveryOutcome> {
    const event = buildDeliveryEvent(m, { topic: s.topic, pubsubName: s.pubsubname });
    const path = rules.find((r) => r.test(event))?.path ?? s.defaultPath;
    if (path === undefined) return 'DROP'; // no rule matched and no default: Dapr drops it
    const headers: Record<string, string> = { 'content-type': 'application/cloudevents+json', pubsubname: s.pubsubname };
    if (typeof event.traceparent === 'string') headers.traceparent = event.traceparent;
    const body = s.bulk
      ? { entries: [{ entryId: m.id, event, contentType: 'application/cloudevents+json', metadata: m.metadata }], id: m.id, pubsubname: s.pubsubname, topic: s.topic, type: 'com.dapr.event.sent', metadata: {} }
      : event;
    const a = await callApp(this.app(), { method: 'POST', path: withSlash(path), body: Buffer.from(JSON.stringify(body)), headers, token: this.opts.appToken });
    if (a.status === 404) return 'DROP';
    if (a.status < 200 || a.status >= 300) return 'RETRY';
    if (a.body.length === 0) return 'SUCCESS';
    let answer: unknown;
    try {
      answer = JSON.parse(a.body.toString('utf8'));
    } catch {
      return 'SUCCESS'; // a 2xx without a JSON status counts as success, as in Dapr
    }
    const status = s.bulk ? (answer as { statuses?: { status?: unknown }[] })?.statuses?.[0]?.status : (answer as { status?: unknown })?.status;
    if (status === undefined || status === null || status === '' || status === 'SUCCESS') return 'SUCCESS';
    if (status === 'DROP') return 'DROP';
    return 'RETRY'; // RETRY, or a status Dapr does not know: retried with a warning
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.allSettled(this.subs.map((s) => s.close()));
  }
}
