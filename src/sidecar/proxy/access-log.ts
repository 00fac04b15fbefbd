// The proxy's JSON access log on stdout, written in batches: lines logged during one turn of the
// event loop go out in one write (at most 64 KiB are held), instead of one write syscall per
// request. flush() at shutdown writes what is left.
//
// A slow reader never slows the proxy down nor grows its memory (Vector's `drop_newest` buffer
// policy): while the output has not drained, lines are held up to 64 KiB, then dropped and counted
// (`dropped`, exported as berth_proxy_access_log_dropped_total).

const MAX_HELD = 64 * 1024;

/** The libuv handle behind a stdio stream (setBlocking exists on pipes and TTYs). */
interface StdioHandle {
  setBlocking?(blocking: boolean): number;
}

export class AccessLog {
  private held = '';
  private scheduled = false;
  /** write() returned false: nothing more is written until 'drain'. */
  private blocked = false;
  /** Lines dropped because the output was not keeping up. */
  dropped = 0;
  private readonly flushSoon = (): void => {
    this.scheduled = false;
    this.flush();
  };
  private readonly onDrain = (): void => {
    this.blocked = false;
    this.flush();
  };

  constructor(private readonly out: NodeJS.WritableStream = process.stdout) {
    // A child's stdout pipe is blocking (libuv makes stdio blocking in a spawned child), and so are
    // Node's writes to it: a log reader that stalls would stall every request. Non-blocking, the
    // write queues instead, and write()'s answer says when to hold back.
    if (out === process.stdout) (process.stdout as unknown as { _handle?: StdioHandle })._handle?.setBlocking?.(false);
  }

  line(text: string): void {
    if (this.blocked && this.held.length + text.length > MAX_HELD) {
      this.dropped++;
      return;
    }
    this.held += text;
    if (this.held.length >= MAX_HELD) this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flushSoon);
    }
  }

  flush(): void {
    if (this.held.length === 0 || this.blocked) return;
    const text = this.held;
    this.held = '';
    if (!this.out.write(text)) {
      this.blocked = true;
      this.out.once('drain', this.onDrain);
    }
  }
}
