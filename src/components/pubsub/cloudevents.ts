// CloudEvents 1.0 (JSON event format) as Dapr's publish API builds them. A publish becomes one
// envelope with id, source (the publishing app), specversion 1.0, type com.dapr.event.sent,
// datacontenttype, data (JSON stays JSON, text stays a string, other bytes go to data_base64),
// time, and Dapr's extensions topic, pubsubname, traceid/traceparent/tracestate, expiration.
// A caller's own CloudEvent (application/cloudevents+json) is passed through, with only the
// missing required attributes and Dapr's routing extensions filled in. rawPayload skips the
// envelope on publish; the subscriber side then wraps the bytes in one (data_base64).
import { randomUUID } from 'node:crypto';

export const CLOUDEVENTS_CONTENT_TYPE = 'application/cloudevents+json';
export const DAPR_EVENT_TYPE = 'com.dapr.event.sent';
const RAW_EVENT_TYPE = 'com.dapr.event.sent'; // Dapr uses the same type for wrapped raw payloads

export type CloudEvent = Record<string, unknown> & {
  id: string;
  source: string;
  specversion: string;
  type: string;
};

export interface PublishEnvelopeInput {
  data: Buffer;
  /** Content type of the publish request; text/plain when absent, as Dapr does. */
  contentType?: string;
  topic: string;
  pubsubName: string;
  /** The publishing app's ID. */
  source: string;
  traceparent?: string;
  tracestate?: string;
  /** Request metadata: ttlInSeconds adds `expiration`, rawPayload=true skips the envelope. */
  metadata?: Record<string, string>;
  now?: Date;
  id?: string;
}

export interface EncodedEvent {
  body: Buffer;
  contentType: string;
}

export class CloudEventError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CloudEventError';
  }
}

const mediaType = (ct: string | undefined): string => (ct ?? '').split(';')[0].trim().toLowerCase();
export const isJsonType = (ct: string | undefined): boolean => {
  const t = mediaType(ct);
  return t === 'application/json' || t.endsWith('+json');
};
const isTextType = (ct: string | undefined): boolean => {
  const t = mediaType(ct);
  return t.startsWith('text/') || t === 'application/xml' || t.endsWith('+xml');
};
export const isCloudEventType = (ct: string | undefined): boolean => mediaType(ct) === CLOUDEVENTS_CONTENT_TYPE;

/** What a publish request puts on the broker. */
export function buildPublishEvent(input: PublishEnvelopeInput): EncodedEvent {
  const meta = input.metadata ?? {};
  if ((meta.rawPayload ?? '').toLowerCase() === 'true') {
    return { body: input.data, contentType: input.contentType ?? 'application/octet-stream' };
  }
  const now = input.now ?? new Date();
  const ttl = meta.ttlInSeconds ? Number(meta.ttlInSeconds) : undefined;
  const routing: Record<string, unknown> = { topic: input.topic, pubsubname: input.pubsubName };
  if (input.traceparent) Object.assign(routing, { traceid: input.traceparent, traceparent: input.traceparent });
  if (input.tracestate) routing.tracestate = input.tracestate;
  if (ttl !== undefined && Number.isFinite(ttl) && ttl > 0) routing.expiration = new Date(now.getTime() + ttl * 1000).toISOString();

  if (isCloudEventType(input.contentType)) {
    let own: unknown;
    try {
      own = JSON.parse(input.data.toString('utf8'));
    } catch (err) {
      throw new CloudEventError(`the body is not valid JSON for ${CLOUDEVENTS_CONTENT_TYPE}: ${(err as Error).message}`);
    }
    if (own === null || typeof own !== 'object' || Array.isArray(own)) throw new CloudEventError('a CloudEvent must be a JSON object');
    const event: Record<string, unknown> = {
      id: randomUUID(),
      source: input.source,
      specversion: '1.0',
      type: DAPR_EVENT_TYPE,
      time: now.toISOString(),
      ...(own as Record<string, unknown>),
      ...routing,
    };
    if (event.data !== undefined && event.datacontenttype === undefined) event.datacontenttype = 'application/json';
    assertValidCloudEvent(event);
    return encode(event);
  }

  const contentType = input.contentType ?? 'text/plain';
  const event: Record<string, unknown> = {
    id: input.id ?? randomUUID(),
    source: input.source,
    type: DAPR_EVENT_TYPE,
    specversion: '1.0',
    datacontenttype: contentType,
    time: now.toISOString(),
    ...routing,
  };
  setData(event, input.data, contentType);
  return encode(event);
}

