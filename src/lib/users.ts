// The OS user an app runs as (the spec's `user:` field): a user name from /etc/passwd, or a numeric
// `uid[:gid]`. Resolved by the node agent, on the machine that spawns the process, just before spawning.
import { readFileSync } from 'node:fs';

/** The user apps run as when Berth runs as root and the spec names none (docs/security.md). */
export const DEFAULT_ROOT_APP_USER = 'nobody';

/** A spec's `user:` value: a user name, or `uid` / `uid:gid`. */
export const USER_PATTERN = /^(?:[a-z_][a-z0-9_.-]*\$?|\d+(?::\d+)?)$/i;

export interface ResolvedUser {
  uid: number;
  gid: number;
}

function passwd(): string[][] {
  try {
    return readFileSync('/etc/passwd', 'utf8')
      .split('\n')
      .filter((l) => l && !l.startsWith('#'))
      .map((l) => l.split(':'));
  } catch {
    return []; // no passwd database (a minimal container): only numeric users resolve
  }
}

/** Resolves `user` to a uid and gid; throws an Error a person can act on when it does not exist. */
export function resolveUser(user: string): ResolvedUser {
  const numeric = /^(\d+)(?::(\d+))?$/.exec(user);
  if (numeric) {
    const uid = Number(numeric[1]);
    const gid = numeric[2] !== undefined ? Number(numeric[2]) : Number(passwd().find((f) => f[2] === numeric[1])?.[3] ?? uid);
    return { uid, gid };
  }
  if (!USER_PATTERN.test(user)) throw new Error(`user "${user}" is neither a user name nor uid[:gid]`);
  const entry = passwd().find((f) => f[0] === user);
  if (!entry || entry.length < 4) throw new Error(`user "${user}" does not exist on this machine (not in /etc/passwd); use a user that exists or a numeric uid[:gid]`);
  return { uid: Number(entry[2]), gid: Number(entry[3]) };
}
