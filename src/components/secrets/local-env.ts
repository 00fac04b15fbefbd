// secretstores.local.env: secrets are the process's environment variables. `prefix` limits the
// store to variables with that prefix and strips it from the names. As in Dapr, APP_API_TOKEN and
// every DAPR_* variable are never served.
import type { ComponentSpec } from '../component.js';
import { MetadataReader } from '../metadata.js';
import { SecretNotFoundError, type Secret, type SecretStore } from './types.js';

const hidden = (name: string): boolean => name === 'APP_API_TOKEN' || name.startsWith('DAPR_');

export class LocalEnvSecretStore implements SecretStore {
  readonly type = 'secretstores.local.env';
  readonly name: string;
  private readonly prefix: string;

  constructor(
    spec: ComponentSpec,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {
    this.name = spec.name;
    this.prefix = new MetadataReader(spec).string('prefix', '');
  }

  features(): string[] {
    return [];
  }

  async get(key: string): Promise<Secret> {
    const full = this.prefix + key;
    const value = this.env[full];
    if (!key || hidden(full) || value === undefined) throw new SecretNotFoundError(this.name, key);
    return { [key]: value };
  }

  async bulk(): Promise<Record<string, Secret>> {
    const out: Record<string, Secret> = {};
    for (const [name, value] of Object.entries(this.env)) {
      if (value === undefined || hidden(name) || !name.startsWith(this.prefix)) continue;
      const key = name.slice(this.prefix.length);
      if (key) out[key] = { [key]: value };
    }
    return out;
  }

  async close(): Promise<void> {}
}
