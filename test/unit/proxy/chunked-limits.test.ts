// Limits of the chunked decoder (chunked.ts), checked against node's own parser (llhttp behind
// node's HTTPParser, which adds the same limits): chunk extensions beyond 16 KiB on one size line
// (CVE-2024-22019) and a trailer section beyond 16 KiB are refused, 413 and 431. Without them a body
// of one endless extension or trailer line was read for ever, every byte counting as progress.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ChunkedBodyDecoder, MAX_EXTENSION_BYTES, MAX_TRAILER_BYTES } from '../../../src/sidecar/proxy/chunked.js';
import { llhttpParse } from '../../helpers/llhttp-oracle.js';

/** The decoder's verdict on `body` fed in pieces of `step` bytes. */
function decode(body: string, step = 4096): { verdict: string; overflow: number | undefined } {
  const d = new ChunkedBodyDecoder();
  const buf = Buffer.from(body, 'latin1');
  for (let at = 0; at < buf.length; at += step) {
    const r = d.feed(buf.subarray(at, at + step), () => {});
    if (r === 'error') return { verdict: 'error', overflow: d.overflow };
    if (r >= 0) return { verdict: 'end', overflow: d.overflow };
  }
  return { verdict: 'more', overflow: d.overflow };
}

/** node's verdict on the same body in a request. */
function oracle(body: string): string {
  const r = llhttpParse(Buffer.from(`POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n${body}`, 'latin1'), 'request');
  return r.ok === true ? (r.messages[0].complete ? 'end' : 'more') : r.ok === false ? r.code : 'more';
}

test('chunk extensions: up to the limit pass, beyond it 413, as node', () => {
  const within = `1;a=${'x'.repeat(MAX_EXTENSION_BYTES / 2)}\r\nz\r\n0\r\n\r\n`;
  assert.deepEqual(decode(within), { verdict: 'end', overflow: undefined });
  assert.equal(oracle(within), 'end');
  // Each size line has its own allowance.
  const many = `${`1;a=${'x'.repeat(MAX_EXTENSION_BYTES / 2)}\r\nz\r\n`.repeat(4)}0\r\n\r\n`;
  assert.deepEqual(decode(many), { verdict: 'end', overflow: undefined });
  assert.equal(oracle(many), 'end');
  const over = `1;a=${'x'.repeat(MAX_EXTENSION_BYTES + 100)}\r\nz\r\n0\r\n\r\n`;
  assert.deepEqual(decode(over), { verdict: 'error', overflow: 413 });
  assert.equal(oracle(over), 'HPE_CHUNK_EXTENSIONS_OVERFLOW');
  // An endless extension is refused once past the limit, not read for ever.
  assert.deepEqual(decode(`1;a=${'x'.repeat(10 * MAX_EXTENSION_BYTES)}`), { verdict: 'error', overflow: 413 });
});

test('trailers: up to the limit pass, beyond it 431, as node', () => {
  const within = `1\r\nz\r\n0\r\nx-t: ${'v'.repeat(MAX_TRAILER_BYTES / 2)}\r\n\r\n`;
  assert.deepEqual(decode(within), { verdict: 'end', overflow: undefined });
  assert.equal(oracle(within), 'end');
  const over = `1\r\nz\r\n0\r\nx-t: ${'v'.repeat(MAX_TRAILER_BYTES + 100)}\r\n\r\n`;
  assert.deepEqual(decode(over), { verdict: 'error', overflow: 431 });
  assert.equal(oracle(over), 'HPE_HEADER_OVERFLOW');
  assert.deepEqual(decode(`1\r\nz\r\n0\r\nx-t: ${'v'.repeat(10 * MAX_TRAILER_BYTES)}`), { verdict: 'error', overflow: 431 });
});
