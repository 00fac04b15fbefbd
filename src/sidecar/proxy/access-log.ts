// The proxy's JSON access log on stdout, written in batches: a line after a quiet spell goes out at
// the end of its turn of the event loop; lines that keep coming go out together at most every
// ACCESS_LOG_FLUSH_MS (or when 64 KiB are held), as Envoy buffers its access log files. One write
// per request woke the node agent reading the pipe once per request, and the log agent after it:
// at 1,000 requests/s that path cost more CPU than the proxies themselves and added ~1 ms to the
// mesh's p99 (bench/dapr). flush() at shutdown writes what is left.
//
// A slow reader never slows the proxy down nor grows its memory (Vector's `drop_newest` buffer
// policy): while the output has not drained, lines are held up to 64 KiB, then dropped and counted
// (`dropped`, exported as berth_proxy_access_log_dropped_total). A reader that went away for good
// (EPIPE: the pipe has no reader) is the same to the proxy: every line from then on is dropped and
// counted — an unheard 'error' on stdout used to end the process, and every request with it.

import { GapFlusher } from '../../lib/gap-flusher.js';

const MAX_HELD = 64 * 1024;
/** Lines that keep coming are written together at most this often. */
export const ACCESS_LOG_FLUSH_MS = 100;

/** The libuv handle behind a stdio stream (setBlocking exists on pipes and TTYs). */
interface StdioHandle {
  setBlocking?(blocking: boolean): number;
}

export class AccessLog {
  private held = '';
  private readonly flusher: GapFlusher;
  /** write() returned false: nothing more is written until 'drain'. */
  private blocked = false;
  /** The output failed (its reader is gone): lines are only counted. */
  private broken = false;
  /** Lines dropped because the output was not keeping up, or failed. */
  dropped = 0;
  private readonly onDrain = (): void => {
    this.blocked = false;
    this.flush();
  };

  constructor(
    private readonly out: NodeJS.WritableStream = process.stdout,
    flushMs = ACCESS_LOG_FLUSH_MS,
  ) {
    this.flusher = new GapFlusher(() => this.flush(), flushMs);
    out.on('error', () => {
      this.broken = true;
      // What was held is lost and counted here; the failed write's own lines are counted by its callback.
      this.dropped += lineCount(this.held);
      this.held = '';
    });
    // A child's stdout pipe is blocking (libuv makes stdio blocking in a spawned child), and so are
    // Node's writes to it: a log reader that stalls would stall every request. Non-blocking, the
    // write queues instead, and write()'s answer says when to hold back.
    if (out === process.stdout) (process.stdout as unknown as { _handle?: StdioHandle })._handle?.setBlocking?.(false);
  }

  line(text: string): void {
    if (this.broken) {
      this.dropped++;
      return;
    }
    if (this.blocked && this.held.length + text.length > MAX_HELD) {
      this.dropped++;
      return;
    }
    this.held += text;
    if (this.held.length >= MAX_HELD) this.flush();
    else this.flusher.schedule();
  }

  flush(): void {
    if (this.held.length === 0 || this.blocked || this.broken) return;
    const text = this.held;
    this.held = '';
    this.flusher.ran();
    // A write that fails (EPIPE: the reader went away) loses its lines: counted too, not only those held after it.
    const ok = this.out.write(text, (err) => {
      if (err) this.dropped += lineCount(text);
    });
    if (!ok) {
      this.blocked = true;
      this.out.once('drain', this.onDrain);
    }
  }
}

function lineCount(text: string): number {
  let n = 0;
  for (let at = text.indexOf('\n'); at >= 0; at = text.indexOf('\n', at + 1)) n++;
  return n;
}
