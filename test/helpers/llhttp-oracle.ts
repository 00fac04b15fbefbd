// llhttp — Node's own HTTP/1.1 parser — as an independent oracle for the proxy's parsers, run
// in-process and synchronously through the parser binding node:http itself uses
// (`process.binding('http_parser')`, still reachable on Node 20; deprecated, hence the warning is
// silenced). Synchronous matters: a fuzz runs tens of thousands of cases in a second or two, and
// every case is exactly one `execute()` call, with no event-loop turns and no timing in the result.
// The verdicts are node:http's: its parser in strict mode (no lenient flags, as node:http runs it
// without --insecure-http-parser), a 16 KiB head limit (the proxy's maxHeaderSize), and HTTP/1.1
// requests without Host refused (node:http's requireHostHeader).
import http from 'node:http';

interface ParserBinding {
  HTTPParser: {
    new (): Parser;
    REQUEST: number;
    RESPONSE: number;
    kOnMessageBegin: number;
    kOnHeaders: number;
    kOnHeadersComplete: number;
    kOnBody: number;
    kOnMessageComplete: number;
    kOnExecute: number;
  };
  methods: string[];
}
interface Parser {
  [k: number]: unknown;
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void;
  execute(data: Buffer): number | Error;
  finish(): number | Error | undefined;
  close(): void;
}

const binding = ((): ParserBinding => {
  const quiet = process.noDeprecation;
  process.noDeprecation = true;
  try {
    return (process as unknown as { binding(name: string): ParserBinding }).binding('http_parser');
  } finally {
    process.noDeprecation = quiet;
  }
})();
const { HTTPParser } = binding;

export interface OracleMessage {
  method: string;
  url: string;
  versionMinor: number;
  statusCode: number;
  /** Raw header list [name, value, …] as node:http gives it (rawHeaders). */
  rawHeaders: string[];
  /** The headers object node:http builds from them (IncomingMessage.headers). */
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  /** The message ended (body complete) within the bytes given. */
  complete: boolean;
  upgrade: boolean;
  keepAlive: boolean;
}

/**
 * `ok`: the first message's head was accepted (`messages[0]`; later ones are what followed it in the
 * same bytes, e.g. a pipelined request after a body, and `error` says if parsing failed after it).
 */
export type OracleVerdict = { ok: true; messages: OracleMessage[]; error?: string } | { ok: false; code: string } | { ok: 'incomplete' };

/** IncomingMessage's header merging (first wins for some, cookie joined with '; ', set-cookie kept as a list, …). */
export function headersObject(raw: string[]): Record<string, string | string[] | undefined> {
  const m = new http.IncomingMessage(null as never);
  (m as unknown as { _addHeaderLines(h: string[], n: number): void })._addHeaderLines(raw, raw.length);
  return { ...m.headers } as Record<string, string | string[] | undefined>;
}

/**
 * Parses `data` as node:http would. `requestMethod` (responses): the method the response answers
 * (HEAD: no body). `eof`: the input ends there (a close-delimited body ends).
 */
export function llhttpParse(data: Buffer, kind: 'request' | 'response', opts: { requestMethod?: string; eof?: boolean } = {}): OracleVerdict {
  const p = new HTTPParser();
  const messages: OracleMessage[] = [];
  let raw: string[] = [];
  let urlPieces = '';
  let current: OracleMessage | undefined;
  p[HTTPParser.kOnMessageBegin] = () => {
    raw = [];
    urlPieces = '';
  };
  p[HTTPParser.kOnHeaders] = (h: string[], url: string) => {
    raw = raw.concat(h);
    urlPieces += url;
  };
  p[HTTPParser.kOnHeadersComplete] = (major: number, minor: number, h: string[] | undefined, method: number, url: string | undefined, statusCode: number, _msg: string, upgrade: boolean, keepAlive: boolean) => {
    if (h) raw = raw.concat(h);
    current = { method: kind === 'request' ? binding.methods[method] : '', url: url ?? urlPieces, versionMinor: major === 1 ? minor : -1, statusCode: statusCode ?? 0, rawHeaders: raw, headers: headersObject(raw), body: Buffer.alloc(0), complete: false, upgrade, keepAlive };
    messages.push(current);
    raw = [];
    urlPieces = '';
    // As node:http's client: no body for HEAD, 204 and 304 (1 = skip body).
    if (kind === 'response' && (opts.requestMethod === 'HEAD' || statusCode === 204 || statusCode === 304)) return 1;
    return 0;
  };
  p[HTTPParser.kOnBody] = (b: Buffer) => {
    if (current) current.body = Buffer.concat([current.body, b]);
  };
  p[HTTPParser.kOnMessageComplete] = () => {
    if (current) current.complete = true;
  };
  p[HTTPParser.kOnExecute] = () => {};
  p.initialize(kind === 'request' ? HTTPParser.REQUEST : HTTPParser.RESPONSE, {}, 16 * 1024, 0);
  try {
    let error: string | undefined;
    const r = p.execute(data);
    if (r instanceof Error) error = (r as Error & { code?: string }).code ?? 'error';
    else if (opts.eof) {
      const f = p.finish();
      if (f instanceof Error) error = (f as Error & { code?: string }).code ?? 'error';
      else if (current && !current.complete) current.complete = true;
    }
    const first = messages[0];
    if (!first) return error ? { ok: false, code: error } : { ok: 'incomplete' };
    // An error inside the first message (its head or body) is that message's verdict.
    if (error && !first.complete) return { ok: false, code: error };
    if (kind === 'request' && first.versionMinor === 1 && first.headers.host === undefined) return { ok: false, code: 'MISSING_HOST' };
    return error ? { ok: true, messages, error } : { ok: true, messages };
  } finally {
    p.close();
  }
}
