// The API token of a state directory: created once (random, file mode 0600), then read. Its own
// module so that processes that only read the token (proxies, agents) do not load node:crypto.
// Creation is create-if-absent (link(2) of a complete temp file fails when the token exists), so two
// racing starters agree on one token instead of the last rename silently replacing the first.
import { randomBytes } from 'node:crypto';
import { linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

function readExisting(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim() || undefined;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

export function ensureToken(path: string): string {
  const existing = readExisting(path);
  if (existing) return existing;
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const token = randomBytes(24).toString('hex');
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  writeFileSync(tmp, token + '\n', { mode: 0o600 });
  try {
    linkSync(tmp, path);
    return token;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    const winner = readExisting(path);
    if (!winner) throw new Error(`${path} exists but is empty: delete it and start again`, { cause: err });
    return winner;
  } finally {
    rmSync(tmp, { force: true });
  }
}
