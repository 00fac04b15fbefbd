// Load balancers (Istio/Envoy meaning): round_robin, least_request (power of two choices on
// in-flight requests), random, consistent_hash (on a header or cookie; the same key keeps going to
// the same endpoint while it is healthy). One interface; each picks among healthy candidates,
// avoiding endpoints already tried for this request when another exists.
import type { RequestHead } from './routes.js';
import type { MeshPolicy } from '../../lib/mesh-protocol.js';
import type { EndpointState } from './endpoints.js';

export interface Balancer {
  pick(candidates: readonly EndpointState[], req: RequestHead): EndpointState | undefined;
  /**
   * The pick while slow start gives the candidates unequal weights. Absent: the balancer
   * ignores slow start (consistent hash, whose keys must stay on their endpoint; Istio's warmup too
   * applies only to round robin and least request).
   */
  pickWeighted?(candidates: readonly EndpointState[], weights: readonly number[]): EndpointState | undefined;
}

/** A random candidate, each as likely as its weight. */
function weightedRandom(c: readonly EndpointState[], weights: readonly number[]): EndpointState | undefined {
  let r = Math.random() * weights.reduce((a, b) => a + b, 0);
  for (let i = 0; i < c.length; i++) {
    r -= weights[i];
    if (r < 0) return c[i];
  }
  return c[c.length - 1];
}

/**
 * `cursor`: where the next pick is, kept across snapshots by the caller (endpoints.ts): each snapshot
 * builds the balancers anew, and one starting at the first endpoint every time sent every proxy's
 * next request there after each snapshot (a change anywhere in the app).
 */
export function roundRobin(cursor: { next: number } = { next: 0 }): Balancer {
  return {
    pick(c) {
      if (c.length === 0) return undefined;
      if (cursor.next >= c.length) cursor.next = 0;
      return c[cursor.next++];
    },
    pickWeighted: weightedRandom,
  };
}

export function randomBalancer(): Balancer {
  return { pick: (c) => (c.length === 0 ? undefined : c[Math.floor(Math.random() * c.length)]), pickWeighted: weightedRandom };
}

export function leastRequest(): Balancer {
  return {
    pick(c) {
      if (c.length <= 1) return c[0];
      const a = c[Math.floor(Math.random() * c.length)];
      let b = c[Math.floor(Math.random() * (c.length - 1))];
      if (b === a) b = c[c.length - 1];
      return b.active < a.active ? b : a;
    },
    // Envoy with unequal weights: each endpoint in proportion to weight / (in flight + 1), so the
    // in-flight counts still steer requests away from busy endpoints while a new one warms up.
    pickWeighted: (c, weights) => weightedRandom(c, weights.map((w, i) => w / (c[i].active + 1))),
  };
}

/** FNV-1a, 32 bit. */
function hash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** Rendezvous hashing: stable for a key while the endpoint set is; only keys of a removed endpoint move. */
export function consistentHash(on: { header?: string; cookie?: string }): Balancer {
  const header = on.header?.toLowerCase();
  const fallback = roundRobin();
  return {
    pick(c, req) {
      const raw = header ? req.headers[header] : cookieValue(req.headers.cookie, on.cookie!);
      const key = Array.isArray(raw) ? raw.join(',') : raw;
      if (key === undefined) return fallback.pick(c, req);
      let best: EndpointState | undefined;
      let bestScore = -1;
      for (const e of c) {
        const score = hash(`${key}\u0000${e.id}`);
        if (score > bestScore) {
          bestScore = score;
          best = e;
        }
      }
      return best;
    },
  };
}

export function createBalancer(policy: MeshPolicy['balancer'] | undefined, cursor?: { next: number }): Balancer {
  if (policy === undefined || policy === 'round_robin') return roundRobin(cursor);
  if (policy === 'least_request') return leastRequest();
  if (policy === 'random') return randomBalancer();
  return consistentHash(policy.consistentHash);
}
