// The harness of the forwardH2 tests: raw node:http2 peers on free ports and an "outbound proxy" —
// an h2c server calling forwardH2 with a real Cluster and H2Sessions — whose counts (done calls,
// outlier records, endpoint in-flight counts, pool places) the tests read directly.
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { Cluster } from '../../../src/sidecar/proxy/cluster.js';
import { EndpointState } from '../../../src/sidecar/proxy/endpoints.js';
import { forwardH2, h2RequestHead, H2Sessions } from '../../../src/sidecar/proxy/h2-forward.js';
import type { RouteRetries } from '../../../src/sidecar/proxy/routes.js';
import type { MeshPolicy } from '../../../src/lib/mesh-protocol.js';

export const HOST = '127.0.0.1';
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface Done {
  path: string;
  calls: number;
  status?: number;
  grpc?: string;
}

/** A raw h2c server on a free port; `settings` its SETTINGS (e.g. maxConcurrentStreams). */
export async function h2server(onStream: (s: http2.ServerHttp2Stream, h: http2.IncomingHttpHeaders) => void, settings?: http2.Settings): Promise<{ server: http2.Http2Server; port: number; streams: () => number }> {
  let streams = 0;
  const server = http2.createServer(settings ? { settings } : {});
  // A case that fails leaves calls hanging: its peers' connections must not keep the test file running.
  server.on('connection', (socket: import('node:net').Socket) => socket.unref());
  server.on('stream', (s, h) => {
    s.on('error', () => {});
    streams++;
    onStream(s, h);
  });
  await new Promise<void>((r) => server.listen(0, HOST, r));
  return { server, port: (server.address() as AddressInfo).port, streams: () => streams };
}

/** A port nothing listens on. */
export async function deadPort(): Promise<number> {
  const { server, port } = await h2server(() => {});
  await new Promise((r) => server.close(r));
  return port;
}

/** The outbound proxy under test: forwardH2 to a cluster of `endpoints`. */
export async function front(endpoints: { id: string; port: number }[], opts: { policy?: MeshPolicy; timeout?: number; retries?: RouteRetries } = {}) {
  const eps = endpoints.map((e) => new EndpointState(e.id, { id: e.id, host: HOST, port: e.port, variant: 'default' }));
  const cluster = new Cluster('svc', eps, opts.policy ?? { balancer: 'round_robin' });
  const records: string[] = [];
  const record = cluster.record.bind(cluster);
  cluster.record = (ep, outcome) => {
    records.push(`${ep.id}:${outcome}`);
    record(ep, outcome);
  };
  const sessions = new H2Sessions();
  const dones: Done[] = [];
  const { server, port } = await h2server((stream, headers) => {
    const entry: Done = { path: String(headers[':path']), calls: 0 };
    dones.push(entry);
    forwardH2(stream, headers, {
      sessions,
      cluster,
      head: h2RequestHead(headers),
      platformRetries: true,
      ...(opts.timeout !== undefined ? { timeout: opts.timeout } : {}),
      ...(opts.retries ? { retries: opts.retries } : {}),
      done: (status, _ep, grpc) => {
        entry.calls++;
        entry.status = status;
        entry.grpc = grpc;
      },
    });
  });
  const client = http2.connect(`http://${HOST}:${port}`);
  client.on('error', () => {});
  return {
    eps,
    records,
    dones,
    sessions,
    client,
    active: () => eps.map((e) => e.active),
    close: () => {
      client.close();
      sessions.closeAll();
      server.close();
    },
  };
}

export interface Answer {
  status: number;
  reason?: string;
  body: string;
  /** The gRPC status the client saw (in the headers of a trailers-only answer, or in the trailers). */
  grpcStatus?: string;
  rst?: number;
}

/** One request (POST unless `method`) on `client`: `body` pieces written `gapMs` apart; `resetAfterMs`: the client resets then. */
export function call(client: http2.ClientHttp2Session, path: string, opts: { method?: string; body?: Buffer[]; gapMs?: number; grpc?: boolean; resetAfterMs?: number } = {}): Promise<Answer> {
  return new Promise((resolve) => {
    const pieces = opts.body ?? [];
    const s = client.request({ ':method': opts.method ?? 'POST', ':path': path, ...(opts.grpc ? { 'content-type': 'application/grpc', te: 'trailers' } : {}) }, { endStream: pieces.length === 0 && opts.resetAfterMs === undefined });
    const a: Answer = { status: 0, body: '' };
    s.on('response', (h) => {
      a.status = Number(h[':status']);
      a.reason = h['x-berth-reason'] as string | undefined;
      if (typeof h['grpc-status'] === 'string') a.grpcStatus = h['grpc-status'];
    });
    s.on('trailers', (t) => {
      if (typeof t['grpc-status'] === 'string') a.grpcStatus = t['grpc-status'];
    });
    s.on('data', (d: Buffer) => (a.body += d.toString()));
    s.on('error', () => {});
    s.on('close', () => {
      a.rst = s.rstCode;
      resolve(a);
    });
    void (async () => {
      for (const p of pieces) {
        if (s.destroyed) return;
        s.write(p);
        if (opts.gapMs) await sleep(opts.gapMs);
      }
      if (opts.resetAfterMs !== undefined) {
        await sleep(opts.resetAfterMs);
        s.close(http2.constants.NGHTTP2_CANCEL);
      } else if (pieces.length > 0) s.end();
    })();
  });
}

/** An app that answers each stream, once its request ended, with the byte count it got. */
export async function countingApp(settings?: http2.Settings) {
  const delivered: number[] = [];
  const app = await h2server((s) => {
    let n = 0;
    s.on('data', (d: Buffer) => (n += d.length));
    s.on('end', () => {
      delivered.push(n);
      if (s.destroyed) return;
      s.respond({ ':status': 200 });
      s.end(String(n));
    });
  }, settings);
  return { ...app, delivered };
}
