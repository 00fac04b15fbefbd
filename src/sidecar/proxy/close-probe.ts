// Tells an upstream's FIN from its reset once a read said EOF. libuv reports a reset that arrives
// with data as an EOF: after a partial read with POLLHUP set it ends the stream without calling
// read() again, which would have returned the reset. For a body delimited by the close that is the
// difference between whole and cut: an app that aborts (or closes with our bytes unread, without a
// FIN first) resets the connection, and its kernel drops what it had not sent yet. curl and nginx
// read on and see the reset; node:http takes the body for whole.
//
// A write of zero bytes asks the kernel without sending anything (checked on Linux: it reaches TCP's
// sendmsg, which reports the socket's pending error): it succeeds while the peer has not reset the
// connection (a FIN alone); it fails with EPIPE when the reset came after the peer's FIN (the kernel
// records a reset in CLOSE_WAIT as EPIPE) — the answer before that FIN is whole; with ECONNRESET when
// the reset came without a FIN — the answer may be cut. shutdown(SHUT_WR) cannot tell the last two
// apart (ENOTCONN for both): an app that shuts its side down and then closes with the request unread
// (a FIN, then a reset) sent a whole answer, and was taken for cut.
import type net from 'node:net';
import { getSystemErrorName } from 'node:util';
import { streamBinding } from './stream-binding.js';

interface WritingHandle {
  writeLatin1String(req: unknown, data: string): number;
}

/**
 * How the peer ended `socket`'s stream: 'fin' (a FIN, maybe followed by a reset: what came before it
 * is whole), 'reset' (a reset without a FIN: cut), or undefined where it cannot be told now (writes
 * still queued in front of the probe, or no handle to ask).
 */
export function probeClose(socket: net.Socket): 'fin' | 'reset' | undefined {
  const binding = streamBinding?.stream;
  const handle = (socket as unknown as { _handle?: Partial<WritingHandle> | null })._handle;
  if (!binding || !handle || typeof handle.writeLatin1String !== 'function') return undefined;
  const req = new binding.WriteWrap();
  req.handle = handle;
  // A probe queued behind other writes completes (or is cancelled) later: nothing to do then.
  req.oncomplete = () => {};
  const err = handle.writeLatin1String(req, '');
  if (err === 0) return binding.streamBaseState[binding.kLastWriteWasAsync] !== 0 ? undefined : 'fin';
  return getSystemErrorName(err) === 'EPIPE' ? 'fin' : 'reset';
}
