// logs → a Fluent Bit native sidecar + ConfigMap with the same sources, parsers, enrichment, routes
// and sinks; what Fluent Bit cannot do the local way is a warning; default logs render nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateObjects } from '../../../../src/targets/kubernetes/index.js';
import { find, renderYaml } from './helpers.js';

const SPEC = `
app: x
services:
  web:
    run: node w.js
    port: 8080
    logs:
      files: [logs/*.log, "*/x.log"]
      multiline: { preset: java, timeoutMs: 500 }
      parsers: [{ type: json }, { type: logfmt }, { type: regex, pattern: "^(?<level>\\\\w+) (?<message>.*)$" }]
      buffer: { type: disk, maxBytes: 10485760, whenFull: drop_newest }
      agent: { memoryMiB: 64 }
      sinks:
        - { type: embedded }
        - { type: file, path: out.log }
        - { type: http, url: "https://loki.example.com/loki/api/v1/push", format: loki }
        - { type: http, url: "http://es:9200/logs/_bulk", format: elasticsearch, index: app-logs, gzip: true }
        - { type: http, url: "http://collector:8080/ingest?x=1", headers: { authorization: Bearer t } }
        - { type: otlp, url: "http://collector:4318/v1/logs" }
        - { type: syslog, host: syslog.example.com, protocol: udp, route: { minLevel: error, streams: [stderr] } }
        - { type: stdout, route: { services: [other] } }
  quiet:
    run: node q.js
`;

test('a Fluent Bit sidecar and its ConfigMap, validated; services with default logs get none', async () => {
  const r = await renderYaml(SPEC);
  assert.deepEqual(await validateObjects(r.objects), []);
  const spec = find(r, 'Deployment', 'web').spec.template.spec;
  const [agent] = spec.initContainers;
  assert.equal(agent.name, 'logs');
  assert.equal(agent.restartPolicy, 'Always', 'a native sidecar, started before the app');
  assert.match(agent.image, /^cr\.fluentbit\.io\/fluent\/fluent-bit:/);
  assert.deepEqual(agent.resources.limits, { memory: '64Mi' });
  assert.deepEqual(agent.env.map((e: { name: string }) => e.name), ['NODE_NAME', 'POD_NAME', 'POD_NAMESPACE', 'POD_UID']);
  assert.deepEqual(spec.volumes.map((v: { name: string }) => v.name), ['tmp', 'logs-config', 'logs-state', 'logs-files-0'], 'no hostPath: the pod stays within the restricted profile');
  assert.deepEqual(spec.containers[0].volumeMounts, [{ name: 'tmp', mountPath: '/tmp' }, { name: 'logs-files-0', mountPath: '/app/logs' }]);
  assert.ok(find(r, 'ConfigMap', 'web-logs'));
  assert.ok(!r.objects.some((o) => o.metadata.name === 'quiet-logs'));
  assert.equal(find(r, 'Deployment', 'quiet').spec.template.spec.initContainers, undefined);
});

