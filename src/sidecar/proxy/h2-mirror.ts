// Mirrored copies of HTTP/2 streams (h2c and gRPC calls to a route with a `mirror`): the copy goes on
// a stream of its own to an endpoint of the mirror cluster, `:authority` suffixed as HTTP/1.1's Host
// (mirror.ts collects the body and keeps the limits); its answer — head, body and trailers, where a
// gRPC status is — goes to the shadow diff or is discarded.
import http2 from 'node:http2';
import type { Cluster } from './cluster.js';
import type { H2Sessions } from './h2-forward.js';
import { flatHeaders } from './h2-streams.js';
import { copySpan, shadowHost, type CopySpanIds, type MirrorSender } from './mirror.js';
import type { RequestHead } from './routes.js';
import { EXTRA_LINE_HEADER, extraLineFields } from './request-headers.js';
import { UpstreamError, UpstreamHead } from './upstream-client.js';

const { NGHTTP2_CANCEL, NGHTTP2_NO_ERROR } = http2.constants;

/** An answer's header block in the form HTTP/1.1 answers are handed on (see UpstreamHead). */
function headOf(h: http2.IncomingHttpHeaders): UpstreamHead {
  const flat = flatHeaders(h);
  let lines = '';
  for (let i = 0; i < flat.length; i += 2) lines += `${flat[i]}: ${flat[i + 1]}\r\n`;
  return new UpstreamHead(Buffer.from(lines, 'latin1'), -1);
}

/**
 * Sends copies of the stream whose headers are `headers` (as they are now) to `cluster`, over
 * `sessions`; `span` is the copy's own (copySpan).
 */
export function h2MirrorSender(
  sessions: H2Sessions,
  cluster: Cluster,
  head: RequestHead,
  headers: http2.IncomingHttpHeaders,
): { send: MirrorSender; span: CopySpanIds | undefined } {
  const out: http2.OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(headers)) if (v !== undefined) out[k] = v;
  // A second Authorization (Referer…) goes as the primary's does to a peer proxy (h2-forward.ts).
  const extraFields = extraLineFields(headers as Record<string, string | string[] | undefined>);
  if (extraFields) out[EXTRA_LINE_HEADER] = extraFields;
  out[':authority'] = shadowHost(String(headers[':authority'] ?? headers.host ?? cluster.name));
  if (typeof out.host === 'string') out.host = shadowHost(out.host);
  const span = copySpan(out as Record<string, string | string[] | undefined>);
  const send: MirrorSender = (body, to) => {
    const ep = cluster.pick(head, undefined);
    if (!ep) return undefined;
    let s: http2.ClientHttp2Stream;
    try {
      s = sessions.request(ep, out, { endStream: body === null }, undefined, cluster.pool.maxConnections);
    } catch {
      // No session could be opened (a connect error comes later, on the stream): nothing will answer.
      return undefined;
    }
    let status = 0;
    let over = false;
    const fail = (code: UpstreamError['code'], message: string): void => {
      if (over) return;
      over = true;
      to.onError(new UpstreamError(code, message, status !== 0));
    };
    s.on('response', (h: http2.IncomingHttpHeaders) => {
      status = Number(h[':status'] ?? 0);
      to.onHead(status, headOf(h));
    });
    s.on('data', (chunk: Buffer) => to.onData(chunk));
    s.on('trailers', (t: http2.IncomingHttpHeaders) => to.onTrailers?.(flatHeaders(t)));
    s.on('end', () => {
      // A reset (or a dropped connection) ends the stream too: only END_STREAM after a head is whole.
      if (s.rstCode !== NGHTTP2_NO_ERROR || status === 0) return fail('RESET', `mirror stream reset (code ${s.rstCode})`);
      if (over) return;
      over = true;
      to.onEnd();
    });
    s.on('error', (err: Error) => fail('RESET', err.message));
    s.on('close', () => fail('RESET', 'mirror stream closed'));
    if (body) s.end(body);
    return {
      abort: () => {
        fail('ABORTED', 'mirror copy took too long');
        if (!s.closed && !s.destroyed) s.close(NGHTTP2_CANCEL);
      },
    };
  };
  return { send, span };
}
