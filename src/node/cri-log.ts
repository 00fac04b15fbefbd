// CRI log record format (what containerd writes for Kubernetes): `<RFC3339Nano> <stream> <F|P> <line>`.
// Pure helpers: timestamps, record encoding and a line splitter that never buffers more than one record.

export type LogStream = 'stdout' | 'stderr';
export type LogTag = 'F' | 'P';

/** Longest payload of one record; longer lines are split into `P` records followed by one `F`. */
export const MAX_RECORD_PAYLOAD = 16 * 1024;

/** Formats epoch nanoseconds as RFC 3339 with 9 fractional digits, UTC. */
export function criTimestamp(epochNs: bigint): string {
  const wholeMs = epochNs / 1_000_000n;
  const subMsNanos = epochNs % 1_000_000n;
  const iso = new Date(Number(wholeMs)).toISOString(); // 2026-11-26T22:34:19.123Z
  return `${iso.slice(0, 23)}${subMsNanos.toString().padStart(6, '0')}Z`;
}

let clockBaseNs: bigint | undefined;
let lastNs = 0n;

/**
 * Wall-clock epoch nanoseconds: wall time at first use advanced by the monotonic clock (re-anchored when
 * the wall clock moves by more than 100 ms), never going backwards.
 */
export function preciseNowNs(): bigint {
  const mono = process.hrtime.bigint();
  const wall = BigInt(Date.now()) * 1_000_000n;
  if (clockBaseNs === undefined) clockBaseNs = wall - mono;
  let now = clockBaseNs + mono;
  const drift = now - wall;
  if (drift > 100_000_000n || drift < -100_000_000n) {
    clockBaseNs = wall - mono;
    now = wall;
  }
  if (now <= lastNs) now = lastNs + 1n;
  lastNs = now;
  return now;
}

/** Encodes one record; `payload` must not contain a newline. */
export function encodeCriRecord(timestamp: string, stream: LogStream, tag: LogTag, payload: Buffer): Buffer {
  const head = Buffer.from(`${timestamp} ${stream} ${tag} `, 'latin1');
  return Buffer.concat([head, payload, NEWLINE]);
}

const NEWLINE = Buffer.from('\n');

export interface CriChunk {
  tag: LogTag;
  payload: Buffer;
}

/**
 * Splits a byte stream into CRI records: one `F` record per complete line, `P` records for each
 * MAX_RECORD_PAYLOAD-sized piece of a longer line. Holds at most one partial record.
 */
export class CriLineSplitter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  constructor(private readonly maxPayload = MAX_RECORD_PAYLOAD) {}

  /** Feeds bytes; returns the records completed by them. */
  push(chunk: Buffer): CriChunk[] {
    const out: CriChunk[] = [];
    let start = 0;
    while (start < chunk.length) {
      const nl = chunk.indexOf(0x0a, start);
      const end = nl < 0 ? chunk.length : nl;
      this.append(chunk.subarray(start, end), out);
      if (nl < 0) break;
      out.push({ tag: 'F', payload: this.take() });
      start = nl + 1;
    }
    return out;
  }

  /** Ends the stream: a trailing line without newline becomes an `F` record. */
  flush(): CriChunk[] {
    if (this.pendingBytes === 0) return [];
    return [{ tag: 'F', payload: this.take() }];
  }

  private append(piece: Buffer, out: CriChunk[]): void {
    let rest = piece;
    while (this.pendingBytes + rest.length > this.maxPayload) {
      const room = this.maxPayload - this.pendingBytes;
      this.pending.push(rest.subarray(0, room));
      this.pendingBytes += room;
      out.push({ tag: 'P', payload: this.take() });
      rest = rest.subarray(room);
    }
    if (rest.length > 0) {
      // Copy: the caller's chunk may be reused.
      this.pending.push(Buffer.from(rest));
      this.pendingBytes += rest.length;
    }
  }

  private take(): Buffer {
    const buf = this.pending.length === 1 ? this.pending[0] : Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    return buf;
  }
}
