// The proxy's HTTP/1.1 code checked against an independent parser: llhttp, Node's own, driven
// synchronously in-process (test/helpers/llhttp-oracle.ts). Differential fuzz, seeded and bounded:
//  - the lean request-head parser: whatever it accepts, llhttp accepts with the same method, target
//    (after the same normalisation), version, headers object and body framing; what it does not
//    accept goes to node:http, i.e. to llhttp itself, so together they answer exactly as llhttp;
//  - the chunked decoder: the same verdict (error / more / end), the same bytes, and the same end
//    of the body (what follows parses the same — the request-smuggling question), at random splits;
//  - the response-head scanner: refuses exactly what llhttp refuses, and frames what it accepts the
//    same way (length, chunked, connection close).
// Inputs: valid messages, every smuggling shape (CL+TE, TE+CL, duplicate CL, obs-fold,
// `chunked, identity`, bad chunk sizes, extensions, bare CR/LF, NUL, VT/NBSP around values), and
// random mutations of those.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ChunkedBodyDecoder, parseRequestHead } from '../../../src/sidecar/proxy/lean-server.js';
import { normalizePath } from '../../../src/sidecar/proxy/http-syntax.js';
import { H1_KEPT_ASIDE } from '../../../src/sidecar/proxy/request-headers.js';
import { scanHeaderLines, STATUS_LINE_BAD, statusLineEnd, UpstreamHead } from '../../../src/sidecar/proxy/upstream-client.js';
import { headersObject, llhttpParse } from '../../helpers/llhttp-oracle.js';
import { rng } from '../../helpers/seeded-random.js';

/** Cases per property (BERTH_FUZZ_CASES for a longer run). */
const CASES = Number(process.env.BERTH_FUZZ_CASES ?? 15_000) || 15_000;

const pick = <T>(random: () => number, xs: readonly T[]): T => xs[Math.floor(random() * xs.length)];

/** Bytes that break parsers: whitespace of every kind, controls, separators, obs-text. */
const NASTY = ['\r', '\n', '\r\n', ' ', '\t', '\x0b', '\x0c', '\x00', '\x7f', '\xa0', '\xe9', ';', '=', '"', '\\', ':', ',', '0', 'f', 'z', '-', '+', 'x', '/', '.', '%', '#', '?', '@', '*'];

/** Mutates `text`: a few insertions, deletions, replacements and duplications at random places. */
function mutate(random: () => number, text: string): string {
  let t = text;
  const n = 1 + Math.floor(random() * 3);
  for (let k = 0; k < n; k++) {
    const at = Math.floor(random() * (t.length + 1));
    const r = random();
    if (r < 0.35) t = t.slice(0, at) + pick(random, NASTY) + t.slice(at);
    else if (r < 0.6) t = t.slice(0, at) + t.slice(at + 1 + Math.floor(random() * 3));
    else if (r < 0.85) t = t.slice(0, at) + pick(random, NASTY) + t.slice(at + 1);
    else {
      const len = Math.floor(random() * 12);
      t = t.slice(0, at) + t.slice(at, at + len) + t.slice(at);
    }
  }
  return t;
}

