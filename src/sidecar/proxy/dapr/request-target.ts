// The path and query of a request to the building-block API, as `new URL(target, base)` gives them.
import { ApiError } from './errors.js';
/** A request target's path and query, as `new URL` gives them. */
export interface Target {
  pathname: string;
  search: string;
  readonly searchParams: URLSearchParams;
}

// Plain origin-form targets (printable ASCII without '#' or a backslash, no dot segment, plain or
// %2e, not starting with '//') are split by hand: `new URL` per request was a visible share of the
// API's CPU. Anything else goes through URL's normalisation as before.
const PLAIN_TARGET = /^\/[\x21\x22\x24-\x5b\x5d-\x7e]*$/;
const DOT_SEGMENT = /\/(?:\.|%2e)/i;

/**
 * Through URL's normalisation, as a path on a fixed origin: `new URL('//admin/x', base)` read
 * `admin` as a host (the app got `/x`). A target URL cannot read (not origin-form) is a 400.
 */
function parsed(t: string): URL {
  if (!t.startsWith('/')) throw new ApiError(400, 'ERR_MALFORMED_REQUEST', `request target ${JSON.stringify(t.slice(0, 100))} is not a path`);
  try {
    return new URL(`http://dapr${t}`);
  } catch {
    throw new ApiError(400, 'ERR_MALFORMED_REQUEST', `request target ${JSON.stringify(t.slice(0, 100))} is not a valid path`);
  }
}

export function requestTarget(raw: string | undefined): Target {
  const t = raw ?? '/';
  const q = t.indexOf('?');
  if (!PLAIN_TARGET.test(t) || t.startsWith('//') || DOT_SEGMENT.test(q < 0 ? t : t.slice(0, q))) return parsed(t);
  const search = q < 0 || q === t.length - 1 ? '' : t.slice(q);
  let params: URLSearchParams | undefined;
  return {
    pathname: q < 0 ? t : t.slice(0, q),
    search,
    get searchParams() {
      return (params ??= new URLSearchParams(search));
    },
  };
}
