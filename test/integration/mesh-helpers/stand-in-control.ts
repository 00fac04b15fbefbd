// A stand-in control plane for tests of a real berth-proxy process: the watch stream (a first
// snapshot, then a heartbeat every second) and what the proxy POSTs (span batches, acks, activation
// asks), answered 204 unless `onPost` answers itself.
import http from 'node:http';
import type { MeshSnapshot } from '../../../src/lib/mesh-protocol.js';

export interface StandInControl {
  /** The watch streams opened so far. */
  readonly streams: http.ServerResponse[];
  /** Sends a snapshot on every open watch stream. */
  push(snapshot: MeshSnapshot): void;
  close(): Promise<void>;
}

export async function standInControl(opts: {
  host: string;
  port: number;
  first: MeshSnapshot;
  /** Sees each POST's path and body; returns true when it answered `res` itself. */
  onPost?(url: string, body: string, res: http.ServerResponse): boolean;
}): Promise<StandInControl> {
  const streams: http.ServerResponse[] = [];
  const beat = 'event: heartbeat\ndata: {"intervalMs":1000}\n\n';
  const server = http.createServer((req, res) => {
    if (req.url?.startsWith('/api/v1/mesh/watch')) {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(`event: snapshot\ndata: ${JSON.stringify(opts.first)}\n\n${beat}`);
      const timer = setInterval(() => res.write(beat), 1000);
      res.on('close', () => clearInterval(timer));
      streams.push(res);
      return;
    }
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      if (!opts.onPost?.(req.url ?? '', body, res)) res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(opts.port, opts.host, r));
  return {
    streams,
    push: (s) => {
      for (const r of streams) if (!r.destroyed) r.write(`event: snapshot\ndata: ${JSON.stringify(s)}\n\n`);
    },
    close: () => {
      server.closeAllConnections();
      return new Promise((r) => server.close(() => r()));
    },
  };
}