const METHODS = ['GET', 'POST', 'PUT', 'HEAD', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE', 'LINK', 'PURGE', 'FOO', 'get', 'CONNECT', 'PRI', 'SEARCH'];
const TARGETS = ['/', '/a/b?c=d', '/public/../admin', '/a/./b/', '/%7euser/%2e%2e/x', '/a%2Fb', '/a//b', '/a\\b', '/%00', '/é', '/a#frag', '/"quoted"', '/{x}', '/a|b', '*', 'http://h/x', '/a^b', '/`', '/%zz', '/a%'];
const HEADER_LINES = [
  'Host: h',
  'host: other',
  'Content-Length: 5',
  'Content-Length: 0',
  'Content-Length: 05',
  'Content-Length:  5 ',
  'Content-Length: 5, 5',
  'Content-Length: \x0b5',
  'Content-Length: 5\t',
  'Content-Length:\t5',
  'Transfer-Encoding: chunked\t',
  'Transfer-Encoding:\tchunked ',
  'Content-Length: 5\xa0',
  'Content-Length: -1',
  'Content-Length: 99999999999999999',
  'Transfer-Encoding: chunked',
  'Transfer-Encoding: Chunked',
  'transfer-encoding:chunked',
  'Transfer-Encoding: gzip, chunked',
  'Transfer-Encoding: chunked, identity',
  'Transfer-Encoding: identity',
  'Transfer-Encoding: chunked\x0b',
  'Transfer-Encoding: \xa0chunked',
  'Transfer-Encoding : chunked',
  ' Transfer-Encoding: chunked',
  'X-Folded: a\r\n b',
  'Connection: close',
  'Connection: keep-alive, x-close',
  'Connection: Upgrade',
  'Upgrade: websocket',
  'Expect: 100-continue',
  'Cookie: a=1',
  'cookie: b=2',
  'Set-Cookie: s=1',
  'Authorization: one',
  'authorization: two',
  'X-A: 1',
  'x-a: 2',
  'X-Empty:',
  'X-Latin: caf\xe9',
  'X-Tab: \ta\t',
  'X-Ctl: a\x01b',
  'X-Nul: a\x00b',
  'X-Del: a\x7fb',
  'X-Vt: a\x0bb',
  'Bad Name: x',
  'Bad\xe9: x',
  ': no-name',
  // Known names (read 4 bytes at a time) in every case, and near-misses of them.
  'HOST: h2',
  'X-Request-Id: 1',
  'x-berth-source: a',
  'X-BERTH-SNAPSHOT: 3',
  'Traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
  'traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01',
  'User-Agent: curl',
  'Content-Lengt: 1',
  'Content-Lengthy: 1',
  'Content\rLength: 1',
  'Accept-Encoding : gzip',
];

function requestText(random: () => number): string {
  const method = random() < 0.7 ? pick(random, ['GET', 'POST', 'PUT']) : pick(random, METHODS);
  const target = random() < 0.6 ? '/p' : pick(random, TARGETS);
  const version = random() < 0.85 ? 'HTTP/1.1' : pick(random, ['HTTP/1.0', 'HTTP/2.0', 'HTTP/1.2', 'http/1.1', 'HTTP/1.1 ']);
  const lines: string[] = [];
  if (random() < 0.9) lines.push('Host: h');
  const n = Math.floor(random() * 4);
  for (let i = 0; i < n; i++) lines.push(pick(random, HEADER_LINES));
  let text = `${method} ${target} ${version}\r\n${lines.map((l) => `${l}\r\n`).join('')}\r\n`;
  if (random() < 0.5) text += random() < 0.5 ? 'hello' : '5\r\nhello\r\n0\r\n\r\n';
  return random() < 0.4 ? mutate(random, text) : text;
}

test(`oracle: the lean head parser accepts only what llhttp accepts, with the same message (${CASES} cases)`, () => {
  const random = rng(1101);
  let accepted = 0;
  let deferred = 0;
  for (let i = 0; i < CASES; i++) {
    const text = requestText(random);
    const bytes = Buffer.from(text, 'latin1');
    const end = bytes.indexOf('\r\n\r\n');
    if (end < 0) continue;
    const lean = parseRequestHead(bytes.toString('latin1', 0, end));
    // The head alone: what the body holds is the chunked decoder's test.
    const oracle = llhttpParse(bytes.subarray(0, end + 4), 'request');
    const why = JSON.stringify(text);
    if (!lean) {
      if (oracle.ok === true) deferred++;
      continue; // node:http (llhttp) handles it: the same answer by construction
    }
    accepted++;
    assert.equal(oracle.ok, true, `lean accepted what llhttp refuses (${oracle.ok === false ? oracle.code : 'incomplete'}): ${why}`);
    if (oracle.ok !== true) continue;
    const m = oracle.messages[0];
    assert.equal(lean.method, m.method, why);
    assert.equal(lean.url, normalizePath(m.url), why);
    assert.equal(`1.${lean.minor}`, `1.${m.versionMinor}`, why);
    assert.deepEqual(lean.headers, m.headers, why);
    // node:http keeps the first line of these names; the lean parser keeps the others aside, each as sent.
    const further: [string, string][] = [];
    const firstSeen = new Set<string>();
    for (let k = 0; k < m.rawHeaders.length; k += 2) {
      const name = m.rawHeaders[k].toLowerCase();
      if (!H1_KEPT_ASIDE.has(name)) continue;
      if (firstSeen.has(name)) further.push([name, m.rawHeaders[k + 1]]);
      firstSeen.add(name);
    }
    assert.deepEqual(lean.extra ?? [], further, why);
    const te = m.headers['transfer-encoding'];
    assert.equal(lean.chunked, te !== undefined, why);
    assert.equal(lean.length, lean.chunked ? 0 : Number(m.headers['content-length'] ?? 0), why);
    assert.equal(m.upgrade, false, why);
  }
  assert.ok(accepted > CASES / 5, `enough accepted cases (${accepted}; deferred to node:http: ${deferred})`);
});

/** A chunked body: random chunks, extensions and trailers; mutated some of the time. */
function chunkedText(random: () => number): { body: string; mutated: boolean } {
  let body = '';
  const n = Math.floor(random() * 4);
  for (let i = 0; i < n; i++) {
    const size = 1 + Math.floor(random() * 20);
    let sizeText = size.toString(16);
    if (random() < 0.2) sizeText = `0${sizeText.toUpperCase()}`;
    const ext = random() < 0.3 ? pick(random, [';a', ';a=b', ';a="b c"', ';a=b;c', ';a="q\\"x"', '; a', ';a =b', ';', ';a=', ';a="\x01"', ';a=0"q"', ';=b', ';;a']) : '';
    body += `${sizeText}${ext}\r\n${'d'.repeat(size)}\r\n`;
  }
  body += random() < 0.2 ? pick(random, ['0;x\r\n', '00\r\n', '0 \r\n', '0\n', '0\r\n']) : '0\r\n';
  if (random() < 0.3) body += pick(random, ['X-T: 1\r\n', 'X-T:1\r\nY: 2\r\n', 'Content-Length: 3\r\n', 'Transfer-Encoding: chunked\r\n', 'Bad Name: 1\r\n', 'X: a\x7f\r\n', 'X: 1\r\n folded\r\n']);
  body += '\r\n';
  const mutated = random() < 0.6;
  return { body: mutated ? mutate(random, body) : body, mutated };
}

const NEXT = 'GET /next HTTP/1.1\r\nHost: h\r\n\r\n';
const CHUNKED_HEAD = 'POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n';

test(`oracle: the chunked decoder agrees with llhttp on verdict, bytes and where the body ends (${CASES} cases)`, () => {
  const random = rng(1102);
  let ended = 0;
  let errors = 0;
  for (let i = 0; i < CASES; i++) {
    const { body } = chunkedText(random);
    const wire = Buffer.from(body + NEXT, 'latin1');
    const why = JSON.stringify(body);
    // The decoder, fed in up to three pieces.
    const cuts = [Math.floor(random() * wire.length), Math.floor(random() * wire.length)].sort((a, b) => a - b);
    const d = new ChunkedBodyDecoder();
    const out: Buffer[] = [];
    let verdict: number | 'error' = -1;
    let prev = 0;
    for (const cut of [...cuts, wire.length]) {
      if (cut <= prev) continue;
      const r = d.feed(wire.subarray(prev, cut), (p) => out.push(Buffer.from(p)));
      if (r === 'error') {
        verdict = 'error';
        break;
      }
      if (r >= 0) {
        verdict = prev + r;
        break;
      }
      prev = cut;
    }
    const oracle = llhttpParse(Buffer.concat([Buffer.from(CHUNKED_HEAD, 'latin1'), wire]), 'request');
    assert.notEqual(oracle.ok, 'incomplete', why);
    if (oracle.ok === false) {
      errors++;
      assert.equal(verdict, 'error', `llhttp refuses (${oracle.code}), the decoder does not: ${why}`);
      continue;
    }
    if (oracle.ok !== true) continue;
    const m = oracle.messages[0];
    if (!m.complete) {
      assert.equal(verdict, -1, `llhttp wants more: ${why}`);
      continue;
    }
    assert.notEqual(verdict, 'error', `the decoder refuses what llhttp accepts: ${why}`);
    assert.notEqual(verdict, -1, `the decoder wants more where llhttp ended the body: ${why}`);
    ended++;
    assert.equal(Buffer.concat(out).toString('latin1'), m.body.toString('latin1'), why);
    // What follows the body is the same for both (no smuggled or swallowed request).
    const rest = wire.subarray(verdict as number);
    const after = llhttpParse(rest, 'request');
    const second = oracle.messages[1];
    if (second) {
      assert.equal(after.ok, true, why);
      if (after.ok === true) assert.equal(after.messages[0].url, second.url, why);
    } else assert.notEqual(after.ok, true, `llhttp saw no second message, but the rest parses as one: ${why}`);
  }
  assert.ok(ended > CASES / 10 && errors > CASES / 10, `both verdicts exercised (ended ${ended}, errors ${errors})`);
});

const RESPONSE_LINES = [
  'Content-Length: 2',
  'Content-Length: 0',
  'content-length:  3 ',
  'Content-Length: 2, 2',
  'Content-Length: x',
  'Content-Length: 2\t',
  'Content-Length:\t0 ',
  'Transfer-Encoding: chunked\t',
  'Transfer-Encoding: gzip\t',
  'Transfer-Encoding: chunked',
  'Transfer-Encoding: gzip',
  'Transfer-Encoding: gzip, chunked',
  'Transfer-Encoding: chunked, gzip',
  'Connection: close',
  'Connection: keep-alive',
  'Connection: x-hop',
  'x-hop: 1',
  'Keep-Alive: timeout=5',
  'X-A: 1',
  'X-Empty:',
  'X-Latin: caf\xe9',
  'X-Nbsp: a\xa0',
  'X-Ctl: a\x01',
  'X-Nul: a\x00',
  'X-Del: a\x7f',
  'Bad Name: 1',
  ' folded: 1',
  'Set-Cookie: a=1',
  // Known names and Connection values (read 4 bytes at a time) in every case, and near-misses of them.
  'CONNECTION: CLOSE',
  'connection: Keep-Alive',
  'Connection:close',
  'Connection: close ',
  'Connection: closed',
  'Connection: keep-alive\t',
  'Content-Type: text/plain',
  'DATE: Sun, 06 Dec 2026 06:32:28 GMT',
  'Proxy-Connection: close',
  'Trailer: x',
  'Upgrade: h2c',
  'TE: trailers',
  'Content\rType: a',
  'Content-Typ: a',
];

test(`oracle: the response-head scanner refuses exactly what llhttp refuses and frames the rest the same (${CASES} cases)`, () => {
  const random = rng(1103);
  let accepted = 0;
  for (let i = 0; i < CASES; i++) {
    const lines: string[] = [];
    const n = Math.floor(random() * 5);
    for (let k = 0; k < n; k++) lines.push(pick(random, RESPONSE_LINES));
    let headers = lines.map((l) => `${l}\r\n`).join('');
    if (random() < 0.3) headers = mutate(random, headers);
    const http10 = random() < 0.15;
    const text = `HTTP/1.${http10 ? 0 : 1} 200 OK\r\n${headers}\r\n`;
    const buf = Buffer.from(text, 'latin1');
    const end = buf.indexOf('\r\n\r\n');
    if (end < 0) continue; // no whole head: the client waits for more
    // The scanner sees the head up to the first blank line, as the client gives it.
    const scanned = scanHeaderLines(buf, 17, end, http10);
    const oracle = llhttpParse(buf.subarray(0, end + 4), 'response');
    const why = JSON.stringify(text);
    // A whole head llhttp does not turn into a message ('incomplete' though the blank line is there) is refused too.
    if (oracle.ok !== true) {
      assert.equal(scanned.bad, true, `llhttp refuses (${oracle.ok === false ? oracle.code : 'no message'}), the scanner does not: ${why}`);
      continue;
    }
    // Beyond llhttp, by policy (nginx's): a coding other than chunked could not reach the client as
    // it was sent (the answer is framed again), so such an answer is refused.
    const codings = text.slice(0, end).split('\r\n').slice(1).filter((l) => /^transfer-encoding:/i.test(l));
    if (codings.some((l) => !/^[ \t]*chunked *$/i.test(l.slice(l.indexOf(':') + 1)))) {
      assert.equal(scanned.bad, true, `a coding other than chunked is refused: ${why}`);
      continue;
    }
    assert.equal(scanned.bad, false, `the scanner refuses what llhttp accepts: ${why}`);
    accepted++;
    const m = oracle.messages[0];
    // llhttp's own framing: with a last chunk after the head, a chunked answer ends with an empty body.
    const te = m.headers['transfer-encoding'];
    const withLastChunk = te === undefined ? undefined : llhttpParse(Buffer.concat([buf.subarray(0, end + 4), Buffer.from('0\r\n\r\n')]), 'response');
    const chunked = withLastChunk?.ok === true && withLastChunk.messages[0].complete && withLastChunk.messages[0].body.length === 0;
    assert.equal(scanned.chunked, chunked, why);
    if (!chunked && te === undefined) assert.equal(scanned.length, m.headers['content-length'] === undefined ? -1 : Number(m.headers['content-length']), why);
    if (chunked || scanned.length >= 0) assert.equal(scanned.close, !m.keepAlive, why);
    // The forwarded lines are llhttp's headers minus framing, hop-by-hop and Connection-named ones.
    const hop = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'expect', 'content-length']);
    const named = String(m.headers.connection ?? '')
      .split(',')
      .map((t) => t.trim().toLowerCase());
    const want: string[] = [];
    for (let k = 0; k < m.rawHeaders.length; k += 2) {
      const name = m.rawHeaders[k].toLowerCase();
      if (!hop.has(name) && !named.includes(name)) want.push(m.rawHeaders[k], m.rawHeaders[k + 1]);
    }
    const got = new UpstreamHead(scanned.lines, -1).list();
    assert.deepEqual(got, want, why);
    assert.deepEqual(headersObject(got), headersObject(want), why);
  }
  assert.ok(accepted > CASES / 5, `enough accepted cases (${accepted})`);
});

