// A whole line as read from a source, before parsing: its bytes (bounded), how much of it was
// dropped, where it lies in its file, and what the source already knows (stream, capture time).
import type { LogStreamName } from './record.js';

export interface RawLine {
  bytes: Buffer;
  droppedBytes: number;
  stream: LogStreamName;
  /** Capture time from a CRI record, if any. */
  time?: string;
  startOffset: number;
  endOffset: number;
}
