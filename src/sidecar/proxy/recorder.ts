// Traffic recording (the spec's `record:`, `berth record start`): copies sampled exchanges into HAR
// 1.2 entries, written off the request path by a HarWriter (a slow or full disk drops entries,
// counted, never delays a request). Loaded only once a snapshot asks for a recording, so a proxy
// that records nothing never pays for it.
//
// The copy is taken beside the data path (forward.ts calls the tap with the bytes it forwards), never
// in it: what the app and the client see is unchanged. On the request path only references and the
// body bytes are kept; the entries are built as JSON text (har-entry-text.ts) in a batch once the
// responses went out (setImmediate). Bodies are kept up to maxBodyBytes and marked `_truncated` beyond. In a sidecar, calls the app makes through its outbound listener while an
// inbound request with the same trace id (traceparent) is in flight are kept with that request
// (`_downstream`), so a replay can answer them.
import { join } from 'node:path';
import type { MeshRecording } from '../../lib/mesh-protocol.js';
import { HarWriter, type HarWriterStats } from '../../replay/index.js';
import { entryText, REDACTED, type CapturedBody, type CapturedExchange, type EntryContext } from './har-entry-text.js';
import { compileMatches, type RequestHead } from './routes.js';

/** How long one turn of the event loop may spend building entries (see Recorder.build). */
const BUILD_SLICE_MS = 5;

/** Redacted whatever the recording says (the defaults). */
export const DEFAULT_REDACTED = ['authorization', 'cookie', 'set-cookie', 'proxy-authorization'];
export { REDACTED };

/** What forward.ts reports of one exchange it carries. */
export interface ExchangeTap {
  /** A piece of the request body as it is sent upstream (valid only during the call). */
  requestBody(chunk: Buffer): void;
  /** The request body has ended, whole (not called when it was cut short). */
  requestEnd?(): void;
  /** The response head as it is sent to the client: status and flat [name, value, …] headers. */
  head(status: number, headers: string[]): void;
  /** A piece of the response body (valid only during the call). */
  data(chunk: Buffer): void;
  /** The response's trailers, [name, value, …] (HTTP/2: a gRPC status). */
  trailers?(flat: string[]): void;
}

/** A request's head as recorded: node:http's, the lean parser's and the HTTP/2 translation's all say their version. */
export type RecordedHead = RequestHead & { readonly httpVersion?: string };

const NO_HEADERS: string[] = [];
const MiB = 1024 * 1024;

/**
 * Bytes of body copies every recording in this process may hold for exchanges whose entries are not
 * built yet (in flight, or waiting for the next batch) — like mirror.ts's MIRROR_BUFFER_LIMIT. Past
 * it a body is cut where it is (`_truncated`); the traffic itself is never touched.
 */
export const RECORDER_HELD_LIMIT = 16 * MiB;
/** Downstream calls kept with one recorded request (a long-lived request can make thousands): past it they are dropped, counted. */
export const DOWNSTREAM_CALLS_LIMIT = 500;
/** Bytes of the bodies of the downstream calls kept with one recorded request: past it their bodies are cut (`_truncated`). */
export const DOWNSTREAM_BYTES_LIMIT = 4 * MiB;
/** Body bytes held now, across recorders (see RECORDER_HELD_LIMIT). */
let heldBytes = 0;

/** Body bytes the recorders of this process hold now (for tests and metrics). */
export function recorderHeldBytes(): number {
  return heldBytes;
}

class Piece implements CapturedBody {
  private first: Buffer | undefined;
  private rest: Buffer[] | undefined;
  kept = 0;
  size = 0;
  constructor(
    private max: number,
    private readonly owner: RecordedExchange,
  ) {}
  add(c: Buffer): void {
    this.size += c.length;
    if (this.kept >= this.max) return;
    const want = Math.min(c.length, this.max - this.kept);
    const n = this.owner.grant(want);
    // Out of budget: the body is cut here for good (a later chunk kept would leave a hole).
    if (n < want) this.max = this.kept + n;
    if (n === 0) return;
    // The chunk is a view of a buffer the proxy reuses: copy what is kept.
    const part = Buffer.from(n === c.length ? c : c.subarray(0, n));
    if (this.first === undefined) this.first = part;
    else (this.rest ??= []).push(part);
    this.kept += part.length;
  }
  get truncated(): boolean {
    return this.size > this.kept;
  }
  bytes(): Buffer {
    if (!this.first) return Buffer.alloc(0);
    return this.rest ? Buffer.concat([this.first, ...this.rest]) : this.first;
  }
}

