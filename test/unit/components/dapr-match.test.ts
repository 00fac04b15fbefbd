// Subscription routing rules (the CEL subset Berth evaluates) and the per-instance DAPR_HTTP_PORT
// placeholder the node agent fills in.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileMatch, MatchSyntaxError } from '../../../src/sidecar/proxy/dapr/match.js';
import { DAPR_PORT_VAR, needsDaprPort, specWithDaprPort } from '../../../src/lib/private-port.js';
import type { InstanceSpec } from '../../../src/lib/agent-protocol.js';

const ev = { type: 'order.placed', data: { kind: 'big', total: 120, vip: true, nested: { a: 'x' } } };

test('rules: ==, != on strings, numbers, booleans, nested paths; && || and parentheses', () => {
  assert.equal(compileMatch('event.type == "order.placed"')(ev), true);
  assert.equal(compileMatch("event.type == 'order.paid'")(ev), false);
  assert.equal(compileMatch('event.data.total > 100 && event.data.vip == true')(ev), true);
  assert.equal(compileMatch('event.data.total < 100 || event.data.nested.a == "x"')(ev), true);
  assert.equal(compileMatch('(event.data.kind != "big" || event.data.total >= 200) && event.data.vip == true')(ev), false);
  assert.equal(compileMatch('event.data.missing == "x"')(ev), false);
  assert.equal(compileMatch('event.data.total == "120"')(ev), false, 'typed: a number does not equal a string');
  assert.equal(compileMatch('')(ev), true, 'an empty rule matches everything');
});

test('rules Berth cannot evaluate are refused, not guessed', () => {
  for (const bad of ['event.type.startsWith("x")', 'event.type ==', 'has(event.data)', 'event.type == "a" extra']) {
    assert.throws(() => compileMatch(bad), MatchSyntaxError, bad);
  }
});

test('$(DAPR_HTTP_PORT) is filled in every process of the instance; only instances whose proxy has it need a port', () => {
  const t = (env: Record<string, string>) => ({ name: 'p', argv: ['x'], cwd: '/', env });
  const spec = { main: t({ DAPR_HTTP_PORT: DAPR_PORT_VAR, DAPR_HTTP_ENDPOINT: `http://127.0.0.1:${DAPR_PORT_VAR}` }), sidecars: [t({ BERTH_DAPR_HTTP_PORT: DAPR_PORT_VAR })] } as unknown as InstanceSpec;
  assert.equal(needsDaprPort(spec), true);
  assert.equal(needsDaprPort({ ...spec, sidecars: [t({})] } as InstanceSpec), false);
  const filled = specWithDaprPort(spec, 61234);
  assert.equal(filled.main.env.DAPR_HTTP_ENDPOINT, 'http://127.0.0.1:61234');
  assert.equal(filled.sidecars[0].env.BERTH_DAPR_HTTP_PORT, '61234');
});

test('dead letters become events with fixed reasons; strings from the file are capped', async () => {
  const { deadLetterEvent } = await import('../../../src/lib/dapr-dead-letters.js');
  const base = { seq: 1, at: '', pubsub: 'pubsub', topic: 'orders', id: 'm1' };
  assert.deepEqual(deadLetterEvent({ ...base, reason: 'DROP', deadLetterTopic: 'dead' }), { type: 'Warning', reason: 'DeadLetter', message: 'Message m1 of pubsub/orders dropped by the app: sent to dead-letter topic dead' });
  assert.equal(deadLetterEvent({ ...base, reason: 'EXHAUSTED' }).reason, 'MessageDropped');
  const failed = deadLetterEvent({ ...base, reason: 'EXHAUSTED', deadLetterTopic: 'dead', error: 'x'.repeat(5000) });
  assert.equal(failed.reason, 'DeadLetterPublishFailed');
  assert.ok(failed.message.length < 600);
});
