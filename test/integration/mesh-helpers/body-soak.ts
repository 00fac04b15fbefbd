// The body integrity soak (issue 11), shared by the HTTP/1.1 and the h2c client suites: the app side
// (hash what arrives, answer a random body in random pieces, or 401 before the upload ends), the random
// plan of each exchange (sizes 0–8 MiB, sized or chunked, random piece sizes) and the loop that checks
// every body's sha256 at both ends and that no request was delivered twice. Each client suite only
// says how one exchange travels (`SoakSend`).
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { rng } from '../../helpers/seeded-random.js';

/** Each soak's length in ms (BERTH_SOAK_MS, 15 s by default); suites scale their own paths from it. */
export const SOAK_MS = Number(process.env.BERTH_SOAK_MS ?? 15_000) || 15_000;

/** What the soak app needs of a request: node:http's IncomingMessage and node:http2's compat request both fit. */
export interface SoakAppRequest {
  headers: Record<string, string | string[] | undefined>;
  on(event: 'data', listener: (d: Buffer) => void): unknown;
  on(event: 'end', listener: () => void): unknown;
}

/** What the soak app needs of a response: node:http's ServerResponse and node:http2's compat response both fit. */
export interface SoakAppResponse {
  writeHead(status: number, headers: Record<string, string | number>): unknown;
  write(chunk: Buffer): boolean;
  end(): unknown;
  once(event: 'drain', listener: () => void): unknown;
}

/**
 * The app side of the soak. Counts deliveries per `x-req-id` in `delivered`; `x-early: 1` is answered
 * 401 at once; otherwise the body is hashed and the answer carries `x-req-sha`/`x-req-len` and a random
 * body of `x-resp-size` bytes (`x-resp-sha`), with a content-length when `x-resp-mode` is `sized`.
 */
export function soakApp(delivered: Map<string, number>): (req: SoakAppRequest, res: SoakAppResponse) => void {
  return (req, res) => {
    const id = String(req.headers['x-req-id'] ?? '');
    if (id) delivered.set(id, (delivered.get(id) ?? 0) + 1);
    if (req.headers['x-early'] === '1') {
      // Answered before the upload ends (an auth failure).
      res.writeHead(401, { 'content-length': 0 });
      res.end();
      return;
    }
    const h = createHash('sha256');
    let n = 0;
    req.on('data', (d: Buffer) => {
      h.update(d);
      n += d.length;
    });
    req.on('end', () => {
      const size = Number(req.headers['x-resp-size'] ?? 0);
      const body = randomBytes(size);
      const headers: Record<string, string | number> = { 'x-req-sha': h.digest('hex'), 'x-req-len': n, 'x-resp-sha': createHash('sha256').update(body).digest('hex') };
      if (req.headers['x-resp-mode'] === 'sized') headers['content-length'] = size;
      res.writeHead(200, headers);
      // In random pieces (chunked HTTP/1.1 answers get one chunk per piece, HTTP/2 one DATA run per piece).
      const random = rng(size);
      let at = 0;
      const more = (): void => {
        while (at < size) {
          const piece = body.subarray(at, at + 1 + Math.floor(random() * 100_000));
          at += piece.length;
          if (!res.write(piece)) return void res.once('drain', more);
        }
        res.end();
      };
      more();
    });
  };
}

/** One exchange of the soak, decided before it is sent. */
export interface SoakPlan {
  id: string;
  /** Request headers for the app (`x-req-id`, `x-resp-size`, `x-resp-mode`, maybe `x-early`). */
  headers: Record<string, string>;
  /** The request body, in the pieces the client writes it in. */
  pieces: Buffer[];
  reqSize: number;
  respSize: number;
  /** With a content-length (else chunked in HTTP/1.1, no length in HTTP/2). */
  sized: boolean;
  /** The app answers 401 before the body ends. */
  early: boolean;
  /** The request body's sha256 (hex). */
  sha: string;
}

/** What came back: the status, the response headers and the body's sha256 and length, or the client's error. */
export type SoakResult = { status: number; headers: Record<string, string | string[] | number | undefined>; sha: string; len: number } | Error;

/** Sends one planned exchange and reports what came back (never rejects: an error is a result). */
export type SoakSend = (plan: SoakPlan) => Promise<SoakResult>;

