// Writes the log agent's status.json (counters, and `diskFull` per sink) so that it can still be
// written when the disk is full: the node agent reads `diskFull` from it to say so in `berth events`.
import { existsSync, writeFileSync } from 'node:fs';
import { writeFileAtomic } from '../../lib/files.js';

/**
 * Writes atomically (temporary file + rename); when that fails (a full disk has no room for the
 * temporary copy), overwrites the existing file in place, reusing its own blocks. A reader may then
 * see a torn file; the node agent ignores what does not parse and reads again on its next tick.
 */
export function writeStatus(path: string, data: string): void {
  try {
    writeFileAtomic(path, data);
  } catch (err) {
    if (!existsSync(path)) throw err;
    writeFileSync(path, data);
  }
}
