// `berth history SERVICE`: the numbered revisions of a service (number, revision hash, status, why,
// when), oldest first, from the control plane's API.
import type { RevisionEntry } from '../../control/index.js';
import { HttpError } from '../../lib/http.js';
import { requireControl, resolveContext } from '../context.js';
import { errors } from '../errors.js';
import { dim, green, red, table } from '../output.js';

export type HistoryRow = Omit<RevisionEntry, 'spec' | 'service'>;

function statusColor(status: string): string {
  if (status === 'current') return green(status);
  if (status === 'aborted') return red(status);
  return status === 'progressing' ? status : dim(status);
}

export async function history(service: string, o: { file?: string; json?: boolean }): Promise<void> {
  const ctx = resolveContext(o.file, false);
  const c = requireControl(ctx);
  let body: { service: string; revisions: HistoryRow[] };
  try {
    body = await c.get<{ service: string; revisions: HistoryRow[] }>(`/api/v1/history/${encodeURIComponent(service)}`);
  } catch (err) {
    if (err instanceof HttpError && err.status === 404) throw errors.failed(`no service "${service}" in the running application`, 'see `berth ps` for the services');
    throw err;
  }
  if (o.json) {
    process.stdout.write(JSON.stringify(body) + '\n');
    return;
  }
  if (body.revisions.length === 0) {
    process.stdout.write(`no revisions of ${service} recorded yet\n`);
    return;
  }
  process.stdout.write(
    table(
      ['REVISION', 'HASH', 'STATUS', 'WHY', 'WHEN', 'SPEC', 'MESSAGE'],
      body.revisions.map((r) => [String(r.number), r.revision, statusColor(r.status), r.why, r.at, r.specFile, r.message ?? '']),
    ) + '\n',
  );
}
