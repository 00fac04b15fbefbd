// logs.flushMs: a steady trickle of lines goes to the sink in few batches (one per flushMs), not in a
// batch per read; a line after a quiet spell still goes at once; flushMs 0 sends every read.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { CollectSink, startAgent, tempDir, waitFor, writeSeq } from './helpers.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Writes a line every 10 ms for `ms`; returns how many lines. */
async function trickle(path: string, from: number, ms: number): Promise<number> {
  let n = from;
  const end = performance.now() + ms;
  while (performance.now() < end) {
    writeSeq(path, n, n + 1);
    n++;
    await sleep(10);
  }
  return n;
}

async function run(flushMs: number): Promise<{ sends: number; lines: number; quietLineMs: number }> {
  const dir = tempDir();
  mkdirSync(join(dir, 'logs'));
  const path = join(dir, 'logs', 'app.log');
  const sink = new CollectSink();
  const agent = startAgent(dir, sink, { flushMs });
  try {
    const lines = await trickle(path, 0, 1200);
    await waitFor('every trickled line', () => sink.records.length === lines);
    const sends = sink.attempts;
    await sleep(flushMs + 500); // a quiet spell longer than flushMs
    const t = performance.now();
    writeSeq(path, lines, lines + 1);
    await waitFor('the line after the quiet spell', () => sink.records.length === lines + 1);
    return { sends, lines, quietLineMs: performance.now() - t };
  } finally {
    await agent.stop(500);
  }
}

test('a steady trickle is sent once per flushMs; a line after a quiet spell goes at once; 0 sends every read', async () => {
  const batched = await run(1000);
  assert.ok(batched.sends <= 5, `${batched.lines} lines over 1.2 s in ${batched.sends} sends (flushMs 1000)`);
  assert.ok(batched.quietLineMs < 800, `the line after the quiet spell took ${batched.quietLineMs.toFixed(0)} ms (flushMs 1000)`);
  const eager = await run(0);
  console.log(`# flushMs 1000: ${batched.sends} sends, quiet line ${batched.quietLineMs.toFixed(0)} ms; flushMs 0: ${eager.sends} sends`);
  assert.ok(eager.sends > 3 * batched.sends, `flushMs 0: ${eager.sends} sends against ${batched.sends}`);
});
