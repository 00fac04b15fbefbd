// `release:` and `analysisTemplates:` (issue 14 point 2): Argo Rollouts' fields and defaults,
// durations compiled to ms, and every mistake reported at file:line:col — unknown template names,
// weights outside 0..100, a step with two actions, a strategy block that does not match the
// strategy, count without interval, conditions that do not parse — then carried into DesiredState.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { validateSpecText } from '../../../src/contract/index.js';
import { compile } from '../../../src/plan/index.js';
import { tempDir, yaml } from './helpers.js';
import { rng } from '../../helpers/seeded-random.js';

const dir = tempDir({});
const file = join(dir, 'berth.yaml');

function check(text: string): { errors: { line: number; col: number; path: string; message: string }[]; warnings: { path: string; message: string }[] } {
  const r = validateSpecText(text, file);
  return r.ok ? { errors: [], warnings: r.warnings } : { errors: r.errors, warnings: [] };
}

const GOOD = yaml`
  app: shop
  services:
    web:
      run: node web.js
      port: 8080
      replicas: 2
      release:
        strategy: canary
        canary:
          steps:
            - setWeight: 20
            - pause: { duration: 2s }
            - setHeaderRoute: { name: testers, match: [{ headerName: x-tester, headerValue: { exact: "yes" } }] }
            - setMirrorRoute: { name: copy, percentage: 50, match: [{ method: { exact: GET }, path: { prefix: /api } }] }
            - setCanaryScale: { replicas: 1 }
            - setWeight: 50
            - analysis: { templates: [latency] }
            - pause: {}
          analysis: { templates: [errors], startingStep: 1 }
          throttle: { rps: 20, concurrency: 5, slowStart: 1m }
        rollbackWindow: { revisions: 3 }
    api:
      run: node api.js
      port: 8081
      release:
        strategy: blueGreen
        blueGreen: { previewPort: 9081, autoPromotionEnabled: false, prePromotionAnalysis: { templates: [errors] } }
  analysisTemplates:
    errors:
      metrics:
        - name: error-rate
          interval: 5s
          count: 3
          initialDelay: 1m30s
          successCondition: result.canary.errorRate <= 0.01
          failureCondition: result.canary.errorRate > 0.05
          failureLimit: 1
          provider: { berth: { window: 5s } }
    latency:
      metrics:
        - name: p99
          successCondition: result.canary.p99Ms < result.stable.p99Ms * 1.2
          provider: { berth: {} }
        - name: prom
          successCondition: len(result) > 0 && result[0] >= 0.95
          provider: { prometheus: { address: "http://127.0.0.1:9090", query: "sum(up)" } }
        - name: web
          successCondition: result.ok == true
          provider: { web: { url: "http://127.0.0.1:9999/ok", jsonPath: "{$.data}", headers: [{ key: x-token, value: t }] } }
`;

test('a full release spec validates, with Argo defaults and durations in ms, and compiles into DesiredState', () => {
  const r = validateSpecText(GOOD, file);
  assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
  const web = r.spec.services.web.release!;
  assert.equal(web.strategy, 'canary');
  assert.equal(web.revisionHistoryLimit, 10);
  assert.deepEqual(web.canary!.steps[1], { pause: { duration: 2000 } });
  assert.deepEqual(web.canary!.steps[7], { pause: {} });
  assert.equal(web.canary!.throttle!.slowStart, 60_000);
  const bg = r.spec.services.api.release!.blueGreen!;
  assert.equal(bg.scaleDownDelaySeconds, 30);
  assert.equal(bg.autoPromotionEnabled, false);
  const metric = r.spec.analysisTemplates!.errors.metrics[0];
  assert.equal(metric.initialDelay, 90_000);
  assert.equal(metric.interval, 5000);
  assert.equal(metric.consecutiveErrorLimit, 4);
  assert.equal(metric.inconclusiveLimit, 0);
  assert.equal(r.spec.analysisTemplates!.latency.metrics[0].failureLimit, 0);

  const desired = compile(r.spec, { dir, specFile: file });
  const dweb = desired.services.find((s) => s.name === 'web')!;
  assert.equal(dweb.release?.strategy, 'canary');
  assert.equal(desired.analysisTemplates?.latency.metrics.length, 3);
  // The release policy is not part of the revision: changing the steps restarts nothing.
  const other = validateSpecText(GOOD.replace('setWeight: 50', 'setWeight: 60'), file);
  assert.ok(other.ok);
  assert.equal(compile(other.spec, { dir, specFile: file }).services.find((s) => s.name === 'web')!.revision, dweb.revision);
});

test('a service without `release` compiles without one (rolling, the default)', () => {
  const r = validateSpecText('app: a\nservices:\n  web: { run: node web.js, port: 8080 }\n', file);
  assert.ok(r.ok);
  assert.equal(compile(r.spec, { dir, specFile: file }).services[0].release, undefined);
});

