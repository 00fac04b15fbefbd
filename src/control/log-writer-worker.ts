// The log writer thread: the only connection that writes the control plane's log database. It
// takes batches from LogIngest (log-ingest.ts) one at a time, in order, and answers each once its
// transaction has committed; retention runs here too. Started with `workerData` = WriterStart.
import { parentPort, workerData } from 'node:worker_threads';
import { ingestBatch } from './log-batch.js';
import { LogStore } from './log-store.js';
import type { WriterReply, WriterRequest, WriterStart } from './log-writer-protocol.js';

const port = parentPort;
if (!port) throw new Error('log-writer-worker.js runs as a worker thread');
const start = workerData as WriterStart;
const store = new LogStore(start.path, start.retention);
port.postMessage({ kind: 'ready' } satisfies WriterReply);

port.on('message', (m: WriterRequest) => {
  if (m.kind === 'close') {
    store.close();
    port.close();
    return;
  }
  const t = performance.now();
  const verdict = ingestBatch(store, m.raw, m.scopeService);
  port.postMessage({ kind: 'done', id: m.id, verdict, ms: performance.now() - t } satisfies WriterReply);
});
