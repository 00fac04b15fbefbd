// Validation of a large spec: generates a YAML spec of about BERTH_BENCH_VALIDATE_MB megabytes
// (default 10) with many services, validates it once in this process and prints one JSON line:
// size, services, milliseconds (wall and CPU) and peak RSS. Goal (issue 12 point 15): 10 MB in ≤ 2 s, ≤ 300 MB.
// Add `--errors` to make every service carry one error, so error positions are mapped too.
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { validateSpecText } from '../src/contract/index.js';

/** One service's YAML, about 500 bytes, with probes, env, routes and a header rewrite. */
function serviceYaml(i: number, withError: boolean): string {
  const port = 1024 + (i % 60000);
  const name = `svc-${i}`;
  return [
    `  ${name}:`,
    `    run: node server.js --name ${name} --threads 4`,
    ...(i < 60000 ? [`    port: ${port}`] : []),
    // 50 nodes offer 12,650 instance addresses: the services after the first 6,000 declare none.
    `    replicas: ${withError ? -1 : i < 6000 ? 1 + (i % 2) : 0}`,
    `    env: { MODE: production, SERVICE_NAME: ${name}, LOG_LEVEL: info, FEATURE_X: "on" }`,
    `    probes:`,
    ...(i < 60000 ? [`      readiness: { http: { path: /ready, headers: { X-Probe: berth } }, periodSeconds: 1 }`] : []),
    `      liveness: { exec: { command: "test -f /tmp/ok-${i}" }, periodSeconds: 2, failureThreshold: 3 }`,
    `    restart: { policy: always, backoff: { initialSeconds: 0.5, maxSeconds: 30 } }`,
    `    resources: { memoryMiB: 128, cpuMillis: 250 }`,
    `    stopGracePeriodSeconds: 10`,
    ...(i < 60000
      ? [
          `    routes:`,
          `      - name: api`,
          `        match: { path: { regex: "/api/v[0-9]+/.*" }, headers: { x-user: { prefix: test } } }`,
          `        timeout: 2s`,
          `        headers: { request: { set: { x-from: ${name} } } }`,
          `      - { name: rest }`,
        ]
      : []),
    '',
  ].join('\n');
}

export function generateSpec(targetBytes: number, withErrors = false): { text: string; services: number } {
  const parts = ['app: big\nnodes: 50\nservices:\n'];
  let size = parts[0].length;
  let i = 0;
  while (size < targetBytes) {
    const s = serviceYaml(i, withErrors);
    parts.push(s);
    size += s.length;
    i++;
  }
  return { text: parts.join(''), services: i };
}

function main(): void {
  const mb = Number(process.env.BERTH_BENCH_VALIDATE_MB ?? 10);
  const withErrors = process.argv.includes('--errors');
  const { text, services } = generateSpec(mb * 1024 * 1024, withErrors);
  const rssBefore = process.memoryUsage().rss;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const result = validateSpecText(text, '/tmp/berth-bench/berth.yaml');
  const ms = performance.now() - t0;
  // CPU time as well as wall time: on a shared machine the wall time mostly measures the others.
  const cpu = process.cpuUsage(cpu0);
  const peakRssMiB = process.resourceUsage().maxRSS / 1024;
  const errors = result.ok ? 0 : result.errors.length;
  console.log(
    JSON.stringify({
      bench: 'validate',
      bytes: text.length,
      services,
      withErrors,
      ok: result.ok,
      errors,
      ms: Math.round(ms),
      cpuMs: Math.round((cpu.user + cpu.system) / 1000),
      peakRssMiB: Math.round(peakRssMiB),
      rssBeforeMiB: Math.round(rssBefore / 1024 / 1024),
      goal: { ms: 2000, peakRssMiB: 300 },
    }),
  );
}

// Run only as a script (tests import generateSpec, and their file names may contain "validate").
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) main();
