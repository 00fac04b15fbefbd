// Policies on a loaded spec: audit vs enforce, matching by name / label / environment, deny
// conditions, *.policy.yaml files, and every violation at the file:line:col of the offending field
// (or of the service when the field is missing, or in the overlay that set it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { checkPolicies, formatViolation, loadSpec, type PolicyCheck } from '../../../src/contract/index.js';
import { tempDir, yaml } from './helpers.js';

async function check(files: Record<string, string>, env?: string): Promise<PolicyCheck> {
  const dir = tempDir(files);
  const res = await loadSpec(join(dir, 'berth.yaml'), { env });
  if (!res.ok) throw new Error(JSON.stringify(res.errors));
  return checkPolicies({ spec: res.spec, file: res.file, dir: res.dir, env, locator: res.locator, baseLocator: res.baseLocator });
}

const SPEC = yaml`
  app: shop
  services:
    web:
      run: node web.js
      replicas: 1
      image: shop/web:latest
      labels: { tier: front, owner: web-team }
    api:
      run: node api.js
      labels: { tier: back }
      resources: { memoryMiB: 64 }
  environments:
    prod:
      services:
        web: { replicas: 1 }
`;

const policy = (body: string) => `\n${body}`;

test('enforce: a violation blocks, at the offending field, as file:line:col: policy/rule: message', async () => {
  const c = await check({
    'berth.yaml':
      SPEC +
      policy(yaml`
        policies:
          - name: no-latest
            action: enforce
            rules:
              - name: pinned
                validate:
                  message: pin the image
                  pattern: { "=(image)": "!*:latest" }
      `),
  });
  assert.equal(c.evaluation.blocked, true);
  assert.equal(c.evaluation.violations.length, 1);
  const v = c.evaluation.violations[0];
  assert.equal(v.result, 'fail');
  assert.equal(v.service, 'web');
  assert.equal(v.path, 'services.web.image');
  assert.deepEqual([v.line, v.col], [6, 12]);
  assert.match(formatViolation(v, () => 'berth.yaml'), /^berth\.yaml:6:12: no-latest\/pinned: pin the image/);
  assert.deepEqual(
    c.evaluation.results.map((r) => `${r.service}:${r.result}`),
    ['web:fail', 'api:pass'],
  );
});

test('audit: the same violation is a warning and does not block', async () => {
  const c = await check({
    'berth.yaml': SPEC + policy(yaml`
      policies:
        - name: no-latest
          action: audit
          rules:
            - name: pinned
              validate: { message: pin the image, pattern: { "=(image)": "!*:latest" } }
    `),
  });
  assert.equal(c.evaluation.blocked, false);
  assert.deepEqual(c.evaluation.violations.map((v) => v.result), ['warn']);
});

test('a rule may override the policy action', async () => {
  const c = await check({
    'berth.yaml': SPEC + policy(yaml`
      policies:
        - name: mixed
          action: enforce
          rules:
            - name: soft
              action: audit
              validate: { message: pin the image, pattern: { "=(image)": "!*:latest" } }
    `),
  });
  assert.equal(c.evaluation.blocked, false);
  assert.equal(c.evaluation.violations[0].action, 'audit');
});

test('a missing field points at the service; a field set by the overlay points into the overlay', async () => {
  const files = {
    'berth.yaml': SPEC + policy(yaml`
      policies:
        - name: limits
          action: enforce
          rules:
            - name: memory
              validate: { message: set memoryMiB, pattern: { resources: { memoryMiB: ">=128" } } }
            - name: replicas
              match: { environments: [prod] }
              validate: { message: two or more, pattern: { replicas: ">=2" } }
    `),
  };
  const base = await check(files);
  const byKey = Object.fromEntries(base.evaluation.violations.map((v) => [`${v.rule}/${v.service}`, v]));
  assert.deepEqual([byKey['memory/web'].line, byKey['memory/web'].col], [3, 3], 'web has no resources: its key');
  assert.deepEqual([byKey['memory/api'].line, byKey['memory/api'].col], [11, 29], 'api has memoryMiB 64: the value');
  assert.equal(byKey['replicas/web'], undefined, 'the prod rule does not apply without --env');
  const prod = await check(files, 'prod');
  const rep = prod.evaluation.violations.find((v) => v.rule === 'replicas' && v.service === 'web')!;
  assert.deepEqual([rep.line, rep.col], [15, 24], 'web.replicas comes from the prod overlay');
  const api = prod.evaluation.violations.find((v) => v.rule === 'replicas' && v.service === 'api')!;
  assert.deepEqual([api.line, api.col], [8, 3], 'api.replicas is only a default: the service');
});

test('match by name (wildcards) and label, exclude', async () => {
  const c = await check({
    'berth.yaml': SPEC + policy(yaml`
      policies:
        - name: owners
          action: enforce
          rules:
            - name: by-label
              match: { labels: { tier: back } }
              validate: { message: owner, pattern: { labels: { owner: "?*" } } }
            - name: by-name
              match: { names: ["w*"] }
              exclude: { labels: { owner: web-* } }
              validate: { message: never, deny: { conditions: { any: [{ key: name, operator: Equals, value: "*" }] } } }
    `),
  });
  assert.deepEqual(
    c.evaluation.results.map((r) => `${r.rule}:${r.service}:${r.result}`),
    ['by-label:api:fail'],
  );
});

