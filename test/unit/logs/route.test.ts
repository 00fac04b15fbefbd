// Routing records to sinks by level (a set, or a minimum), stream and service.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileRoute, type LogRecord } from '../../../src/sidecar/logs/index.js';
import { identity } from './helpers.js';

const r = (level: LogRecord['level'], stream: LogRecord['stream'], service = 'web'): LogRecord => ({ id: 'x', time: 't', message: 'm', level, stream, file: 'f', process: 'app', ...identity, service });

test('routes: no route takes everything; conditions combine', () => {
  assert.equal(compileRoute(undefined), undefined);
  assert.equal(compileRoute({}), undefined);
  const warnUp = compileRoute({ minLevel: 'warn' });
  assert.deepEqual([r('info', 'stdout'), r('warn', 'stdout'), r('fatal', 'stderr'), r(undefined, 'stderr')].map((x) => warnUp?.(x)), [false, true, true, false]);
  const errFromStderrOfApi = compileRoute({ levels: ['error'], streams: ['stderr'], services: ['api'] });
  assert.equal(errFromStderrOfApi?.(r('error', 'stderr', 'api')), true);
  assert.equal(errFromStderrOfApi?.(r('error', 'stdout', 'api')), false);
  assert.equal(errFromStderrOfApi?.(r('error', 'stderr', 'web')), false);
  assert.equal(errFromStderrOfApi?.(r('fatal', 'stderr', 'api')), false);
});
