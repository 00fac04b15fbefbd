// gRPC probe: grpc.health.v1.Health/Check over HTTP/2 (cleartext), success iff status is SERVING.
// The two tiny protobuf messages are encoded by hand.
import http2 from 'node:http2';
import type { Probe, ProbeCheckOptions, ProbeResult } from './probe.js';
import { errorMessage, timeoutSignal } from './probe.js';

/** HealthCheckResponse.ServingStatus values. */
export const SERVING_STATUS = ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'] as const;

function encodeVarint(value: number): number[] {
  const bytes: number[] = [];
  let v = value >>> 0;
  while (v > 0x7f) {
    bytes.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  bytes.push(v);
  return bytes;
}

/** HealthCheckRequest { string service = 1; } framed as one gRPC message (flag byte + u32 length). */
export function encodeHealthCheckRequest(service: string): Buffer {
  const svc = Buffer.from(service, 'utf8');
  const body = svc.length > 0 ? Buffer.concat([Buffer.from([0x0a, ...encodeVarint(svc.length)]), svc]) : Buffer.alloc(0);
  const frame = Buffer.alloc(5);
  frame.writeUInt8(0, 0);
  frame.writeUInt32BE(body.length, 1);
  return Buffer.concat([frame, body]);
}

/** Reads HealthCheckResponse.status (field 1, varint) from a gRPC-framed response body; undefined if malformed. */
export function decodeHealthCheckResponse(framed: Buffer): number | undefined {
  if (framed.length < 5 || framed[0] !== 0) return undefined;
  const len = framed.readUInt32BE(1);
  if (framed.length < 5 + len) return undefined;
  const msg = framed.subarray(5, 5 + len);
  let i = 0;
  let status = 0; // proto3 default when absent
  const readVarint = (): number | undefined => {
    let result = 0;
    let shift = 0;
    while (i < msg.length && shift < 35) {
      const b = msg[i++];
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return result;
      shift += 7;
    }
    return undefined;
  };
  while (i < msg.length) {
    const key = readVarint();
    if (key === undefined) return undefined;
    const field = Math.floor(key / 8);
    const wire = key & 7;
    if (wire === 0) {
      const v = readVarint();
      if (v === undefined) return undefined;
      if (field === 1) status = v;
    } else if (wire === 2) {
      const l = readVarint();
      if (l === undefined) return undefined;
      i += l;
    } else if (wire === 5) i += 4;
    else if (wire === 1) i += 8;
    else return undefined;
  }
  return status;
}

export class GrpcProbe implements Probe {
  readonly kind = 'grpc';
  constructor(private readonly target: { host: string; port: number; service?: string }) {}

  check(options: ProbeCheckOptions): Promise<ProbeResult> {
    const timer = timeoutSignal(options);
    return new Promise<ProbeResult>((resolve) => {
      let settled = false;
      const host = this.target.host.includes(':') ? `[${this.target.host}]` : this.target.host;
      const session = http2.connect(`http://${host}:${this.target.port}`);
      const finish = (result: ProbeResult): void => {
        if (settled) return;
        settled = true;
        timer.done();
        session.destroy();
        resolve(result);
      };
      session.on('error', (err) => finish({ ok: false, message: errorMessage(err) }));
      timer.signal.addEventListener('abort', () => finish({ ok: false, message: errorMessage(timer.signal.reason) }), { once: true });
      const req = session.request({
        ':method': 'POST',
        ':path': '/grpc.health.v1.Health/Check',
        'content-type': 'application/grpc',
        te: 'trailers',
      });
      const chunks: Buffer[] = [];
      let grpcStatus: string | undefined;
      req.on('response', (headers) => {
        if (headers['grpc-status'] !== undefined) grpcStatus = String(headers['grpc-status']);
      });
      req.on('trailers', (trailers) => {
        if (trailers['grpc-status'] !== undefined) grpcStatus = String(trailers['grpc-status']);
      });
      req.on('data', (chunk: Buffer) => {
        if (chunks.reduce((n, c) => n + c.length, 0) < 64 * 1024) chunks.push(chunk);
      });
      req.on('error', (err) => finish({ ok: false, message: errorMessage(err) }));
      req.on('end', () => {
        if (grpcStatus !== undefined && grpcStatus !== '0') {
          finish({ ok: false, message: `grpc-status ${grpcStatus}` });
          return;
        }
        const status = decodeHealthCheckResponse(Buffer.concat(chunks));
        if (status === undefined) finish({ ok: false, message: 'malformed HealthCheckResponse' });
        else finish({ ok: status === 1, message: SERVING_STATUS[status] ?? `status ${status}` });
      });
      req.end(encodeHealthCheckRequest(this.target.service ?? ''));
    });
  }
}
