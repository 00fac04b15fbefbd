// When a batching writer flushes: a write after a quiet spell goes at the end of the current turn of
// the event loop (no added latency), while writes that keep coming are flushed together at most once
// per `gapMs`. Used where one write per line would wake a reader per line (the proxy's access log on
// its pipe, the node agent's capture files under an inotify-woken tailer).
export class GapFlusher {
  private scheduled = false;
  private lastRun = -Infinity;
  private readonly run = (): void => {
    this.scheduled = false;
    this.flush();
  };

  /** `flush` must call ran() when it writes (it is also called directly: a full buffer, a close). */
  constructor(
    private readonly flush: () => void,
    private readonly gapMs: number,
  ) {}

  /** Something was queued: flush at the end of this turn, or `gapMs` after the last flush. */
  schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    const wait = this.lastRun + this.gapMs - performance.now();
    if (wait > 0) setTimeout(this.run, wait);
    else setImmediate(this.run);
  }

  /** The writer flushed now: the gap counts from here. */
  ran(): void {
    this.lastRun = performance.now();
  }
}