const STATUS_LINES = ['HTTP/1.1 200 OK', 'HTTP/1.1 204 No Content', 'HTTP/1.0 404 Not Found', 'HTTP/1.1 200', 'HTTP/1.1 200 ', 'HTTP/1.1 302 Found here', 'HTTP/1.1 599 x', 'HTTP/1.1 100 Continue', 'HTTP/1.1 999 Odd', 'HTTP/1.1 099 Low', 'HTTP/2.0 200 OK', 'HTTP/1.1 2004 Weird', 'HTTP/1.1 200x'];

test(`oracle: the response status line is read as llhttp reads it (${CASES} cases)`, () => {
  const random = rng(1201);
  let accepted = 0;
  for (let i = 0; i < CASES; i++) {
    let line = pick(random, STATUS_LINES);
    if (random() < 0.7) line = mutate(random, line);
    // The line ends at its first LF: a mutation that adds one makes a header line of the rest, another test's question.
    if (line.includes('\n')) continue;
    const buf = Buffer.from(`${line}\r\ncontent-length: 0\r\n\r\n`, 'latin1');
    const end = statusLineEnd(buf, buf.length);
    const oracle = llhttpParse(buf, 'response');
    const why = JSON.stringify(line);
    if (end >= 0) {
      accepted++;
      assert.equal(end, line.length, `the line ends at its CRLF: ${why}`);
      assert.equal(oracle.ok, true, `the scanner accepts what llhttp refuses (${oracle.ok === false ? oracle.code : 'no message'}): ${why}`);
      if (oracle.ok === true) assert.equal(oracle.messages[0].statusCode, Number(line.slice(9, 12)), why);
      continue;
    }
    assert.equal(end, STATUS_LINE_BAD, `a whole line is judged: ${why}`);
    // Beyond llhttp, by policy (nginx's): HTTP/1.0 or 1.1 only, and no status below 100.
    if (oracle.ok === true) assert.ok(!/^HTTP\/1\.[01] /.test(line) || oracle.messages[0].statusCode < 100, `the scanner refuses what llhttp accepts: ${why}`);
  }
  assert.ok(accepted > CASES / 5, `enough accepted cases (${accepted})`);
  // Cut anywhere before its end, a good line asks for more bytes.
  const good = Buffer.from('HTTP/1.1 200 OK\r\n', 'latin1');
  for (let n = 0; n < good.length; n++) assert.equal(statusLineEnd(good, n), -1, `cut at ${n}`);
});