const withRelease = (release: string, extra = ''): string => `app: shop\nservices:\n  web:\n    run: node web.js\n    port: 8080\n    release:\n${release}\n${extra}`;
const TEMPLATES = 'analysisTemplates:\n  errors:\n    metrics:\n      - name: e\n        successCondition: result.canary.errorRate < 0.01\n        provider: { berth: {} }\n';

test('unknown template names are errors at the name, with a suggestion', () => {
  const { errors } = check(withRelease('      strategy: canary\n      canary:\n        steps:\n          - analysis: { templates: [erors] }', TEMPLATES));
  assert.equal(errors.length, 1, JSON.stringify(errors));
  assert.equal(errors[0].path, 'services.web.release.canary.steps.0.analysis.templates.0');
  assert.equal(errors[0].line, 10);
  assert.equal(errors[0].col, 37);
  assert.match(errors[0].message, /unknown analysis template `erors`/);
});

test('weights outside 0..100, two actions in one step, and an empty step are refused at file:line:col', () => {
  const bad = check(withRelease('      strategy: canary\n      canary:\n        steps:\n          - setWeight: 120\n          - { setWeight: 10, pause: {} }\n          - {}\n          - setWeight: 2.5'));
  const paths = bad.errors.map((e) => `${e.path}@${e.line}`);
  assert.ok(paths.includes('services.web.release.canary.steps.0.setWeight@10'), paths.join(' '));
  assert.ok(paths.includes('services.web.release.canary.steps.1@11'), paths.join(' '));
  assert.ok(paths.includes('services.web.release.canary.steps.2@12'), paths.join(' '));
  assert.ok(paths.includes('services.web.release.canary.steps.3.setWeight@13'), paths.join(' '));
  assert.match(bad.errors.find((e) => e.path.endsWith('steps.1'))!.message, /only one of `setWeight`, `pause`/);
  assert.match(bad.errors.find((e) => e.path.endsWith('steps.0.setWeight'))!.message, /between 0 and 100/);
});

test('a weight that goes down is a warning (Argo allows it), not an error', () => {
  const r = check(withRelease('      strategy: canary\n      canary:\n        steps:\n          - setWeight: 50\n          - setWeight: 20'));
  assert.deepEqual(r.errors, []);
  assert.ok(r.warnings.some((w) => w.path === 'services.web.release.canary.steps.1.setWeight' && /goes down from 50 to 20/.test(w.message)));
});

test('strategy and block must agree; canary and blueGreen need a port; startingStep within the steps', () => {
  const mismatch = check(withRelease('      strategy: rolling\n      canary: { steps: [] }'));
  assert.equal(mismatch.errors[0].path, 'services.web.release.canary');
  assert.match(mismatch.errors[0].message, /only with `strategy: canary`/);
  const noPort = check('app: a\nservices:\n  worker:\n    run: node w.js\n    release: { strategy: blueGreen }\n');
  assert.equal(noPort.errors[0].path, 'services.worker.release.strategy');
  assert.match(noPort.errors[0].message, /needs a port/);
  const start = check(withRelease('      strategy: canary\n      canary:\n        steps: [{ setWeight: 10 }]\n        analysis: { templates: [errors], startingStep: 3 }', TEMPLATES));
  assert.equal(start.errors.length, 1, JSON.stringify(start.errors));
  assert.equal(start.errors[0].path, 'services.web.release.canary.analysis.startingStep');
});

