// Content fingerprints: a file is identified by its first line (up to 256 bytes), not by its name
// or inode, so renames and copies (rotation, copytruncate) are recognised as the same source.
import { createHash } from 'node:crypto';
import { readSync } from 'node:fs';

export const FINGERPRINT_BYTES = 256;

/** The fingerprint of the file open as `fd`, or undefined while it has no complete first line yet. */
export function fingerprintOf(fd: number, scratch = Buffer.allocUnsafe(FINGERPRINT_BYTES)): string | undefined {
  let n: number;
  try {
    n = readSync(fd, scratch, 0, FINGERPRINT_BYTES, 0);
  } catch {
    return undefined;
  }
  if (n === 0) return undefined;
  const nl = scratch.subarray(0, n).indexOf(0x0a);
  let head: Buffer;
  if (nl >= 0) head = scratch.subarray(0, nl + 1);
  else if (n === FINGERPRINT_BYTES) head = scratch.subarray(0, n);
  else return undefined;
  return createHash('sha256').update(head).digest('hex').slice(0, 20);
}