/**
 * What the subscribing app receives for a message taken off the broker: the stored CloudEvent as
 * it is, or — for a raw payload — a CloudEvent around the bytes, as Dapr delivers raw messages.
 */
export function buildDeliveryEvent(
  message: { id: string; data: Buffer; contentType: string },
  ctx: { topic: string; pubsubName: string; source?: string; now?: Date },
): CloudEvent {
  if (isCloudEventType(message.contentType)) {
    try {
      const parsed = JSON.parse(message.data.toString('utf8')) as unknown;
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed) && validateCloudEvent(parsed as Record<string, unknown>).length === 0) {
        return parsed as CloudEvent;
      }
    } catch {
      // not a CloudEvent after all: wrapped below like any other raw payload
    }
  }
  const event: Record<string, unknown> = {
    id: message.id,
    source: ctx.source ?? ctx.pubsubName,
    type: RAW_EVENT_TYPE,
    specversion: '1.0',
    datacontenttype: 'application/octet-stream',
    time: (ctx.now ?? new Date()).toISOString(),
    topic: ctx.topic,
    pubsubname: ctx.pubsubName,
    data_base64: message.data.toString('base64'),
  };
  return event as CloudEvent;
}

/** The problems of an event against the CloudEvents 1.0 core spec and JSON format; [] when valid. */
export function validateCloudEvent(event: Record<string, unknown>): string[] {
  const problems: string[] = [];
  for (const attr of ['id', 'source', 'specversion', 'type']) {
    const v = event[attr];
    if (typeof v !== 'string' || v.length === 0) problems.push(`"${attr}" is required and must be a non-empty string`);
  }
  if (typeof event.specversion === 'string' && event.specversion !== '1.0') problems.push(`"specversion" must be "1.0", got "${event.specversion}"`);
  if (event.time !== undefined && (typeof event.time !== 'string' || !isRfc3339(event.time))) problems.push('"time" must be an RFC 3339 timestamp');
  for (const attr of ['datacontenttype', 'dataschema', 'subject']) {
    const v = event[attr];
    if (v !== undefined && (typeof v !== 'string' || v.length === 0)) problems.push(`"${attr}" must be a non-empty string when present`);
  }
  if (event.data !== undefined && event.data_base64 !== undefined) problems.push('"data" and "data_base64" are mutually exclusive');
  if (event.data_base64 !== undefined && (typeof event.data_base64 !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(event.data_base64))) {
    problems.push('"data_base64" must be base64');
  }
  for (const name of Object.keys(event)) {
    if (name === 'data' || name === 'data_base64') continue;
    if (!/^[a-z0-9]+$/.test(name)) problems.push(`attribute name "${name}" must be lower-case letters and digits only`);
  }
  return problems;
}

function assertValidCloudEvent(event: Record<string, unknown>): void {
  const problems = validateCloudEvent(event);
  if (problems.length > 0) throw new CloudEventError(`invalid CloudEvent: ${problems.join('; ')}`);
}

function setData(event: Record<string, unknown>, data: Buffer, contentType: string): void {
  if (data.length === 0) return;
  if (isJsonType(contentType)) {
    try {
      event.data = JSON.parse(data.toString('utf8'));
      return;
    } catch {
      throw new CloudEventError(`the body is not valid JSON although its content type is ${contentType}`);
    }
  }
  if (isTextType(contentType) || mediaType(contentType) === '') {
    event.data = data.toString('utf8');
    return;
  }
  event.data_base64 = data.toString('base64');
}

function encode(event: Record<string, unknown>): EncodedEvent {
  return { body: Buffer.from(JSON.stringify(event)), contentType: CLOUDEVENTS_CONTENT_TYPE };
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;
function isRfc3339(s: string): boolean {
  return RFC3339.test(s) && !Number.isNaN(Date.parse(s));
}
