// Dead letters of the building-block API, from the proxy that saw them to `berth events`. The proxy
// keeps its recent ones in `<stateDir>/dapr/<instance>/dead-letters.json` (only it writes the
// file); the node agent, which owns the instance and already reports its events, reads it and turns
// each new record into an event. The reasons and message template are fixed here, so a file cannot
// invent other events; its strings are capped.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface DeadLetterRecord {
  /** 1, 2, … within one run of the proxy. */
  seq: number;
  at: string;
  pubsub: string;
  topic: string;
  id: string;
  reason: 'DROP' | 'EXHAUSTED' | 'EXPIRED';
  deadLetterTopic?: string;
  /** The dead-letter publish failed: the message was kept and comes back. */
  error?: string;
}

export interface DeadLetterFile {
  /** When the writing proxy run started: records of an earlier run are not reported again. */
  startedAt: string;
  records: DeadLetterRecord[];
}

/** How many recent records the file keeps (the agent reads it every second). */
export const DEAD_LETTER_KEEP = 50;

export function deadLetterFile(stateDir: string, instance: string): string {
  return join(stateDir, 'dapr', instance, 'dead-letters.json');
}

const cap = (s: unknown, n = 200): string => (typeof s === 'string' ? (s.length > n ? `${s.slice(0, n)}…` : s) : '');

/** The file's records, or undefined when it is missing or torn (read again later). */
export function readDeadLetters(path: string): DeadLetterFile | undefined {
  try {
    const f = JSON.parse(readFileSync(path, 'utf8')) as Partial<DeadLetterFile>;
    if (typeof f.startedAt !== 'string' || !Array.isArray(f.records)) return undefined;
    return { startedAt: f.startedAt, records: f.records.filter((r) => Number.isSafeInteger(r?.seq) && ['DROP', 'EXHAUSTED', 'EXPIRED'].includes(r.reason)) };
  } catch {
    return undefined;
  }
}

/** The event of one record (type, reason, message). */
export function deadLetterEvent(r: DeadLetterRecord): { type: 'Warning'; reason: 'DeadLetter' | 'DeadLetterPublishFailed' | 'MessageDropped'; message: string } {
  const what = `Message ${cap(r.id, 80)} of ${cap(r.pubsub, 80)}/${cap(r.topic, 120)}`;
  const why = r.reason === 'DROP' ? 'dropped by the app' : r.reason === 'EXPIRED' ? 'expired (ttlInSeconds)' : 'exhausted its retries';
  if (r.error !== undefined) return { type: 'Warning', reason: 'DeadLetterPublishFailed', message: `${what} ${why}; publishing it to dead-letter topic ${cap(r.deadLetterTopic, 120)} failed (${cap(r.error)}): kept, it comes back` };
  if (r.deadLetterTopic !== undefined) return { type: 'Warning', reason: 'DeadLetter', message: `${what} ${why}: sent to dead-letter topic ${cap(r.deadLetterTopic, 120)}` };
  return { type: 'Warning', reason: 'MessageDropped', message: `${what} ${why}; no dead-letter topic: dropped` };
}
