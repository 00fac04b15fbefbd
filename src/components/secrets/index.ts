// Secret stores: one interface (SecretStore), one factory from a component spec.
import type { ComponentSpec } from '../component.js';
import { ComponentConfigError } from '../metadata.js';
import { LocalEnvSecretStore } from './local-env.js';
import { LocalFileSecretStore } from './local-file.js';
import type { SecretStore } from './types.js';

export * from './types.js';
export { LocalEnvSecretStore, LocalFileSecretStore };

export function createSecretStore(spec: ComponentSpec, ctx: { baseDir?: string; env?: NodeJS.ProcessEnv } = {}): SecretStore {
  switch (spec.type) {
    case 'secretstores.local.env':
      return new LocalEnvSecretStore(spec, ctx.env);
    case 'secretstores.local.file':
      return new LocalFileSecretStore(spec, ctx);
    default:
      throw new ComponentConfigError(spec.name, `unknown secret store type "${spec.type}"; known: secretstores.local.env, secretstores.local.file`);
  }
}
