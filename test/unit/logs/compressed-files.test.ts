// Issue 12 point 12: with a glob like `logs/app.log*`, logrotate's compressed files (gzip, bzip2,
// xz, zstd: recognised by their magic bytes, whatever their name) are not read as text. With
// `decompress: true`, gzip files are decompressed and read once (the others are still skipped).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { account, CollectSink, startAgent, tempDir, waitFor, writeSeq } from './helpers.js';

function seqText(from: number, to: number): string {
  let s = '';
  for (let n = from; n < to; n++) s += `seq=${n} rotated\n`;
  return s;
}

/** logs/app.log (0..100), app.log.2.gz (gzip of 100..200), and files with bzip2/xz/zstd magic (200..300 each). */
function writeFiles(dir: string): void {
  mkdirSync(join(dir, 'logs'));
  writeFileSync(join(dir, 'logs', 'app.log.2.gz'), gzipSync(seqText(100, 200)));
  for (const [tool, ext] of [
    ['bzip2', 'bz2'],
    ['xz', 'xz'],
    ['zstd', 'zst'],
  ] as const) {
    const r = spawnSync(tool, ['-c'], { input: seqText(200, 300) });
    // Without the tool, its magic bytes and some payload stand in (detection is by magic bytes).
    const magic = { bzip2: 'BZh91AY&SY', xz: '\xfd7zXZ\x00', zstd: '\x28\xb5\x2f\xfd' }[tool];
    writeFileSync(join(dir, 'logs', `app.log.3.${ext}`), r.status === 0 ? r.stdout : Buffer.concat([Buffer.from(magic, 'latin1'), Buffer.from(seqText(200, 300))]));
  }
  writeSeq(join(dir, 'logs', 'app.log'), 0, 100);
}

test('compressed rotated files matched by the glob are skipped (not read as text) unless decompress is set', async () => {
  const dir = tempDir();
  writeFiles(dir);
  const sink = new CollectSink();
  let agent = startAgent(dir, sink, { files: ['logs/app.log*'] });
  try {
    await waitFor('the plain lines', () => account(sink.records, 0, 100).missing.length === 0);
    writeSeq(join(dir, 'logs', 'app.log'), 100_000, 100_001);
    await waitFor('a marker written after start', () => sink.records.some((r) => r.message.startsWith('seq=100000 ')));
    const others = sink.records.filter((r) => !/^seq=(\d+) x+$/.test(r.message));
    assert.deepEqual(
      others.map((r) => r.message.slice(0, 40)),
      [],
      'nothing but the plain file',
    );
    assert.ok(agent.tailer.stats.compressedSkipped >= 4, `compressedSkipped = ${agent.tailer.stats.compressedSkipped}`);
    // A restart does not change that.
    await agent.stop(500);
    agent = startAgent(dir, sink, { files: ['logs/app.log*'] });
    writeSeq(join(dir, 'logs', 'app.log'), 100_001, 100_002);
    await waitFor('a marker after the restart', () => sink.records.some((r) => r.message.startsWith('seq=100001 ')));
    assert.equal(sink.records.length, 102);
  } finally {
    await agent.stop(500);
  }
});

test('decompress: true reads gzip files once (also across a restart); bzip2/xz/zstd stay skipped', async () => {
  const dir = tempDir();
  writeFiles(dir);
  const sink = new CollectSink();
  const config = { files: ['logs/app.log*'], decompress: true };
  let agent = startAgent(dir, sink, config);
  try {
    await waitFor('the plain and the gzip lines', () => account(sink.records, 0, 200).missing.length === 0);
    writeSeq(join(dir, 'logs', 'app.log'), 100_000, 100_001);
    await waitFor('a marker written after start', () => sink.records.some((r) => r.message.startsWith('seq=100000 ')));
    const a = account(sink.records, 0, 200);
    assert.equal(a.duplicates, 0);
    const fromOthers = sink.records.filter((r) => {
      const m = /^seq=(\d+) /.exec(r.message);
      return m !== null && Number(m[1]) >= 200 && Number(m[1]) < 300;
    });
    assert.equal(fromOthers.length, 0, 'bzip2/xz/zstd are not read');
    const gz = sink.records.find((r) => r.message === 'seq=150 rotated');
    assert.match(gz?.file ?? '', /app\.log\.2\.gz$/, 'records name the compressed file');
    await agent.stop(1000);
    agent = startAgent(dir, sink, config);
    writeSeq(join(dir, 'logs', 'app.log'), 100_001, 100_002);
    await waitFor('a marker after the restart', () => sink.records.some((r) => r.message.startsWith('seq=100001 ')));
    assert.equal(account(sink.records, 0, 200).duplicates, 0, 'the gzip file is not read again after a restart');
    assert.equal(sink.records.length, 202);
  } finally {
    await agent.stop(500);
  }
});
