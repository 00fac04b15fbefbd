// The proxy's JSON access log on stdout, written in batches: lines logged during one turn of the
// event loop go out in one write (at most 64 KiB are held), instead of one write syscall per
// request. flush() at shutdown writes what is left.

const MAX_HELD = 64 * 1024;

export class AccessLog {
  private held = '';
  private scheduled = false;
  private readonly flushSoon = (): void => {
    this.scheduled = false;
    this.flush();
  };

  constructor(private readonly out: NodeJS.WritableStream = process.stdout) {}

  line(text: string): void {
    this.held += text;
    if (this.held.length >= MAX_HELD) this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flushSoon);
    }
  }

  flush(): void {
    if (this.held.length === 0) return;
    const text = this.held;
    this.held = '';
    this.out.write(text);
  }
}
