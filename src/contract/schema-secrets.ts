// Spec fields for secrets: the app's `secrets:` (each read from a file, from the deploying shell's
// environment, or given as a value) and a service's `secrets:` (which of them it gets, as an
// environment variable or as a file). On a cluster they render as Secret objects (or ExternalSecret
// references), never into a ConfigMap; locally the instance gets the same variables.
import { z } from 'zod';
import { Label } from './label.js';

const ENV_VAR = /^[A-Za-z_][A-Za-z0-9_]*$/;

export const SecretSource = z
  .strictObject({
    file: z.string().min(1).optional().describe("Read from this file, relative to the spec file's directory."),
    env: z.string().regex(ENV_VAR, { message: 'must be an environment variable name' }).optional().describe('Read from this environment variable of the shell that runs berth.'),
    value: z.string().optional().describe('The value itself (prefer file or env: a value in the spec is in version control).'),
  })
  .refine((s) => [s.file, s.env, s.value].filter((x) => x !== undefined).length === 1, { message: 'give exactly one of file, env or value' })
  .describe('Where a secret comes from.');

export const Secrets = z.record(Label, SecretSource).describe('Secrets by name (DNS-1123 labels): rendered as Kubernetes Secrets (or ExternalSecrets), never into a ConfigMap.');

export const SecretUse = z
  .strictObject({
    name: Label.describe('A secret declared under the top-level `secrets:`.'),
    env: z.string().regex(ENV_VAR, { message: 'must be an environment variable name' }).optional().describe('Give the secret as this environment variable.'),
    file: z
      .string()
      .regex(/^\/[^\0]*[^/]$/, { message: 'must be an absolute file path, e.g. /run/secrets/api-key' })
      .optional()
      .describe('On the cluster, mount the secret as this file (read-only). In both places the app finds the file\'s path in BERTH_SECRET_FILE_<NAME> (locally the node agent writes it, readable only by the app\'s user).'),
  })
  .refine((u) => (u.env === undefined) !== (u.file === undefined), { message: 'give exactly one of env or file' })
  .describe('A secret this service gets.');

export const ServiceSecrets = z.array(SecretUse).optional().describe('Secrets this service gets, as environment variables or files.');

export type SecretSourceSpec = z.output<typeof SecretSource>;
export type SecretUseSpec = z.output<typeof SecretUse>;
