// Reading CRI capture files (`<RFC3339Nano> <stream> <P|F> <payload>`): parses one physical line
// and joins `P` (partial) pieces of each stream into whole lines, bounded by maxLineBytes.

export interface CriLine {
  time: string;
  stream: 'stdout' | 'stderr';
  partial: boolean;
  payload: Buffer;
}

/** Parses one CRI line (without its newline); undefined when it is not in CRI format. */
export function parseCri(line: Buffer): CriLine | undefined {
  const a = line.indexOf(0x20);
  if (a < 20 || a > 40) return undefined;
  const b = line.indexOf(0x20, a + 1);
  if (b < 0) return undefined;
  const streamName = line.toString('latin1', a + 1, b);
  if (streamName !== 'stdout' && streamName !== 'stderr') return undefined;
  const tag = line[b + 1];
  if (tag !== 0x46 && tag !== 0x50) return undefined; // F, P
  const after = line[b + 2];
  if (after !== undefined && after !== 0x20) return undefined;
  const time = line.toString('latin1', 0, a);
  if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(time)) return undefined;
  if (Number.isNaN(Date.parse(time))) return undefined;
  return { time, stream: streamName, partial: tag === 0x50, payload: after === undefined ? Buffer.alloc(0) : line.subarray(b + 3) };
}

export interface JoinedLine {
  time: string;
  stream: 'stdout' | 'stderr';
  bytes: Buffer;
  droppedBytes: number;
}

/** Joins P pieces per stream; holds at most maxLineBytes per stream. */
export class CriJoiner {
  private pending = new Map<string, { time: string; parts: Buffer[]; held: number; dropped: number; startOffset: number }>();

  constructor(private readonly maxLineBytes: number) {}

  /** Earliest file offset of a partial line still being joined (for checkpoints), or undefined. */
  get pendingStart(): number | undefined {
    let min: number | undefined;
    for (const p of this.pending.values()) if (min === undefined || p.startOffset < min) min = p.startOffset;
    return min;
  }

  /** Feeds one parsed line that starts at `startOffset`; returns a whole line when `line` completes one. */
  push(line: CriLine, startOffset: number, droppedBytes: number): JoinedLine | undefined {
    let p = this.pending.get(line.stream);
    if (!p) {
      if (!line.partial) return { time: line.time, stream: line.stream, bytes: line.payload, droppedBytes };
      p = { time: line.time, parts: [], held: 0, dropped: 0, startOffset };
      this.pending.set(line.stream, p);
    }
    const room = this.maxLineBytes - p.held;
    const kept = line.payload.length <= room ? line.payload : line.payload.subarray(0, Math.max(0, room));
    if (kept.length > 0) p.parts.push(kept);
    p.held += kept.length;
    p.dropped += line.payload.length - kept.length + droppedBytes;
    if (line.partial) return undefined;
    this.pending.delete(line.stream);
    return { time: p.time, stream: line.stream, bytes: p.parts.length === 1 ? p.parts[0] : Buffer.concat(p.parts, p.held), droppedBytes: p.dropped };
  }

  reset(): void {
    this.pending.clear();
  }
}