/** A random exchange: sizes mostly small, some up to 1 MiB, a few up to 8 MiB. */
function plan(random: () => number, id: string): SoakPlan {
  const size = (): number => {
    const r = random();
    return r < 0.15 ? 0 : r < 0.6 ? Math.floor(random() * 64 * 1024) : r < 0.92 ? Math.floor(random() * 1024 * 1024) : Math.floor(random() * 8 * 1024 * 1024);
  };
  const reqSize = size();
  const respSize = size();
  const sized = random() < 0.5;
  const early = reqSize > 0 && random() < 0.1;
  const body = randomBytes(reqSize);
  const pieces: Buffer[] = [];
  for (let at = 0; at < reqSize; ) {
    const n = 1 + Math.floor(random() * (random() < 0.5 ? 5000 : 300_000));
    pieces.push(body.subarray(at, at + n));
    at += n;
  }
  const headers: Record<string, string> = { 'x-req-id': id, 'x-resp-size': String(respSize), 'x-resp-mode': random() < 0.5 ? 'sized' : 'chunked', ...(early ? { 'x-early': '1' } : {}) };
  return { id, headers, pieces, reqSize, respSize, sized, early, sha: createHash('sha256').update(body).digest('hex') };
}

/**
 * Runs `workers` concurrent loops of random exchanges through `send` for `ms` (up to 3 × `ms` until
 * `minChecked` exchanges were checked and one was answered early), stopping at the first failure;
 * asserts every body arrived whole at both ends, no request id was delivered twice, enough exchanges
 * were checked and some were answered early. Returns the figures as a line.
 */
export async function runSoak(opts: { ms: number; seed: number; prefix: string; workers: number; minChecked: number; delivered: Map<string, number>; send: SoakSend }): Promise<string> {
  const random = rng(opts.seed);
  const deadline = performance.now() + opts.ms;
  const hardDeadline = deadline + 2 * opts.ms;
  let done = 0;
  let early = 0;
  let bytes = 0;
  const failures: string[] = [];
  /** The slowest exchange, in the figures: a stall that the deadline hides shows here. */
  let slowest = { ms: 0, what: '' };
  const one = async (id: string): Promise<void> => {
    const p = plan(random, id);
    const t0 = performance.now();
    const result = await opts.send(p);
    bytes += p.reqSize + p.respSize;
    const up = `${p.reqSize} bytes up ${p.sized ? 'sized' : 'chunked'}`;
    const took = performance.now() - t0;
    if (took > slowest.ms) slowest = { ms: took, what: `${id}: ${up}, ${p.respSize} down${p.early ? ', answered early' : ''}${result instanceof Error ? `, ${result.message}` : `, status ${result.status}`}` };
    if (p.early) {
      early++;
      // The client gets the 401, or (if it was still writing when the stream or connection closed) an error.
      if (!(result instanceof Error) && result.status !== 401) failures.push(`${id}: early answer ${result.status}`);
      return;
    }
    if (result instanceof Error) return void failures.push(`${id}: ${result.message} (${up}, ${p.respSize} down, after ${Math.round(performance.now() - t0)} ms)`);
    if (result.status !== 200) return void failures.push(`${id}: status ${result.status} (${up}, ${p.respSize} down)`);
    if (result.headers['x-req-sha'] !== p.sha) failures.push(`${id}: request body differs at the app (${up}, ${String(result.headers['x-req-len'])} received)`);
    if (result.headers['x-resp-sha'] !== result.sha || result.len !== p.respSize) failures.push(`${id}: response body differs at the client (${p.respSize} bytes sent, ${result.len} received)`);
    done++;
  };
  let next = 0;
  // Past the deadline only while too few exchanges were checked or none was answered early (a short or
  // loaded run), and never past three times the length.
  const enough = (): boolean => performance.now() >= deadline && (performance.now() >= hardDeadline || (done >= opts.minChecked && early > 0));
  const worker = async (): Promise<void> => {
    while (!enough() && failures.length === 0) await one(`${opts.prefix}${next++}`);
  };
  await Promise.all(Array.from({ length: opts.workers }, worker));
  assert.deepEqual(failures, []);
  for (const [id, n] of opts.delivered) assert.ok(n <= 1, `${id} delivered ${n} times`);
  const figures = `${done} exchanges checked, ${early} answered early, ${(bytes / 1048576).toFixed(0)} MiB; slowest ${Math.round(slowest.ms)} ms (${slowest.what})`;
  assert.ok(done >= opts.minChecked && early > 0, `enough exchanges (${figures})`);
  return figures;
}
