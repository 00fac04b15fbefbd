// bench/policy: the cost of checking policies before anything is applied. One JSON line:
// - evaluateMs: 100 services × 20 rules (patterns with wildcards, operators and anchors, and deny
//   conditions; a third of the services violate something, so positions are looked up too),
//   evaluated on a loaded spec (goal ≤ 50 ms); median and max of 20 runs, after 3 warm-ups;
// - evaluateCpuMs: the CPU time of the same (wall time inflates on a shared, loaded machine; loadAverage says how loaded);
// - loadAndEvaluateMs: reading the spec with positions plus the same evaluation, as `berth validate` does.
// Run: node dist/bench/policy.js
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { evaluatePolicies, loadSpec, type PolicySpec } from '../src/contract/index.js';

const SERVICES = 100;
const RULES = 20;
const RUNS = 20;

function specText(): string {
  const lines = ['app: bench', 'services:'];
  for (let i = 0; i < SERVICES; i++) {
    const bad = i % 3 === 0;
    lines.push(
      `  svc-${i}:`,
      `    run: node s${i}.js`,
      `    port: ${20000 + i}`,
      `    replicas: ${bad ? 1 : 3}`,
      `    image: registry.example.com/team/svc-${i}:${bad ? 'latest' : `1.${i}.0`}`,
      `    labels: { owner: team-${i % 7}, tier: ${i % 2 ? 'front' : 'back'} }`,
      `    env: { MODE: ${bad ? 'debug' : 'prod'}, WORKERS: ${i % 8} }`,
      `    resources: { memoryMiB: ${bad ? 64 : 256}, cpuMillis: 500 }`,
      '    probes:',
      '      readiness: { http: { path: /ready }, periodSeconds: 1 }',
      ...(bad ? [] : ['      liveness: { http: { path: /healthz }, periodSeconds: 2 }']),
    );
  }
  lines.push('environments:', '  prod: {}');
  return lines.join('\n') + '\n';
}

/** Twenty rules of every kind the language has. */
function policies(): PolicySpec[] {
  const pattern = (name: string, p: Record<string, unknown>, match?: PolicySpec['rules'][number]['match']) => ({ name, ...(match ? { match } : {}), validate: { message: name, pattern: p } });
  const deny = (name: string, key: string, operator: 'Equals' | 'LessThan' | 'NotIn' | 'AnyIn', value: unknown) => ({ name, validate: { message: name, deny: { conditions: { any: [{ key, operator, value }] } } } });
  const rules = [
    pattern('probes', { probes: { readiness: '?*', liveness: '?*' } }),
    pattern('memory', { resources: { memoryMiB: '>=128' } }),
    pattern('cpu', { resources: { cpuMillis: '100-2000' } }),
    pattern('no-latest', { '=(image)': '!*:latest' }),
    pattern('registry', { image: 'registry.example.com/*' }),
    pattern('owner', { labels: { owner: 'team-?' } }),
    pattern('tier', { labels: { tier: 'front|back' } }),
    pattern('replicas', { replicas: '>=2' }, { environments: ['prod'] }),
    pattern('front-replicas', { replicas: '>1 & <=10' }, { labels: { tier: 'front' } }),
    pattern('port', { port: '1024-65535' }),
    pattern('period', { probes: { readiness: { periodSeconds: '<=10' } } }),
    pattern('no-user', { 'X(user)': 'null' }),
    pattern('grpc-probe', { '(protocol)': 'grpc', probes: { readiness: { grpc: '?*' } } }),
    pattern('named', { run: 'node *' }, { names: ['svc-*'] }),
    pattern('mode', { env: { '=(MODE)': '!debug' } }),
    deny('debug', 'env.MODE', 'Equals', 'debug'),
    deny('small', 'resources.memoryMiB', 'LessThan', 100),
    deny('teams', 'labels.owner', 'NotIn', ['team-0', 'team-1', 'team-2', 'team-3', 'team-4', 'team-5', 'team-6']),
    deny('workers', 'env.WORKERS', 'AnyIn', ['99']),
    pattern('stop', { stopGracePeriodSeconds: '<=30' }),
  ];
  if (rules.length !== RULES) throw new Error(`${rules.length} rules`);
  return [{ name: 'bench', action: 'enforce', rules } as PolicySpec];
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'berth-bench-policy-'));
  try {
    const file = join(dir, 'berth.yaml');
    writeFileSync(file, specText());
    const ps = policies();
    const times: number[] = [];
    const total: number[] = [];
    const cpuTimes: number[] = [];
    let violations = 0;
    for (let i = 0; i < RUNS + 3; i++) {
      const t0 = performance.now();
      const res = await loadSpec(file, { env: 'prod' });
      if (!res.ok) throw new Error(JSON.stringify(res.errors.slice(0, 3)));
      const t1 = performance.now();
      const c1 = process.cpuUsage();
      const ev = evaluatePolicies(res.spec, ps, { env: 'prod', file: res.file, locator: res.locator, baseLocator: res.baseLocator });
      const cpu = process.cpuUsage(c1);
      const t2 = performance.now();
      violations = ev.violations.length;
      if (i >= 3) {
        times.push(t2 - t1);
        cpuTimes.push((cpu.user + cpu.system) / 1000);
        total.push(t2 - t0);
      }
    }
    const round = (x: number) => Math.round(x * 100) / 100;
    const result = {
      bench: 'policy',
      date: new Date().toISOString(),
      services: SERVICES,
      rules: RULES,
      evaluations: SERVICES * RULES,
      violations,
      evaluateMs: round(median(times)),
      evaluateMaxMs: round(Math.max(...times)),
      // CPU time of the evaluation: what it costs when other processes share the cores.
      evaluateCpuMs: round(median(cpuTimes)),
      loadAverage: Number(loadavg()[0].toFixed(2)),
      loadAndEvaluateMs: round(median(total)),
      goalMs: 50,
      withinGoal: median(times) <= 50,
      cpuWithinGoal: median(cpuTimes) <= 50,
    };
    process.stdout.write(JSON.stringify(result) + '\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