/** Request headers as [name, value, …], taken when the request starts (the proxy may change the object later). */
function flatHeaders(headers: Record<string, string | string[] | undefined>): string[] {
  const out: string[] = [];
  for (const name in headers) {
    const v = headers[name];
    if (v === undefined) continue;
    if (typeof v === 'string') out.push(name, v);
    else for (const one of v) out.push(name, one);
  }
  return out;
}

/**
 * One exchange being recorded. On the request path it only keeps references and copies of the
 * bytes; its HAR entry is built and serialised after the response went out, in a batch.
 */
export class RecordedExchange implements ExchangeTap, CapturedExchange {
  readonly startedAt = Date.now();
  readonly t0 = performance.now();
  headAt = 0;
  endAt = 0;
  status = 0;
  finalStatus = 0;
  resHeaders = NO_HEADERS;
  reqBody: Piece | undefined;
  resBody: Piece | undefined;
  downstream: RecordedExchange[] | undefined;
  readonly reqHeaders: string[];
  readonly method: string;
  readonly url: string;
  /** Body bytes this exchange holds against RECORDER_HELD_LIMIT (given back once its entry is built). */
  held = 0;
  /** A recorded request: downstream calls begun for it, and the body bytes they were granted. */
  downCalls = 0;
  downBytes = 0;
  /** Its entry was built: a downstream call ending now can no longer join it. */
  built = false;

  /** '1.1' unless the request says otherwise ('1.0', '2.0'); only digits go into the entry's JSON text. */
  readonly httpVersion: string;

  constructor(
    private readonly rec: Recorder,
    req: RecordedHead,
    readonly traceId: string,
    /** The called service (a downstream call) or undefined (the recorded request itself). */
    readonly service: string | undefined,
    readonly parent: RecordedExchange | undefined,
  ) {
    this.method = req.method ?? 'GET';
    this.url = req.url ?? '/';
    this.httpVersion = req.httpVersion !== undefined && /^\d\.\d$/.test(req.httpVersion) ? req.httpVersion : '1.1';
    this.reqHeaders = flatHeaders(req.headers);
  }

  requestBody(chunk: Buffer): void {
    (this.reqBody ??= new Piece(this.rec.settings.maxBodyBytes, this)).add(chunk);
  }

  /** @internal Up to `n` bytes of body this exchange may keep (the global and the parent's budget allowing). */
  grant(n: number): number {
    let g = Math.min(n, RECORDER_HELD_LIMIT - heldBytes);
    if (this.parent) g = Math.min(g, DOWNSTREAM_BYTES_LIMIT - this.parent.downBytes);
    if (g <= 0) return 0;
    heldBytes += g;
    this.held += g;
    if (this.parent) this.parent.downBytes += g;
    return g;
  }

  /** @internal Gives its bytes back to the global budget (the entry was built, or dropped). */
  release(): void {
    heldBytes -= this.held;
    this.held = 0;
  }

  head(status: number, headers: string[]): void {
    this.headAt = performance.now();
    this.status = status;
    this.resHeaders = headers;
  }

  data(chunk: Buffer): void {
    (this.resBody ??= new Piece(this.rec.settings.maxBodyBytes, this)).add(chunk);
  }

  /** The exchange ended with `status` (0: the client went away). */
  finish(status: number): void {
    this.endAt = performance.now();
    this.finalStatus = status;
    this.rec.finish(this);
  }
}

export interface RecorderOptions {
  stateDir: string;
  proxyId: string;
  revision?: string;
  onError(err: Error): void;
}

/** One service's recording in one proxy. */
export class Recorder {
  readonly writer: HarWriter;
  private readonly redacted: Set<string>;
  private readonly matches: (req: RequestHead) => boolean;
  /** Recorded requests in flight by trace id, oldest first (several can share one): their downstream calls join them. */
  private readonly inflight = new Map<string, RecordedExchange[]>();
  /** Requests not recorded (not sampled, not matched, past `until`). */
  skipped = 0;
  /** Exchanges that could not be turned into an entry (counted as dropped). */
  unrecordable = 0;
  /** Finished requests whose entries are built in the next batch (setImmediate: after the responses went out). */
  private pending: RecordedExchange[] = [];
  private scheduled = false;
  private readonly ctx: EntryContext;
  private readonly buildBatch = (): void => this.build();

  constructor(
    readonly settings: MeshRecording,
    private readonly o: RecorderOptions,
  ) {
    this.redacted = new Set([...DEFAULT_REDACTED, ...settings.redactHeaders.map((h) => h.toLowerCase())]);
    this.matches = compileMatches(settings.match);
    this.ctx = { redacted: this.redacted, maxBodyBytes: settings.maxBodyBytes, proxyId: o.proxyId, revision: o.revision };
    this.writer = new HarWriter({
      dir: join(o.stateDir, 'recordings', settings.id),
      stem: o.proxyId,
      maxFileMiB: settings.maxFileMiB,
      creator: { name: 'berth-proxy', version: '0.1.0' },
      onError: o.onError,
    });
  }

