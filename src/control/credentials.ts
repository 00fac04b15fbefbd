// Credentials of the control plane's API. The admin token (`.berth/token`) may do everything; a
// sidecar credential names one instance (and its deployment) and may only do what that instance's
// sidecars need (api-scopes.ts decides). Sidecar credentials are derived, not stored: an HMAC of the
// scope under the admin token, so they survive control-plane restarts (running sidecars keep theirs)
// and die with the admin token (delete `.berth/token` to revoke every one).
import { createHmac, timingSafeEqual } from 'node:crypto';

/** Who is calling: the admin (CLI, node agents) or the sidecars of one instance. */
export type Principal = { kind: 'admin' } | { kind: 'sidecar'; instance: string; service: string };

const PREFIX = 'berth-sidecar.v1';

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64url');
const unb64 = (s: string): string => Buffer.from(s, 'base64url').toString('utf8');

function mac(adminToken: string, instance: string, service: string): string {
  return createHmac('sha256', adminToken).update(`${PREFIX}\0${instance}\0${service}`).digest('base64url');
}

/** The credential handed to the sidecars of `instance` (a deployment's instance, or the gateway). */
export function mintSidecarCredential(adminToken: string, instance: string, service: string): string {
  return `${PREFIX}.${b64(instance)}.${b64(service)}.${mac(adminToken, instance, service)}`;
}

function equal(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** The principal a bearer token stands for, or undefined when it is neither the admin token nor a valid sidecar credential. */
export function authenticate(adminToken: string, authorization: string | undefined): Principal | undefined {
  const given = authorization?.startsWith('Bearer ') ? authorization.slice(7).trim() : '';
  if (!given) return undefined;
  if (equal(given, adminToken)) return { kind: 'admin' };
  if (!given.startsWith(`${PREFIX}.`)) return undefined;
  const parts = given.slice(PREFIX.length + 1).split('.');
  if (parts.length !== 3) return undefined;
  const instance = unb64(parts[0]);
  const service = unb64(parts[1]);
  if (!instance || !equal(parts[2], mac(adminToken, instance, service))) return undefined;
  return { kind: 'sidecar', instance, service };
}
