// Multiline joining: stack traces and other continuation lines become one record. A line either
// starts a record (the `start` pattern, or a preset's rule) or continues the pending one; a pending
// record is emitted when the next one starts or after `timeoutMs` without continuation.
// Bounded: a joined record never holds more than maxLineBytes (the rest is counted as dropped).
import type { RawLine } from './raw-line.js';

export interface MultilineConfig {
  preset?: 'node' | 'java';
  start?: string;
  timeoutMs: number;
}

/** True when `text` (the first bytes of a line) continues the previous record. */
export type ContinuationRule = (text: string) => boolean;

const NODE_CONTINUATION = /^\s+(at\s|\.\.\.|\}|\]|[\w$'"]+:)|^\s*\}\s*$|^\s{4,}\S/;
const JAVA_CONTINUATION = /^\s+at\s|^\s+\.\.\.\s\d+\s(more|common frames omitted)|^Caused by:|^\s+Suppressed:|^\t/;

export function continuationRule(cfg: MultilineConfig): ContinuationRule {
  if (cfg.start !== undefined) {
    const re = new RegExp(cfg.start);
    return (text) => !re.test(text);
  }
  if (cfg.preset === 'java') return (text) => JAVA_CONTINUATION.test(text);
  return (text) => NODE_CONTINUATION.test(text);
}

interface Pending {
  first: RawLine;
  parts: Buffer[];
  held: number;
  dropped: number;
  endOffset: number;
  lastAt: number;
}

const NL = Buffer.from('\n');

/** One aggregator per stream of a source. */
export class MultilineJoiner {
  private pending: Pending | undefined;
  private readonly isContinuation: ContinuationRule;

  constructor(
    private readonly cfg: MultilineConfig,
    private readonly maxLineBytes: number,
  ) {
    this.isContinuation = continuationRule(cfg);
  }

  /** File offset where the pending record starts (for checkpoints), or undefined. */
  get pendingStart(): number | undefined {
    return this.pending?.first.startOffset;
  }

  push(line: RawLine, now: number, out: RawLine[]): void {
    const head = line.bytes.toString('utf8', 0, Math.min(line.bytes.length, 256));
    if (this.pending && this.isContinuation(head)) {
      const p = this.pending;
      const room = this.maxLineBytes - p.held;
      const piece = line.bytes;
      if (room > 1) {
        const kept = piece.length + 1 <= room ? piece : piece.subarray(0, room - 1);
        p.parts.push(NL, kept);
        p.held += kept.length + 1;
        p.dropped += piece.length - kept.length;
      } else p.dropped += piece.length + 1;
      p.dropped += line.droppedBytes;
      p.endOffset = line.endOffset;
      p.lastAt = now;
      return;
    }
    this.flush(out);
    this.pending = { first: line, parts: [line.bytes], held: line.bytes.length, dropped: line.droppedBytes, endOffset: line.endOffset, lastAt: now };
  }

  /** Emits the pending record when it waited longer than the timeout. */
  flushIfIdle(now: number, out: RawLine[]): void {
    if (this.pending && now - this.pending.lastAt >= this.cfg.timeoutMs) this.flush(out);
  }

  flush(out: RawLine[]): void {
    const p = this.pending;
    if (!p) return;
    this.pending = undefined;
    out.push({
      ...p.first,
      bytes: p.parts.length === 1 ? p.parts[0] : Buffer.concat(p.parts, p.held),
      droppedBytes: p.dropped,
      endOffset: p.endOffset,
    });
  }

  reset(): void {
    this.pending = undefined;
  }
}
