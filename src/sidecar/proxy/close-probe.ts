// Tells an upstream's FIN from its reset once a read said EOF. libuv reports a reset that arrives
// with data as an EOF: after a partial read with POLLHUP set it ends the stream without calling
// read() again, which would have returned ECONNRESET. For a body delimited by the close that is the
// difference between whole and cut: an app that closes with our bytes unread (or aborts) resets the
// connection, and its kernel drops what it had not sent yet. curl and nginx read on and see the
// reset; node:http takes the body for whole. shutdown(SHUT_WR) tells the two apart without sending
// a byte: on a connection the peer reset (TCP_CLOSE) it fails with ENOTCONN, on one the peer closed
// with a FIN (CLOSE_WAIT) it succeeds and sends our FIN, as closing would.
import type net from 'node:net';
import { streamBinding } from './stream-binding.js';

/**
 * Shuts `socket`'s write side down and calls `done(reset)` with whether the peer had reset the
 * connection. False (and `done` never called) where the handle cannot be asked: go on as before.
 */
export function probeClose(socket: net.Socket, done: (reset: boolean) => void): boolean {
  const ShutdownWrap = streamBinding?.stream.ShutdownWrap;
  const handle = (socket as unknown as { _handle?: { shutdown?(req: unknown): number } | null })._handle;
  if (!ShutdownWrap || !handle || typeof handle.shutdown !== 'function') return false;
  const req = new ShutdownWrap();
  req.handle = handle;
  req.callback = () => {};
  // A socket destroyed meanwhile cancels the request (ECANCELED): whoever destroyed it handled the end.
  req.oncomplete = (status) => {
    if (!socket.destroyed) done(status !== 0);
  };
  // Refused at once (the write side already shut or closing): not a question this can answer.
  return handle.shutdown(req) === 0;
}
