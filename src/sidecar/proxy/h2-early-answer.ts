// An HTTP/2 request stream answered before its body ended (a 401 to an upload), ended the way Envoy
// does: RFC 9113 §8.1 lets a server send its complete response and then RST_STREAM NO_ERROR, which
// tells the client to stop sending without discarding the response. Until then the proxy reads and
// drops the rest of the body, so the client's upload is never stuck on a flow-control window.
import http2 from 'node:http2';

const { NGHTTP2_NO_ERROR } = http2.constants;

/** How long to wait for the response's END_STREAM to leave before giving up on the reset (the client then ends its upload itself). */
const RESET_WAIT_MS = 5000;

/**
 * Resets `stream` with NO_ERROR once its whole response, END_STREAM included, has been sent, unless the
 * request ended first (then the stream closes by itself). nghttp2 sends RST_STREAM ahead of queued DATA,
 * so a reset right after end() could overtake the response's last frame (the client would see a
 * response without its end); node has no event for "END_STREAM sent", so the stream's half-closed
 * (local) state is looked at on each turn of the event loop.
 */
export function resetWhenAnswered(stream: http2.ServerHttp2Stream): void {
  const until = performance.now() + RESET_WAIT_MS;
  const check = (): void => {
    if (stream.destroyed || stream.closed) return;
    const state = stream.state;
    if (state.remoteClose) return;
    if (state.localClose) return void stream.close(NGHTTP2_NO_ERROR);
    if (performance.now() < until) setTimeout(check, 1).unref();
  };
  check();
}
