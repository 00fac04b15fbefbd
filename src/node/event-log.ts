// Agent events: a ring buffer served over GET /events, mirrored to events.ndjson so nothing is lost
// while the control plane is away. Sequence numbers continue from the file across agent restarts.
import { appendFileSync, closeSync, fstatSync, openSync, readSync, renameSync, statSync } from 'node:fs';
import type { AgentEvent } from '../lib/agent-protocol.js';

export type NewEvent = Omit<AgentEvent, 'seq' | 'at' | 'node'>;

const TAIL_BYTES = 1024 * 1024;

export class EventLog {
  private readonly ring: AgentEvent[] = [];
  private nextSeq = 1;

  constructor(
    private readonly path: string,
    private readonly node: string,
    private readonly capacity = 5000,
    private readonly maxFileBytes = 8 * 1024 * 1024,
    private readonly onAppend: (event: AgentEvent) => void = () => {},
  ) {
    const tail = readTail(path);
    // Right after a rotation the current file may be empty: continue the sequence from the rotated one.
    for (const ev of tail.length > 0 ? tail : readTail(`${path}.1`)) this.remember(ev);
  }

  /** Records an event and returns it with its sequence number. */
  append(partial: NewEvent): AgentEvent {
    const event: AgentEvent = { seq: this.nextSeq, at: new Date().toISOString(), node: this.node, ...partial };
    this.remember(event);
    try {
      this.rotateIfLarge();
      appendFileSync(this.path, JSON.stringify(event) + '\n');
    } catch (err) {
      process.stderr.write(`berth-agent: cannot append event: ${(err as Error).message}\n`);
    }
    this.onAppend(event);
    return event;
  }

  /** Events with seq > after, oldest first. */
  after(after: number): AgentEvent[] {
    const ring = this.ring;
    // Binary search: the ring is ordered by seq.
    let lo = 0;
    let hi = ring.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (ring[mid].seq <= after) lo = mid + 1;
      else hi = mid;
    }
    return ring.slice(lo);
  }

  /** The sequence number of the newest event (0 if none). */
  get lastSeq(): number {
    return this.nextSeq - 1;
  }

  private remember(event: AgentEvent): void {
    this.ring.push(event);
    if (this.ring.length > this.capacity) this.ring.splice(0, this.ring.length - this.capacity);
    this.nextSeq = Math.max(this.nextSeq, event.seq + 1);
  }

  private rotateIfLarge(): void {
    let size = 0;
    try {
      size = statSync(this.path).size;
    } catch {
      return;
    }
    if (size > this.maxFileBytes) renameSync(this.path, `${this.path}.1`);
  }
}

/** Parses the last complete lines of an events file (up to TAIL_BYTES). */
function readTail(path: string): AgentEvent[] {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return [];
  }
  try {
    const size = fstatSync(fd).size;
    const start = Math.max(0, size - TAIL_BYTES);
    const buf = Buffer.alloc(size - start);
    readSync(fd, buf, 0, buf.length, start);
    const lines = buf.toString('utf8').split('\n');
    if (start > 0) lines.shift(); // probably cut mid-line
    const events: AgentEvent[] = [];
    for (const line of lines) {
      if (!line.trim()) continue;
      try {
        const ev = JSON.parse(line) as AgentEvent;
        if (typeof ev.seq === 'number' && Number.isInteger(ev.seq)) events.push(ev);
      } catch {
        // a torn last line from a crash mid-write: the events before it are kept
      }
    }
    events.sort((a, b) => a.seq - b.seq);
    return events;
  } finally {
    closeSync(fd);
  }
}
