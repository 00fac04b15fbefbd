// secretstores.local.file: secrets from a JSON file (`secretsFile`, relative to the spec's folder).
// Name/value mode (multiValued=false) flattens the whole hierarchy with `nestedSeparator` (":"):
// {"a":{"b":"x"}} serves "a:b". Multi-valued mode keeps one level: "a" is a secret whose keys are
// the flattened contents of its object. The file is read again when it changes.
import { readFileSync, statSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import type { ComponentSpec } from '../component.js';
import { ComponentConfigError, MetadataReader } from '../metadata.js';
import { SecretNotFoundError, type Secret, type SecretStore } from './types.js';

function flatten(value: unknown, prefix: string, sep: string, out: Record<string, string>): void {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) flatten(v, prefix ? `${prefix}${sep}${k}` : k, sep, out);
    return;
  }
  if (Array.isArray(value)) {
    value.forEach((v, i) => flatten(v, prefix ? `${prefix}${sep}${i}` : String(i), sep, out));
    return;
  }
  out[prefix] = value === null ? '' : String(value);
}

export class LocalFileSecretStore implements SecretStore {
  readonly type = 'secretstores.local.file';
  readonly name: string;
  readonly file: string;
  private readonly sep: string;
  private readonly multiValued: boolean;
  private cache: { mtimeMs: number; size: number; secrets: Record<string, Secret> } | undefined;

  constructor(spec: ComponentSpec, ctx: { baseDir?: string } = {}) {
    this.name = spec.name;
    const meta = new MetadataReader(spec);
    const file = meta.required('secretsFile');
    this.file = isAbsolute(file) ? file : resolve(ctx.baseDir ?? process.cwd(), file);
    this.sep = meta.string('nestedSeparator', ':');
    this.multiValued = meta.bool('multiValued', false);
    this.load(); // a missing or malformed file is a configuration error at start, not at first use
  }

  features(): string[] {
    return this.multiValued ? ['MULTIPLE_KEY_VALUES_PER_SECRET'] : [];
  }

  async get(key: string): Promise<Secret> {
    const s = this.load()[key];
    if (!s) throw new SecretNotFoundError(this.name, key);
    return { ...s };
  }

  async bulk(): Promise<Record<string, Secret>> {
    return structuredClone(this.load());
  }

  async close(): Promise<void> {}

  private load(): Record<string, Secret> {
    let st;
    try {
      st = statSync(this.file);
    } catch (err) {
      throw new ComponentConfigError(this.name, `cannot read secretsFile ${this.file}: ${(err as Error).message}`);
    }
    if (this.cache && this.cache.mtimeMs === st.mtimeMs && this.cache.size === st.size) return this.cache.secrets;
    let doc: unknown;
    try {
      doc = JSON.parse(readFileSync(this.file, 'utf8'));
    } catch (err) {
      throw new ComponentConfigError(this.name, `secretsFile ${this.file} is not valid JSON: ${(err as Error).message}`);
    }
    if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
      throw new ComponentConfigError(this.name, `secretsFile ${this.file} must hold a JSON object`);
    }
    const secrets: Record<string, Secret> = {};
    if (this.multiValued) {
      for (const [k, v] of Object.entries(doc as Record<string, unknown>)) {
        const inner: Record<string, string> = {};
        if (v !== null && typeof v === 'object') flatten(v, '', this.sep, inner);
        else inner[k] = v === null ? '' : String(v);
        secrets[k] = inner;
      }
    } else {
      const flat: Record<string, string> = {};
      flatten(doc, '', this.sep, flat);
      for (const [k, v] of Object.entries(flat)) secrets[k] = { [k]: v };
    }
    this.cache = { mtimeMs: st.mtimeMs, size: st.size, secrets };
    return secrets;
  }
}