test('the Fluent Bit config has the same sources, parsers, enrichment, routes and sinks', async () => {
  const r = await renderYaml(SPEC);
  const cm = find(r, 'ConfigMap', 'web-logs').data;
  const conf: string = cm['fluent-bit.conf'];
  const node: string = cm['node-collector.conf'];
  const parsers: string = cm['parsers.conf'];
  // stdout/stderr: the node's collector tails this Deployment's pod logs (a restricted pod may not mount /var/log/pods).
  assert.match(node, /Path\s+\/var\/log\/pods\/\*_web-\*_\*\/\*\/\*\.log/);
  assert.match(node, /Exclude_Path\s+.*\/logs\/\*\.log/, "the agent's own output is not collected, as locally");
  assert.match(node, /multiline\.parser cri/);
  assert.match(node, /Name\s+loki/);
  assert.ok(!node.includes('${POD_NAME}'), "the node collector's environment is not the pod's");
  assert.ok(!conf.includes('/var/log/pods'));
  assert.match(conf, /Path\s+\/berth\/files\/0\/\*\.log/);
  assert.match(conf, /Exclude_Path\s+\/berth\/files\/0\/\*\.gz,\/berth\/files\/0\/\*\.bz2,/, "compressed rotations are skipped, as the local agent does");
  assert.match(conf, /storage\.type\s+filesystem/);
  assert.match(conf, /Parser\s+berth_json_0\n\s+Parser\s+berth_logfmt_1\n\s+Parser\s+berth_regex_2/);
  assert.match(parsers, /Regex\s+\^\(\?<level>\\w\+\) \(\?<message>\.\*\)\$/);
  assert.match(parsers, /flush_timeout 500/);
  assert.match(parsers, /Caused by:/);
  for (const field of ['app x', 'service web', 'instance ${POD_NAME}', 'node ${NODE_NAME}']) assert.ok(conf.includes(`Add         ${field}`), field);
  assert.match(conf, /Name\s+loki\n[\s\S]*?Host\s+loki\.example\.com\n\s+Port\s+443\n\s+tls\s+On\n\s+Uri\s+\/loki\/api\/v1\/push/);
  assert.match(conf, /Name\s+es\n[\s\S]*?Path\s+\/logs\n\s+Index\s+app-logs[\s\S]*?Compress\s+gzip/);
  assert.match(conf, /Name\s+http\n[\s\S]*?URI\s+\/ingest\?x=1\n\s+Format\s+json\n\s+Header\s+authorization Bearer t/);
  assert.match(conf, /Name\s+opentelemetry\n[\s\S]*?Logs_uri\s+\/v1\/logs/);
  assert.match(conf, /Rule\s+\$log \.\* s6\.\$TAG true/);
  assert.match(conf, /Regex level \(\?i\)\^\(error\|err\|fatal\|critical\|crit\)\$\n\s+Regex stream \^\(stderr\)\$/);
  assert.match(conf, /Name\s+syslog\n\s+Match\s+s6\.\*[\s\S]*?Mode\s+udp/);
  assert.ok(!/Name\s+stdout/.test(conf), 'a sink routed to other services only gets nothing from this one');
  assert.match(conf, /storage\.total_limit_size 10M/);
});

test('what Fluent Bit cannot do as the local agent does is a warning', async () => {
  const r = await renderYaml(SPEC);
  const has = (path: string, re: RegExp) => assert.ok(r.warnings.some((w) => w.path === path && re.test(w.message)), `${path} ${re}`);
  has('services.web.logs.sinks.0', /embedded log store is local only/);
  has('services.web.logs.sinks.1', /file inside the pod/);
  has('services.web.logs.files.1', /fixed directory/);
  has('services.web.logs.buffer.whenFull', /drop_newest/);
  assert.ok(!r.warnings.some((w) => /not rendered yet/.test(w.message) && w.path.includes('logs')), 'logs is handled');
});

test('file logs are never dropped: with no cluster sink the sidecar writes them to its stdout, with a warning', async () => {
  const r = await renderYaml('app: x\nservices:\n  web: { run: node w.js, logs: { files: [logs/*.log] } }\n');
  const pod = find(r, 'Deployment', 'web').spec.template.spec;
  assert.equal(pod.initContainers?.[0]?.name, 'logs', 'the log sidecar is rendered');
  const conf: string = find(r, 'ConfigMap', 'web-logs').data['fluent-bit.conf'];
  assert.match(conf, /Path\s+\/berth\/files\/0\/\*\.log/);
  assert.match(conf, /Name\s+stdout\n\s+Match\s+f\.\*/);
  assert.ok(r.warnings.some((w) => w.path === 'services.web.logs.files' && /sidecar writes the file logs to its stdout/.test(w.message)));
});

test('logs.enabled: false renders no shipper', async () => {
  const r = await renderYaml('app: x\nservices:\n  web: { run: node w.js, logs: { enabled: false } }\n');
  assert.equal(find(r, 'Deployment', 'web').spec.template.spec.initContainers, undefined);
  assert.equal(r.objects.filter((o) => o.kind === 'ConfigMap').length, 0);
});

test('logs.flushMs is Fluent Bit\'s Flush interval (seconds); unset keeps Fluent Bit\'s 1 s', async () => {
  const spec = (extra: string) => `app: x\nservices:\n  web:\n    run: node w.js\n    port: 8080\n    logs:\n      files: [logs/*.log]\n${extra}`;
  const flushOf = (r: Awaited<ReturnType<typeof renderYaml>>) => /^\s*Flush\s+(\S+)$/m.exec(find(r, 'ConfigMap', 'web-logs').data['fluent-bit.conf'] as string)?.[1];
  const set = await renderYaml(spec('      flushMs: 200\n'));
  assert.equal(flushOf(set), '0.2');
  assert.ok(!set.warnings.some((w) => w.path.endsWith('logs.flushMs')), 'rendered, not warned about');
  assert.equal(flushOf(await renderYaml(spec(''))), '1');
  assert.equal(flushOf(await renderYaml(spec('      flushMs: 0\n'))), '0.01');
});
