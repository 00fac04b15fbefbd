// The ONE conformance suite per binding direction. Input bindings: events keep coming while read
// is open, each with metadata, and stop when it is closed. Output bindings: every listed operation
// is accepted, `create` carries the data to the destination, an unknown operation is refused
// with ERR_MALFORMED_REQUEST.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BindingError, type BindingEvent, type InputBinding, type OutputBinding } from '../../src/components/index.js';
import { until } from '../helpers/servers.js';

export interface InputBindingHarness {
  open(): Promise<InputBinding>;
  /** Longest expected gap between two events. */
  periodMs: number;
}

export function runInputBindingConformance(name: string, h: InputBindingHarness): void {
  test(`${name}: events keep coming while read is open, and stop when it is closed`, async () => {
    const b = await h.open();
    try {
      const events: { at: number; e: BindingEvent }[] = [];
      const reader = await b.read(async (e) => {
        events.push({ at: Date.now(), e });
      });
      await until('three events', () => events.length >= 3, h.periodMs * 5);
      for (const { e } of events) {
        assert.ok(Buffer.isBuffer(e.data));
        assert.ok(Object.keys(e.metadata).length > 0, 'events carry metadata');
      }
      await reader.close();
      const after = events.length;
      await new Promise((r) => setTimeout(r, h.periodMs * 2)); // two periods of silence prove it stopped
      assert.ok(events.length <= after, 'no events after close');
    } finally {
      await b.close();
    }
  });

  test(`${name}: a failing handler does not stop the binding`, async () => {
    const b = await h.open();
    try {
      let calls = 0;
      await b.read(async () => {
        calls++;
        throw new Error('app answered 500');
      });
      await until('two calls despite failures', () => calls >= 2, h.periodMs * 4);
    } finally {
      await b.close();
    }
  });
}

export interface OutputBindingHarness {
  open(): Promise<OutputBinding>;
  /** Bodies the destination received for `create`, in order. */
  received(): Buffer[];
}

export function runOutputBindingConformance(name: string, h: OutputBindingHarness): void {
  test(`${name}: create carries the data; every listed operation is accepted`, async () => {
    const b = await h.open();
    try {
      const ops = b.operations();
      assert.ok(ops.includes('create'));
      const payload = Buffer.from(JSON.stringify({ msg: 'héllo', n: [1, 2] }));
      await b.invoke({ operation: 'create', data: payload });
      assert.deepEqual(h.received().at(-1), payload);
      for (const op of ops) {
        const res = await b.invoke({ operation: op, data: Buffer.from('x') });
        assert.ok(Buffer.isBuffer(res.data), `${op} answers bytes`);
      }
    } finally {
      await b.close();
    }
  });

  test(`${name}: an unknown operation is refused with ERR_MALFORMED_REQUEST`, async () => {
    const b = await h.open();
    try {
      await assert.rejects(b.invoke({ operation: 'explode' }), (e: BindingError) => e instanceof BindingError && e.code === 'ERR_MALFORMED_REQUEST');
    } finally {
      await b.close();
    }
  });
}
