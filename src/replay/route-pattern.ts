// Groups requests by endpoint: the method plus the path with its variable segments (numbers,
// UUIDs, long hex or token-like ids) collapsed, so `/items/42` and `/items/7` are one endpoint.

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const NUMBER = /^-?\d+(\.\d+)?$/;
const HEX_ID = /^[0-9a-f]{16,}$/i; // Mongo ObjectIds, hashes
/** Opaque tokens: long, mixing letters and digits (ULIDs, nanoids, base64url keys). */
const TOKEN = /^(?=.*\d)(?=.*[A-Za-z])[A-Za-z0-9_-]{20,}$/;

function segmentPattern(seg: string): string {
  let s = seg;
  try {
    s = decodeURIComponent(seg);
  } catch {
    // a malformed escape is kept as written: it is still a stable segment
  }
  if (NUMBER.test(s)) return '{n}';
  if (UUID.test(s)) return '{uuid}';
  if (HEX_ID.test(s) || TOKEN.test(s)) return '{id}';
  return seg;
}

/** `/orders/42/items/9f1c…` → `/orders/{n}/items/{uuid}` (no query string). */
export function routePattern(pathname: string): string {
  return pathname.split('/').map((seg, i) => (i === 0 || seg === '' ? seg : segmentPattern(seg))).join('/');
}

/** `GET /orders/{n}`: the key of an endpoint in reports and in learnt noise. */
export function endpointKey(method: string, pathname: string): string {
  return `${method.toUpperCase()} ${routePattern(pathname)}`;
}
