/** One secret: its key/value pairs (one pair for name/value stores). */
export type Secret = Record<string, string>;

export interface SecretStore {
  readonly name: string;
  readonly type: string;
  /** Dapr's secret store features: MULTIPLE_KEY_VALUES_PER_SECRET when multi-valued. */
  features(): string[];
  /** Throws SecretNotFoundError when the store has no such secret. */
  get(key: string): Promise<Secret>;
  /** Every secret, keyed by secret name. */
  bulk(): Promise<Record<string, Secret>>;
  close(): Promise<void>;
}

export class SecretNotFoundError extends Error {
  readonly code = 'ERR_SECRET_GET';
  constructor(store: string, key: string) {
    super(`failed getting secret with key ${key} from secret store ${store}: secret ${key} not found`);
    this.name = 'SecretNotFoundError';
  }
}