test('deny conditions: any / all, operators, keys in {{ }}', async () => {
  const c = await check({
    'berth.yaml': SPEC + policy(yaml`
      policies:
        - name: deny
          action: enforce
          rules:
            - name: small-prod
              validate:
                message: prod needs replicas
                deny:
                  conditions:
                    all:
                      - { key: "{{ environment }}", operator: Equals, value: prod }
                      - { key: "{{ service.replicas }}", operator: LessThan, value: 2 }
            - name: tiers
              validate:
                message: unknown tier
                deny: { conditions: { any: [{ key: labels.tier, operator: NotIn, value: [front, back] }] } }
            - name: memory
              validate:
                message: memory too small
                deny: [{ key: resources.memoryMiB, operator: LessThanOrEquals, value: 64 }]
    `),
  }, 'prod');
  const got = c.evaluation.violations.map((v) => `${v.rule}:${v.service}:${v.path}`).sort();
  assert.deepEqual(got, ['memory:api:services.api.resources.memoryMiB', 'small-prod:api:services.api.replicas', 'small-prod:web:services.web.replicas']);
  const mem = c.evaluation.violations.find((v) => v.rule === 'memory')!;
  assert.deepEqual([mem.line, mem.col], [11, 29]);
});

test('*.policy.yaml files beside the spec are read; their mistakes are located in them', async () => {
  const good = await check({
    'berth.yaml': SPEC,
    'owner.policy.yaml': yaml`
      name: owner
      action: enforce
      rules:
        - name: owner
          validate: { message: add an owner label, pattern: { labels: { owner: "?*" } } }
    `,
  });
  assert.deepEqual(good.evaluation.violations.map((v) => `${v.service}:${v.path}`), ['api:services.api.labels.owner']);
  const broken = await check({
    'berth.yaml': SPEC,
    'broken.policy.yaml': yaml`
      policies:
        - name: x
          action: sometimes
          rules:
            - name: r
              validate: { message: m, pattern: {}, deny: [] }
    `,
  });
  const msgs = broken.errors.map((e) => `${e.file.endsWith('broken.policy.yaml')}:${e.line}:${e.col}:${e.path}`);
  assert.ok(msgs.includes('true:3:13:policies.0.action'), msgs.join('\n'));
  assert.ok(msgs.some((m) => m.startsWith('true:6:') && m.endsWith('policies.0.rules.0.validate')), msgs.join('\n'));
});

test('the same policy name twice is an error', async () => {
  const c = await check({
    'berth.yaml': SPEC + policy(yaml`
      policies:
        - name: dup
          rules: [{ name: r, validate: { message: m, pattern: { replicas: ">=0" } } }]
    `),
    'dup.policy.yaml': 'name: dup\nrules: [{ name: r, validate: { message: m, pattern: { replicas: ">=0" } } }]\n',
  });
  assert.equal(c.errors.length, 1);
  assert.match(c.errors[0].message, /declared twice/);
});

test('a policy in the spec is validated like the rest of it', async () => {
  const dir = tempDir({ 'berth.yaml': SPEC + '\npolicies:\n  - name: p\n    rules:\n      - name: r\n        validate: { message: m, patern: {} }\n' });
  const res = await loadSpec(join(dir, 'berth.yaml'));
  assert.equal(res.ok, false);
  if (res.ok) return;
  const typo = res.errors.find((e) => e.path === 'policies.0.rules.0.validate.patern');
  assert.ok(typo, JSON.stringify(res.errors));
  assert.equal(typo.hint, 'did you mean `pattern`?');
  assert.equal(SPEC.split('\n').length + 5, typo.line, 'the line of `patern`');
});

test('match, exclude and action may also be given inside validate (not in both places)', async () => {
  const c = await check({
    'berth.yaml': SPEC + policy(yaml`
      policies:
        - name: inside
          action: audit
          rules:
            - name: r
              validate:
                match: { labels: { tier: back } }
                action: enforce
                message: owner
                pattern: { labels: { owner: "?*" } }
    `),
  });
  assert.deepEqual(c.evaluation.results.map((r) => `${r.service}:${r.result}`), ['api:fail']);
  const dir = tempDir({ 'berth.yaml': SPEC + '\npolicies:\n  - name: p\n    rules:\n      - name: r\n        action: audit\n        validate: { message: m, action: enforce, pattern: { replicas: 1 } }\n' });
  const res = await loadSpec(join(dir, 'berth.yaml'));
  assert.equal(res.ok, false);
  if (!res.ok) assert.ok(res.errors.some((e) => e.path === 'policies.0.rules.0.validate.action' && /given twice/.test(e.message)), JSON.stringify(res.errors));
});
