// The HAR writer on a failing disk (review of the recorder): under a file size limit (`ulimit -f`:
// short writes, then EFBIG) every .har file left is valid JSON and `written` counts exactly the
// entries readable on disk; the entries that could not be written are counted as dropped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const writerModule = fileURLToPath(new URL('../../../src/replay/har-writer.js', import.meta.url));

test('a file size limit leaves only valid HAR files, and written counts the entries on disk', () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-harwriter-'));
  const N = 400;
  // A child under `ulimit -f 100` (100 KiB per file) writes N entries of ~3 KiB, a few at a time.
  const script = `
    import { HarWriter } from ${JSON.stringify(writerModule)};
    const w = new HarWriter({ dir: ${JSON.stringify(dir)}, stem: 'web', maxFileMiB: 10, onError: () => {} });
    const body = 'a'.repeat(3000);
    for (let i = 0; i < ${N}; i++) {
      w.writeText(JSON.stringify({ startedDateTime: new Date(0).toISOString(), time: 1, request: { method: 'GET', url: 'http://h/' + i, httpVersion: 'HTTP/1.1', cookies: [], headers: [], queryString: [], headersSize: -1, bodySize: 0 }, response: { status: 200, statusText: 'OK', httpVersion: 'HTTP/1.1', cookies: [], headers: [], content: { size: 3000, mimeType: 'text/plain', text: body }, redirectURL: '', headersSize: -1, bodySize: 3000 }, cache: {}, timings: { send: 0, wait: 1, receive: 0 } }));
      if (i % 20 === 19) await new Promise((r) => setTimeout(r, 60));
    }
    const st = await w.close();
    process.stdout.write(JSON.stringify(st));
  `;
  const r = spawnSync('bash', ['-c', `ulimit -f 100; exec "${process.execPath}" --input-type=module -e "$0"`, script], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  const st = JSON.parse(r.stdout) as { written: number; dropped: number };
  let onDisk = 0;
  const invalid: string[] = [];
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.har'))) {
    try {
      onDisk += (JSON.parse(readFileSync(join(dir, f), 'utf8')) as { log: { entries: unknown[] } }).log.entries.length;
    } catch {
      invalid.push(f);
    }
  }
  assert.deepEqual(invalid, []);
  assert.equal(st.written, onDisk);
  assert.equal(st.written + st.dropped, N);
  assert.ok(st.written > 0 && st.dropped > 0, JSON.stringify(st));
});
