// Secrets between fields and at use: every service's `secrets:` names a declared secret, a `file:`
// source exists; and the value of a secret, read when it is needed (render, local start) so it
// never sits in a compiled spec longer than necessary.
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { PathSeg } from './positions.js';
import type { Problem } from './problem.js';
import { isPlainObject } from './shape.js';
import type { SecretSourceSpec } from './schema-secrets.js';
import { envVarName } from './command.js';

/** Problems of the `secrets:` fields (names used but not declared, files that do not exist). */
export function checkSecrets(data: Record<string, unknown>, dir: string, errors: Problem[], warnings: Problem[] = [], env: NodeJS.ProcessEnv = process.env): void {
  const declared = isPlainObject(data.secrets) ? data.secrets : {};
  for (const [name, src] of Object.entries(declared)) {
    if (isPlainObject(src) && typeof src.env === 'string' && env[src.env] === undefined) {
      warnings.push({ path: ['secrets', name, 'env'], message: `the environment variable ${src.env} is not set: services using secret \`${name}\` do not get it`, hint: `export ${src.env}=… before running berth` });
    }
    if (isPlainObject(src) && typeof src.file === 'string' && src.file !== '' && !existsSync(resolve(dir, src.file))) {
      errors.push({ path: ['secrets', name, 'file'], message: `secret file not found: ${resolve(dir, src.file)}`, hint: 'create it, or read the secret from env instead' });
    }
  }
  if (!isPlainObject(data.services)) return;
  for (const [svcName, svc] of Object.entries(data.services)) {
    if (!isPlainObject(svc) || !Array.isArray(svc.secrets)) continue;
    svc.secrets.forEach((use: unknown, i: number) => {
      if (!isPlainObject(use) || typeof use.name !== 'string' || use.name in declared) return;
      const path: PathSeg[] = ['services', svcName, 'secrets', i, 'name'];
      errors.push({ path, message: `no secret \`${use.name}\` under the top-level secrets:`, hint: `declare it: secrets: { ${use.name}: { env: ... } }` });
    });
  }
}

/** A secret's value. Throws an Error naming the secret when its variable is unset or its file unreadable. */
export function readSecret(name: string, src: SecretSourceSpec, dir: string, env: NodeJS.ProcessEnv = process.env): string {
  if (src.value !== undefined) return src.value;
  if (src.env !== undefined) {
    const v = env[src.env];
    if (v === undefined) throw new Error(`secret \`${name}\`: the environment variable ${src.env} is not set`);
    return v;
  }
  const file = resolve(dir, src.file ?? '');
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`secret \`${name}\`: cannot read ${file}: ${(err as Error).message}`);
  }
}

/** The variable that holds the path of a secret given as a file, locally and on the cluster: BERTH_SECRET_FILE_<NAME>. */
export function secretFileEnv(name: string): string {
  return `BERTH_SECRET_FILE_${envVarName(name)}`;
}
