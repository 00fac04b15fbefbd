// One POSTed log batch, from its raw body to a verdict: the records to store, or the HTTP status and
// why not. Runs in the log writer thread (log-writer-worker.ts), so parsing a 64 MiB body never
// blocks the control plane's event loop; only plain data crosses the thread boundary.
import Database from 'better-sqlite3';
import type { LogStore } from './log-store.js';

/** What the writer thread answers for a batch (the route turns it into the HTTP reply). */
export type LogBatchVerdict =
  | { status: 200; stored: number; duplicates: number }
  | { status: 400; error: string }
  /** The database failed (disk full, I/O error, locked): nothing was stored and a retry may succeed. */
  | { status: 503; error: string }
  /** A sidecar credential sent another service's records: `what` names them (the route words the 403). */
  | { status: 403; what: string };

/** `orders.v2` → orders: a variant's records may carry either name. */
const baseService = (s: string): string => s.split('.')[0];

/** Parses `{"records": [...]}`, checks that a scoped caller sends only its service's records, and stores them (one transaction). */
export function ingestBatch(store: LogStore, raw: Uint8Array, scopeService: string | undefined): LogBatchVerdict {
  let records: unknown;
  try {
    records = (JSON.parse(Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('utf8')) as { records?: unknown }).records;
  } catch (err) {
    return { status: 400, error: `invalid JSON: ${(err as Error).message}` };
  }
  if (!Array.isArray(records)) return { status: 400, error: 'expected {"records": [...]}' };
  if (scopeService !== undefined) {
    const other: unknown = records.find((r) => !r || typeof r !== 'object' || baseService(String((r as { service?: unknown }).service)) !== baseService(scopeService));
    if (other !== undefined) return { status: 403, what: `log records of service ${JSON.stringify((other as { service?: unknown } | null)?.service ?? null)}` };
  }
  try {
    return { status: 200, ...store.ingest(records) };
  } catch (err) {
    // A 400 makes the sender drop the batch: only for what is wrong with the batch itself.
    if (err instanceof Database.SqliteError) return { status: 503, error: `log store: ${err.message}` };
    return { status: 400, error: (err as Error).message };
  }
}
