// The proxy's side of dead letters in `berth events`: the recent records, rewritten atomically to
// the instance's dead-letter file at most every 200 ms (see src/lib/dapr-dead-letters.ts).
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { writeJsonAtomic } from '../../../lib/files.js';
import { DEAD_LETTER_KEEP, type DeadLetterFile, type DeadLetterRecord } from '../../../lib/dapr-dead-letters.js';

export class DeadLetterLog {
  private readonly file: DeadLetterFile = { startedAt: new Date().toISOString(), records: [] };
  private seq = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly path: string) {}

  add(r: Omit<DeadLetterRecord, 'seq' | 'at'>): void {
    this.file.records.push({ seq: ++this.seq, at: new Date().toISOString(), ...r });
    if (this.file.records.length > DEAD_LETTER_KEEP) this.file.records.splice(0, this.file.records.length - DEAD_LETTER_KEEP);
    this.timer ??= setTimeout(() => this.flush(), 200);
  }

  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.seq === 0) return;
    try {
      mkdirSync(dirname(this.path), { recursive: true });
      writeJsonAtomic(this.path, this.file);
    } catch {
      // The proxy's log has every dead letter too; a full disk must not stop deliveries.
    }
  }
}
