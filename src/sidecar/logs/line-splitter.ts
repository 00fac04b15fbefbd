// Splits a byte stream into lines without ever holding more than `maxLineBytes` of one line: the
// rest of a longer line is dropped while streaming and counted. Every line carries the file offset
// just past its newline, which is what checkpoints store.

export interface SplitLine {
  bytes: Buffer;
  /** File offset just after this line's newline. */
  endOffset: number;
  /** File offset of the line's first byte. */
  startOffset: number;
  /** Bytes dropped because the line exceeded the maximum (0 when complete). */
  droppedBytes: number;
}

export class BoundedLineSplitter {
  private parts: Buffer[] = [];
  private held = 0;
  private dropped = 0;
  private lineStart: number;

  constructor(
    private readonly maxLineBytes: number,
    startOffset: number,
  ) {
    this.lineStart = startOffset;
  }

  /** File offset where the line currently being assembled starts. */
  get pendingStart(): number {
    return this.lineStart;
  }

  get hasPending(): boolean {
    return this.held > 0 || this.dropped > 0;
  }

  /** Feeds `chunk` (which must not be reused by the caller), starting at file offset `chunkOffset`; returns the completed lines. */
  push(chunk: Buffer, chunkOffset: number, out: SplitLine[] = []): SplitLine[] {
    let start = 0;
    while (start < chunk.length) {
      const nl = chunk.indexOf(0x0a, start);
      const end = nl < 0 ? chunk.length : nl;
      this.append(chunk.subarray(start, end));
      if (nl < 0) break;
      const bytes = this.parts.length === 1 ? this.parts[0] : Buffer.concat(this.parts, this.held);
      const endOffset = chunkOffset + nl + 1;
      out.push({ bytes, endOffset, startOffset: this.lineStart, droppedBytes: this.dropped });
      this.parts = [];
      this.held = 0;
      this.dropped = 0;
      this.lineStart = endOffset;
      start = nl + 1;
    }
    return out;
  }

  /** Forgets a pending partial line and restarts at `offset` (after truncation or a switch of file). */
  reset(offset: number): void {
    this.parts = [];
    this.held = 0;
    this.dropped = 0;
    this.lineStart = offset;
  }

  private append(piece: Buffer): void {
    if (piece.length === 0) return;
    const room = this.maxLineBytes - this.held;
    if (room <= 0) {
      this.dropped += piece.length;
      return;
    }
    const kept = piece.length <= room ? piece : piece.subarray(0, room);
    // A view, not a copy: readers hand in a fresh chunk each time and never reuse it.
    this.parts.push(kept);
    this.held += kept.length;
    this.dropped += piece.length - kept.length;
  }
}
