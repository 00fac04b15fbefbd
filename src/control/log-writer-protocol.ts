// Messages between the control plane's event loop (LogIngest) and the log writer thread.
import type { LogBatchVerdict } from './log-batch.js';
import type { LogRetention } from './log-store.js';

/** The thread's `workerData`. */
export interface WriterStart {
  path: string;
  retention: LogRetention;
}

export type WriterRequest =
  /** A raw POST body (its buffer is transferred, not copied) and the sidecar's service when the caller is scoped. */
  | { kind: 'batch'; id: number; raw: Uint8Array; scopeService?: string }
  | { kind: 'close' };

export type WriterReply =
  | { kind: 'ready' }
  /** `ms`: how long the batch took to parse and commit (the queue estimates its drain time from it). */
  | { kind: 'done'; id: number; verdict: LogBatchVerdict; ms: number };
