// Issue 11 point 13: the pipeline's hand-over of a batch to the sinks is not a floating promise. A
// writer that fails (a defect in a sink's encoder) stops the pipeline without checkpointing the
// batch and reports it through onFatal (main.ts then exits, and the restarted agent reads again
// from the checkpoint); it is not an unhandled rejection that kills the process with no word.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { startLogAgent, type LogRecord, type LogSink, type SinkFeature } from '../../../src/sidecar/logs/index.js';
import type { EncodedBatch, RecordEncoder } from '../../../src/sidecar/logs/sinks/sink.js';
import { agentConfig, identity, tempDir, waitFor, writeSeq } from './helpers.js';

class BrokenEncoderSink implements LogSink {
  readonly name = 'broken';
  readonly type = 'broken';
  readonly features: readonly SinkFeature[] = ['ack'];
  async send(_records: readonly LogRecord[]): Promise<void> {}
  async sendEncoded(_batch: EncodedBatch): Promise<void> {}
  encoder(): RecordEncoder {
    return {
      add: () => {},
      finish: () => {
        throw new Error('encoder defect');
      },
    };
  }
  async close(): Promise<void> {}
}

test('a batch that cannot be handed to a sink stops the pipeline with onFatal, uncheckpointed (no unhandled rejection)', async () => {
  const dir = tempDir();
  mkdirSync(join(dir, 'logs'));
  writeSeq(join(dir, 'logs', 'app.log'), 0, 10);
  const unhandled: unknown[] = [];
  const onUnhandled = (e: unknown): void => void unhandled.push(e);
  process.on('unhandledRejection', onUnhandled);
  const fatal: Error[] = [];
  const agent = startLogAgent({
    config: agentConfig(dir),
    identity,
    stateDir: join(dir, '.berth'),
    workDir: join(dir, '.berth', 'logs-agent', 'web-1'),
    sinks: [new BrokenEncoderSink()],
    pollMs: 50,
    onFatal: (e) => void fatal.push(e),
  });
  try {
    await waitFor('onFatal', () => fatal.length > 0 || unhandled.length > 0);
    assert.deepEqual(unhandled, []);
    assert.match(fatal[0].message, /encoder defect/);
    assert.equal(agent.pipeline.stats.committedBatches, 0);
    assert.ok(agent.pipeline.failed);
  } finally {
    await agent.stop(500);
    process.off('unhandledRejection', onUnhandled);
  }
});