test('a preview port may not be a service or ingress port; a variant may not change `release`', () => {
  const clash = check(withRelease('      strategy: blueGreen\n      blueGreen: { previewPort: 8080 }'));
  assert.equal(clash.errors[0].path, 'services.web.release.blueGreen.previewPort');
  assert.match(clash.errors[0].message, /this service's own port/);
  const variant = check('app: a\nservices:\n  web:\n    run: node web.js\n    port: 8080\n    variants:\n      v2: { release: { strategy: canary } }\n');
  assert.ok(variant.errors.some((e) => e.path === 'services.web.variants.v2.release' && /cannot change `release`/.test(e.message)), JSON.stringify(variant.errors));
});

test('metrics: count > 1 needs an interval, names are unique, one provider, conditions must parse (at the condition)', () => {
  const tpl = (metric: string) => withRelease('      strategy: canary\n      canary: { analysis: { templates: [t] } }', `analysisTemplates:\n  t:\n    metrics:\n${metric}\n`);
  const count = check(tpl('      - { name: m, count: 3, provider: { berth: {} } }'));
  assert.equal(count.errors[0].path, 'analysisTemplates.t.metrics.0.count');
  assert.match(count.errors[0].message, /needs an interval/);
  const dup = check(tpl('      - { name: m, provider: { berth: {} } }\n      - { name: m, provider: { berth: {} } }'));
  assert.equal(dup.errors[0].path, 'analysisTemplates.t.metrics.1.name');
  const two = check(tpl('      - { name: m, provider: { berth: {}, web: { url: "http://x" } } }'));
  assert.equal(two.errors[0].path, 'analysisTemplates.t.metrics.0.provider');
  const cond = check(tpl('      - name: m\n        successCondition: "result.canary.errorRate < "\n        provider: { berth: {} }'));
  assert.equal(cond.errors.length, 1, JSON.stringify(cond.errors));
  assert.equal(cond.errors[0].path, 'analysisTemplates.t.metrics.0.successCondition');
  assert.equal(cond.errors[0].line, 13);
  assert.equal(cond.errors[0].col, 27);
  assert.match(cond.errors[0].message, /does not parse: the expression ends too early \(at character 27\)/);
  const dur = check(tpl('      - { name: m, interval: 5x, provider: { berth: {} } }'));
  assert.match(dur.errors[0].message, /duration like "30s"/);
});

test('an unused template is a warning', () => {
  const r = check(withRelease('      strategy: canary', TEMPLATES));
  assert.deepEqual(r.errors, []);
  assert.ok(r.warnings.some((w) => w.path === 'analysisTemplates.errors' && /not used/.test(w.message)));
});

const FUZZ_PIECES = [':', ' ', '\n', '  ', '-', '[', ']', '{', '}', ',', '"', "'", '0', '-1', '101', '2.5', 'null', 'true', '~', 'setWeight', 'pause', 'analysis', 'templates', 'steps', 'canary', 'blueGreen', 'strategy', 'provider', 'berth', 'result', '&&', '(', ')', 'startingStep', 'count', 'interval', '5m', 'é'];

test('fuzz: random mutations of a release spec never throw and every problem has a position', () => {
  const r = rng(Number(process.env.BERTH_FUZZ_SEED ?? 1414));
  const deadline = Date.now() + 4000;
  let runs = 0;
  let invalid = 0;
  for (; runs < 1500 && Date.now() < deadline; runs++) {
    let t = GOOD;
    for (let i = 0, n = 1 + Math.floor(r() * 3); i < n; i++) {
      const pos = Math.floor(r() * (t.length + 1));
      const op = Math.floor(r() * 4);
      if (op === 0) t = t.slice(0, pos) + t.slice(pos + 1 + Math.floor(r() * 12));
      else if (op === 1) t = t.slice(0, pos) + FUZZ_PIECES[Math.floor(r() * FUZZ_PIECES.length)] + t.slice(pos);
      else if (op === 2) {
        const lines = t.split('\n');
        lines.splice(Math.floor(r() * lines.length), 0, lines[Math.floor(r() * lines.length)] ?? '');
        t = lines.join('\n');
      } else t = t.slice(0, pos) + String.fromCharCode(32 + Math.floor(r() * 95)) + t.slice(pos + 1);
    }
    let res;
    try {
      res = validateSpecText(t, file);
    } catch (e) {
      assert.fail(`threw on run ${runs}: ${String(e)}\n---\n${t}`);
    }
    if (res.ok) continue;
    invalid++;
    const lines = t.split('\n').length;
    for (const e of res.errors) {
      assert.ok(!e.message.includes('internal error'), `run ${runs}: ${e.message}\n---\n${t}`);
      assert.ok(e.line >= 1 && e.line <= lines + 1 && e.col >= 1, `run ${runs}: ${e.path} at ${e.line}:${e.col}\n---\n${t}`);
    }
  }
  assert.ok(runs >= 50, `only ${runs} runs`); // ~30 ms a run on a loaded 2-core machine (invalid specs take the positioned path)
  assert.ok(invalid > 0);
});

test('templates run together: listed once, and no metric name in two of them (Argo merges them into one run)', () => {
  const two = 'analysisTemplates:\n  a:\n    metrics: [{ name: m, provider: { berth: {} } }]\n  b:\n    metrics: [{ name: m, provider: { berth: {} } }]\n';
  const clash = check(withRelease('      strategy: canary\n      canary:\n        steps:\n          - analysis: { templates: [a, b] }', two));
  assert.equal(clash.errors.length, 1, JSON.stringify(clash.errors));
  assert.equal(clash.errors[0].path, 'services.web.release.canary.steps.0.analysis.templates.1');
  assert.match(clash.errors[0].message, /templates `a` and `b` both have a metric `m`/);
  const twice = check(withRelease('      strategy: canary\n      canary:\n        steps:\n          - analysis: { templates: [errors, errors] }', TEMPLATES));
  assert.match(twice.errors[0].message, /listed twice/);
  // Used apart, the same metric name is fine.
  assert.deepEqual(check(withRelease('      strategy: canary\n      canary:\n        steps:\n          - analysis: { templates: [a] }\n          - analysis: { templates: [b] }', two)).errors, []);
});
