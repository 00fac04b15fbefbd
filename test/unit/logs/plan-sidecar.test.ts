// The plan adds the log agent to every instance group: its configuration travels as JSON in the
// environment (so it is part of the revision), with its own memory limit; `logs.enabled: false`
// leaves it out and `logs.agent.run` pins another agent command. The spec rejects bad log config.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateSpecText, formatSpecErrors } from '../../../src/contract/index.js';
import { compile } from '../../../src/plan/index.js';
import type { LogAgentConfig } from '../../../src/lib/log-agent-config.js';

function compiled(yaml: string) {
  const dir = mkdtempSync(join(tmpdir(), 'berth-plan-logs-'));
  const file = join(dir, 'berth.yaml');
  writeFileSync(file, yaml);
  const r = validateSpecText(yaml, file);
  assert.ok(r.ok, r.ok ? '' : formatSpecErrors(r.errors));
  return { dir, desired: compile(r.spec, { dir, specFile: file }) };
}

test('every service gets the logs sidecar with its config, state dir and memory limit', () => {
  const { dir, desired } = compiled(`app: a\nservices:\n  web:\n    run: node web.js\n    cwd: srv\n    logs:\n      files: [logs/*.log]\n      parsers: [{ type: logfmt }]\n      multiline: { preset: java }\n`);
  const s = desired.services[0].template.sidecars.find((x) => x.name === 'logs');
  assert.ok(s);
  assert.equal(s.memoryMiB, 128);
  assert.equal(s.env.BERTH_STATE_DIR, join(dir, '.berth'));
  assert.equal(s.cwd, join(dir, 'srv'));
  const cfg = JSON.parse(s.env.BERTH_LOGS_CONFIG) as LogAgentConfig;
  assert.deepEqual(cfg.files, ['logs/*.log']);
  assert.equal(cfg.cwd, join(dir, 'srv'));
  assert.deepEqual(cfg.excludeProcesses, ['logs']);
  assert.deepEqual(cfg.sinks, [{ type: 'embedded' }]);
  assert.equal(cfg.multiline?.preset, 'java');
  assert.ok(s.argv.some((a) => a.startsWith('--max-old-space-size=')), 'heap capped under the memory limit');
  assert.match(s.argv[s.argv.length - 1], /sidecar\/logs\/main\.js$/);
});

test('changing the log config changes the revision; disabling removes the agent; agent.run pins a command', () => {
  const a = compiled(`app: a\nservices:\n  web:\n    run: node web.js\n`).desired.services[0];
  const b = compiled(`app: a\nservices:\n  web:\n    run: node web.js\n    logs: { maxLineBytes: 4096 }\n`).desired.services[0];
  assert.notEqual(a.revision, b.revision);
  const off = compiled(`app: a\nservices:\n  web:\n    run: node web.js\n    logs: { enabled: false }\n`).desired.services[0];
  assert.equal(off.template.sidecars.some((x) => x.name === 'logs'), false);
  const pinned = compiled(`app: a\nservices:\n  web:\n    run: node web.js\n    logs: { agent: { run: "/opt/berth-logs-1.2/bin/agent --fast", memoryMiB: 64 } }\n`).desired.services[0];
  const s = pinned.template.sidecars.find((x) => x.name === 'logs');
  assert.deepEqual(s?.argv, ['/opt/berth-logs-1.2/bin/agent', '--fast']);
  assert.equal(s?.memoryMiB, 64);
});

test('the spec rejects bad log config with a located message', () => {
  const bad = (y: string) => {
    const r = validateSpecText(y, '/tmp/x/berth.yaml');
    assert.equal(r.ok, false);
    return r.ok ? '' : formatSpecErrors(r.errors);
  };
  assert.match(bad(`app: a\nservices:\n  web:\n    run: x\n    logs: { parsers: [{ type: regex }] }\n`), /named groups/);
  assert.match(bad(`app: a\nservices:\n  web:\n    run: x\n    logs: { multiline: { start: "(" } }\n`), /regular expression/);
  assert.match(bad(`app: a\nservices:\n  web:\n    run: x\n    logs: { sinks: [{ type: kafka }] }\n`), /type|kafka|embedded/);
  assert.match(bad(`app: a\nservices:\n  web:\n    run: x\n    logs: { buffer: { whenFull: drop_oldest } }\n`), /block|drop_newest/);
});
