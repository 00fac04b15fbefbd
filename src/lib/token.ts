// The API token of a state directory: created once (random, file mode 0600), then read. Its own
// module so that processes that only read the token (proxies, agents) do not load node:crypto.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { writeFileAtomic } from './files.js';

export function ensureToken(path: string): string {
  try {
    const t = readFileSync(path, 'utf8').trim();
    if (t) return t;
  } catch {
    // no token yet (or unreadable): a new one is written below
  }
  const token = randomBytes(24).toString('hex');
  writeFileAtomic(path, token + '\n', 0o600);
  return token;
}
