// What the node agent does with an exception nothing caught. Errors a broken peer socket raises
// (a client that went away mid-answer) are survivable: log them and go on, since every instance is
// still supervised correctly. Anything else means the agent's own state is unknown, so it logs the
// stack and exits with EX_SOFTWARE; the control plane sees the node's heartbeats stop, fences what is
// left of its processes and starts a fresh agent — a known state instead of a half-broken one.

/** Error codes of a peer's socket going away: nothing of the agent's own state is affected. */
const PEER_SOCKET_CODES = new Set(['EPIPE', 'ECONNRESET', 'ECONNABORTED', 'ERR_STREAM_DESTROYED', 'ERR_STREAM_WRITE_AFTER_END', 'ERR_STREAM_PREMATURE_CLOSE']);

/** EX_SOFTWARE (sysexits.h): an internal error. */
export const CRASH_EXIT_CODE = 70;

export function isSurvivable(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && PEER_SOCKET_CODES.has(code);
}

export interface CrashPolicyIo {
  readonly write: (line: string) => void;
  readonly exit: (code: number) => void;
}

/** Installs the policy as the process's `uncaughtException` handler. */
export function installCrashPolicy(name: string, io: CrashPolicyIo = { write: (l) => process.stderr.write(l), exit: (c) => process.exit(c) }): void {
  process.on('uncaughtException', (err) => {
    if (isSurvivable(err)) {
      io.write(`${name}: ignored a peer socket error nothing handled: ${err.message}\n`);
      return;
    }
    io.write(`${name}: uncaught exception, exiting so the node is restarted in a known state: ${err.stack ?? err.message}\n`);
    io.exit(CRASH_EXIT_CODE);
  });
}