  /** The same recording (a new snapshot that did not change it keeps the writer). */
  sameAs(s: MeshRecording): boolean {
    const a = this.settings;
    return a.id === s.id && a.sample === s.sample && a.maxBodyBytes === s.maxBodyBytes && a.maxFileMiB === s.maxFileMiB && a.until === s.until && JSON.stringify([a.match, a.redactHeaders]) === JSON.stringify([s.match, s.redactHeaders]);
  }

  /** Starts recording a request when it is sampled and matches; undefined otherwise. */
  begin(req: RecordedHead, traceId: string): RecordedExchange | undefined {
    const s = this.settings;
    if ((s.sample < 1 && Math.random() >= s.sample) || (s.until !== undefined && Date.now() > s.until) || !this.matches(req)) {
      this.skipped++;
      return undefined;
    }
    const x = new RecordedExchange(this, req, traceId, undefined, undefined);
    const same = this.inflight.get(traceId);
    if (same) same.push(x);
    else this.inflight.set(traceId, [x]);
    return x;
  }

  /** A call the app makes on behalf of a recorded request in flight (same trace id); undefined when there is none. */
  beginDownstream(req: RecordedHead, traceId: string, service: string): RecordedExchange | undefined {
    const same = this.inflight.get(traceId);
    if (!same) return undefined;
    // Attribution: a call joins the NEWEST recorded request of its trace still in flight. The trace id
    // is all the call carries; when requests of one trace overlap, the newest is the likeliest to be
    // the one waiting on the app (an older one still open is most often streaming or done computing),
    // and once it ends the calls go to the next newest — none is lost or filed under a request gone.
    const parent = same[same.length - 1];
    if (parent.downCalls >= DOWNSTREAM_CALLS_LIMIT) {
      this.unrecordable++; // past the per-request cap: dropped, counted
      return undefined;
    }
    parent.downCalls++;
    return new RecordedExchange(this, req, traceId, service, parent);
  }

  /** @internal A downstream call joins its parent; a request waits for the next batch. */
  finish(x: RecordedExchange): void {
    if (x.parent) {
      if (x.parent.built) {
        // Ended after its request's entry was written: it cannot join it (dropped, counted).
        x.release();
        this.unrecordable++;
      } else (x.parent.downstream ??= []).push(x);
      return;
    }
    const same = this.inflight.get(x.traceId);
    const at = same ? same.indexOf(x) : -1;
    if (at >= 0) {
      if (same!.length === 1) this.inflight.delete(x.traceId);
      else same!.splice(at, 1);
    }
    this.pending.push(x);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.buildBatch);
    }
  }

  /**
   * Builds the entries of the requests finished since the last batch and queues them for the writer:
   * for BUILD_SLICE_MS at most, then the rest in the next turn — a batch of compressed answers (each
   * decoded up to maxBodyBytes) held the event loop for seconds (400 answers of 14 B of br, ~1 MiB
   * each decoded: a health check waited 2 s). `sliceMs` Infinity: all now (closing).
   */
  private build(sliceMs = BUILD_SLICE_MS): void {
    this.scheduled = false;
    const batch = this.pending;
    this.pending = [];
    const bad = (): void => void this.unrecordable++;
    const until = performance.now() + sliceMs;
    for (let i = 0; i < batch.length; i++) {
      if (i > 0 && performance.now() > until) {
        // The rest goes first in the next batch, in order.
        this.pending = batch.slice(i).concat(this.pending);
        this.scheduled = true;
        setImmediate(this.buildBatch);
        return;
      }
      const x = batch[i];
      x.built = true;
      let text: string | undefined;
      try {
        text = entryText(x, this.ctx, bad);
      } catch {
        // A request the HAR cannot describe (a Host header no URL accepts): dropped and counted; the
        // request itself was served. Never thrown into the data path.
        this.unrecordable++;
      }
      // The bodies are in the text now (or dropped): their bytes go back to the budget.
      x.release();
      if (x.downstream) for (const d of x.downstream) d.release();
      if (text !== undefined) this.writer.writeText(text);
    }
  }

  /** Entries on disk. */
  get recorded(): number {
    return this.writer.stats().written;
  }

  /** Entries dropped by the writer (queue full, disk failure). */
  get dropped(): number {
    return this.writer.stats().dropped + this.unrecordable;
  }

  /** Builds what is pending, then writes everything and finishes the file. */
  close(): Promise<HarWriterStats> {
    if (this.pending.length) this.build(Infinity);
    return this.writer.close();
  }
}
