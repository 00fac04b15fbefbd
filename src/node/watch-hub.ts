// GET /watch: Server-Sent Events telling clients that observed state or events changed
// (debounced), with a comment heartbeat so idle connections stay alive.
import type { ServerResponse } from 'node:http';

export class WatchHub {
  private readonly clients = new Set<ServerResponse>();
  private debounce: NodeJS.Timeout | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  /** Bumped on every change; sent to clients as `version`. */
  version = 0;

  constructor(
    private readonly payload: () => Record<string, number>,
    private readonly debounceMs = 20,
    private readonly heartbeatMs = 15_000,
  ) {}

  /** Takes over an HTTP response as an SSE stream; sends the current state at once. */
  add(res: ServerResponse): void {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    res.write(': berth node agent\n\n');
    this.clients.add(res);
    res.on('close', () => {
      this.clients.delete(res);
      if (this.clients.size === 0 && this.heartbeat) {
        clearInterval(this.heartbeat);
        this.heartbeat = undefined;
      }
    });
    this.send(res);
    if (!this.heartbeat) this.heartbeat = setInterval(() => this.broadcast(': heartbeat\n\n'), this.heartbeatMs);
  }

  /** Something changed: bump the version and notify clients after the debounce. */
  changed(): void {
    this.version++;
    if (this.debounce || this.clients.size === 0) return;
    this.debounce = setTimeout(() => {
      this.debounce = undefined;
      for (const c of this.clients) this.send(c);
    }, this.debounceMs);
  }

  /** Ends every stream. */
  close(): void {
    if (this.debounce) clearTimeout(this.debounce);
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.debounce = this.heartbeat = undefined;
    for (const c of this.clients) c.end();
    this.clients.clear();
  }

  private send(res: ServerResponse): void {
    res.write(`event: change\ndata: ${JSON.stringify({ ...this.payload(), version: this.version })}\n\n`);
  }

  private broadcast(text: string): void {
    for (const c of this.clients) c.write(text);
  }
}
