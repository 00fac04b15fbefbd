// Logs: a service's `logs:` as Fluent Bit configuration with the same sources, parsers, enrichment
// (app, service, revision, instance, node), routes and sinks (http/json, Loki, Elasticsearch, OTLP,
// syslog, stdout) as the local agent. Under the restricted pod profile a pod may not mount the
// node's /var/log/pods, so the work splits: `logs.files` are tailed by a Fluent Bit native sidecar
// through shared emptyDir volumes (never dropped: without a cluster sink they go to the sidecar's
// stdout), and stdout/stderr are shipped by the node's collector, whose Fluent Bit config for this
// service is rendered in the same ConfigMap (key node-collector.conf). What Fluent Bit cannot do the
// way the local agent does is a warning. A service that leaves `logs` at its default gets nothing:
// the cluster's own log collection (and `kubectl logs`) covers stdout/stderr there.
import { posix } from 'node:path';
import { explicitServiceFields } from './coverage.js';
import { fluentBitConfig, type Section } from './fluent-bit.js';
import { containerSecurityContext, tmpMount } from './security.js';
import type { JsonObject, K8sObject, PodContribution, ServiceContext, ServiceRenderer } from './types.js';

export const FLUENT_BIT_IMAGE = 'cr.fluentbit.io/fluent/fluent-bit:3.2.10';
const SIDECAR = 'logs';
const CONF_DIR = '/fluent-bit/etc/berth';
const STATE_DIR = '/fluent-bit/state';
const FILES_DIR = '/berth/files';
const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;
const LEVEL_ALIASES: Record<string, string[]> = { warn: ['warn', 'warning'], error: ['error', 'err'], fatal: ['fatal', 'critical', 'crit'] };
const SOURCES = '^(c|f)\\.';

interface Route {
  levels?: string[];
  minLevel?: string;
  streams?: string[];
  services?: string[];
}
interface Sink {
  type: string;
  name?: string;
  route?: Route;
  url?: string;
  format?: string;
  index?: string;
  gzip?: boolean;
  headers?: Record<string, string>;
  batchMaxRecords?: number;
  timeoutMs?: number;
  host?: string;
  port?: number;
  protocol?: string;
  facility?: number;
}
interface LogsFields {
  enabled: boolean;
  files: string[];
  decompress?: boolean;
  multiline?: { preset?: string; start?: string; timeoutMs: number };
  parsers: { type: string; pattern?: string }[];
  maxLineBytes: number;
  flushMs?: number;
  buffer: { type: string; maxRecords: number; maxBytes: number; whenFull: string };
  sinks: Sink[];
  agent: { run?: string | string[]; memoryMiB: number };
}

type Ctx = Omit<ServiceContext, 'pod'>;

/** The service's `logs`, when it is explicitly set and enabled (otherwise the cluster's defaults apply). */
function readLogs(ctx: Ctx): LogsFields | undefined {
  if (!('logs' in explicitServiceFields(ctx.spec))) return undefined;
  const logs = (ctx.spec as unknown as { logs?: LogsFields }).logs;
  return logs && logs.enabled ? logs : undefined;
}

interface Plan {
  /** The sidecar's config (file sources); empty when the service declares no files. */
  config: string;
  /** The node collector's config for this service's stdout/stderr; empty when no sink takes them. */
  nodeConfig: string;
  parsers: string;
  fileDirs: string[];
}

function outputFor(ctx: Ctx, sink: Sink, path: string): [string, string | number][] | undefined {
  const warn = (m: string) => ctx.warn(path, m);
  if (sink.type === 'embedded') return void warn('the embedded log store is local only: not rendered (on the cluster, stdout/stderr stay available through `kubectl logs` and the cluster\'s log collection)');
  if (sink.type === 'file') return void warn("not rendered: a file inside the pod is not a durable log destination; use an http, otlp or syslog sink for the cluster");
  if (sink.type === 'stdout') return [['Name', 'stdout'], ['Format', 'json_lines']];
  if (sink.type === 'syslog') {
    return [['Name', 'syslog'], ['Host', sink.host ?? '127.0.0.1'], ['Port', sink.port ?? 514], ['Mode', sink.protocol ?? 'tcp'], ['Syslog_Format', 'rfc5424'], ['Syslog_Message_Key', 'log'], ['Syslog_Facility_Preset', sink.facility ?? 1]];
  }
  if (sink.type !== 'http' && sink.type !== 'otlp') return void warn(`sink type \`${sink.type}\` is not rendered yet for Kubernetes`);
  const url = new URL(sink.url ?? 'http://localhost/');
  const tls = url.protocol === 'https:';
  const port = url.port !== '' ? Number(url.port) : tls ? 443 : 80;
  const common: [string, string | number][] = [['Host', url.hostname], ['Port', port], ['tls', tls ? 'On' : 'Off']];
  const headers = Object.entries(sink.headers ?? {}).sort(([a], [b]) => (a < b ? -1 : 1));
  const headerLines = headers.map(([k, v]): [string, string] => ['Header', `${k} ${v}`]);
  const gzip: [string, string][] = sink.gzip ? [['Compress', 'gzip']] : [];
  if (sink.batchMaxRecords !== undefined && sink.batchMaxRecords !== 1000) warn('batchMaxRecords is not rendered: Fluent Bit batches by chunk (Flush interval)');
  if (sink.timeoutMs !== undefined && sink.timeoutMs !== 10_000) warn('timeoutMs is not rendered: Fluent Bit uses its network defaults (net.connect_timeout)');
  const uri = `${url.pathname}${url.search}`;
  if (sink.type === 'otlp') return [['Name', 'opentelemetry'], ...common, ['Logs_uri', uri], ...headerLines, ...gzip];
  if (sink.format === 'loki') {
    if (headers.length) warn('headers are not rendered for a Loki sink (Fluent Bit\'s loki output takes tenant_id/http_user instead)');
    return [['Name', 'loki'], ...common, ['Uri', uri], ['Labels', `app=${ctx.app.app}, service=${ctx.name}`], ['Line_Format', 'json'], ...gzip];
  }
  if (sink.format === 'elasticsearch') {
    if (headers.length) warn('headers are not rendered for an Elasticsearch sink (use HTTP_User/HTTP_Passwd or an API key in Fluent Bit)');
    const prefix = url.pathname.replace(/\/?_bulk\/?$/, '').replace(/\/$/, '');
    return [['Name', 'es'], ...common, ...(prefix ? [['Path', prefix] as [string, string]] : []), ['Index', sink.index ?? 'berth-logs'], ['Suppress_Type_Name', 'On'], ...gzip];
  }
  return [['Name', 'http'], ...common, ['URI', uri], ['Format', 'json'], ...headerLines, ...gzip];
}

function levelRegex(route: Route): string | undefined {
  let levels: string[] | undefined = route.levels;
  if (route.minLevel !== undefined) {
    const min = LEVELS.indexOf(route.minLevel as (typeof LEVELS)[number]);
    const atLeast = LEVELS.slice(min) as string[];
    levels = levels ? levels.filter((l) => atLeast.includes(l)) : atLeast;
  }
  if (!levels) return undefined;
  return `(?i)^(${levels.flatMap((l) => LEVEL_ALIASES[l] ?? [l]).join('|')})$`;
}

function multilineParser(ctx: Ctx, m: NonNullable<LogsFields['multiline']>): Section | undefined {
  const rules: [string, string][] = [];
  if (m.preset === 'node') rules.push(['/^(?!\\s+at\\s)/', '/^\\s+at\\s/']);
  else if (m.preset === 'java') rules.push(['/^(?!\\s+at\\s|Caused by:|\\s+\\.\\.\\. \\d+ more)/', '/^(\\s+at\\s|Caused by:|\\s+\\.\\.\\. \\d+ more)/']);
  else if (m.start !== undefined) {
    if (m.start.includes('"') || m.start.includes('/')) {
      ctx.warn(`${ctx.path}.logs.multiline.start`, 'a pattern with " or / cannot be written into a Fluent Bit rule: multiline not rendered');
      return undefined;
    }
    rules.push([`/${m.start}/`, `/^(?!(?:${m.start}))/`]);
  }
  const [start, cont] = rules[0];
  return {
    name: 'MULTILINE_PARSER',
    entries: [['name', 'berth_multiline'], ['type', 'regex'], ['flush_timeout', m.timeoutMs], ['rule', `"start_state" "${start}" "cont"`], ['rule', `"cont" "${cont}" "cont"`]],
  };
}

const LOGS_FIELDS = new Set(['enabled', 'files', 'decompress', 'multiline', 'parsers', 'maxLineBytes', 'flushMs', 'buffer', 'sinks', 'agent']);
/** logrotate's compressed generations: skipped, as the local agent skips them (Fluent Bit's tail would read their bytes as text). */
const COMPRESSED_GLOBS = '*.gz,*.bz2,*.xz,*.zst';

function plan(ctx: Ctx, logs: LogsFields): Plan {
  const base = `${ctx.path}.logs`;
  for (const key of Object.keys(logs).sort()) {
    if (!LOGS_FIELDS.has(key)) ctx.warn(`${base}.${key}`, 'not rendered yet for Kubernetes (no renderer handles this field)');
  }
  const fileInputs: Section[] = [];
  const sections: Section[] = [];
  const parserSections: Section[] = [];
  const disk = logs.buffer.type === 'disk';
  const service: Section = {
    name: 'SERVICE',
    // Fluent Bit's Flush (seconds.nanoseconds) is its interval between deliveries, as logs.flushMs is
    // locally (there, only while lines keep coming); 10 ms stands for 0 ("at once").
    entries: [['Flush', logs.flushMs === undefined ? 1 : Math.max(logs.flushMs, 10) / 1000], ['Log_Level', 'warn'], ['Parsers_File', `${CONF_DIR}/parsers.conf`], ...(disk ? [['storage.path', `${STATE_DIR}/buffer`] as [string, string]] : []), ['HTTP_Server', 'On'], ['HTTP_Listen', '0.0.0.0'], ['HTTP_Port', 2020]],
  };
  const buffering: [string, string | number][] = disk ? [['storage.type', 'filesystem']] : [['Mem_Buf_Limit', `${Math.max(1, Math.floor(logs.agent.memoryMiB / 2))}MB`]];
  // On the node: this Deployment's pods' containers (pod directories are <namespace>_<pod>_<uid>), but not the log sidecar.
  const podDirs = `/var/log/pods/*_${ctx.deployment}-*_*`;
  const podInput: Section = {
    name: 'INPUT',
    entries: [['Name', 'tail'], ['Tag', 'c.pod'], ['Path', `${podDirs}/*/*.log`], ['Exclude_Path', `${podDirs}/${SIDECAR}/*.log`], ['Path_Key', 'file'], ['multiline.parser', 'cri'], ['DB', `${STATE_DIR}/${ctx.deployment}-pods.db`], ['Buffer_Max_Size', logs.maxLineBytes], ['Skip_Long_Lines', 'Off'], ...buffering],
  };
  const fileDirs: string[] = [];
  logs.files.forEach((glob, i) => {
    const dir = posix.dirname(glob);
    if (!ctx.image.build) return void ctx.warn(`${base}.files.${i}`, 'not rendered with a custom image (where the app writes is unknown)');
    if (/[*?[\]{}]/.test(dir) || dir.startsWith('..') || posix.isAbsolute(dir)) {
      return void ctx.warn(`${base}.files.${i}`, `\`${glob}\`: only a glob in a fixed directory under the service's directory can be shared with the log sidecar; not rendered`);
    }
    let n = fileDirs.indexOf(dir);
    if (n === -1) n = fileDirs.push(dir) - 1;
    fileInputs.push({ name: 'INPUT', entries: [['Name', 'tail'], ['Tag', `f.${i}`], ['Path', `${FILES_DIR}/${n}/${posix.basename(glob)}`], ['Exclude_Path', `${FILES_DIR}/${n}/${COMPRESSED_GLOBS.split(',').join(`,${FILES_DIR}/${n}/`)}`], ['Path_Key', 'file'], ['DB', `${STATE_DIR}/files-${i}.db`], ['Buffer_Max_Size', logs.maxLineBytes], ['Skip_Long_Lines', 'Off'], ...buffering] });
  });
  if (fileInputs.length && logs.decompress) ctx.warn(`${base}.decompress`, 'Fluent Bit\'s tail input does not decompress: compressed rotated files are skipped on the cluster');
  if (fileInputs.length) sections.push({ name: 'FILTER', entries: [['Name', 'modify'], ['Match', 'f.*'], ['Add', 'stream file']] });
  if (logs.multiline) {
    const p = multilineParser(ctx, logs.multiline);
    if (p) {
      parserSections.push(p);
      sections.push({ name: 'FILTER', entries: [['Name', 'multiline'], ['Match_Regex', SOURCES], ['multiline.key_content', 'log'], ['multiline.parser', 'berth_multiline']] });
    }
  }
  if (logs.parsers.length) {
    const names = logs.parsers.map((p, i) => {
      const name = `berth_${p.type}_${i}`;
      const entries: [string, string][] = [['Name', name], ['Format', p.type]];
      if (p.type === 'regex') entries.push(['Regex', p.pattern ?? '']);
      parserSections.push({ name: 'PARSER', entries });
      return name;
    });
    sections.push({ name: 'FILTER', entries: [['Name', 'parser'], ['Match_Regex', SOURCES], ['Key_Name', 'log'], ...names.map((n): [string, string] => ['Parser', n]), ['Reserve_Data', 'On'], ['Preserve_Key', 'On']] });
  }
  sections.push({
    name: 'FILTER',
    entries: [['Name', 'modify'], ['Match_Regex', SOURCES], ['Add', `app ${ctx.app.app}`], ['Add', `service ${ctx.name}`], ['Add', `variant ${ctx.variant}`], ['Add', `revision ${ctx.revision}`], ['Add', 'instance ${POD_NAME}'], ['Add', 'node ${NODE_NAME}']],
  });
  if (logs.maxLineBytes !== 1024 * 1024) ctx.warn(`${base}.maxLineBytes`, 'rendered as the tail buffer size: Fluent Bit keeps reading past a longer line instead of truncating and marking it');
  if (logs.buffer.maxRecords !== 10_000) ctx.warn(`${base}.buffer.maxRecords`, 'not rendered: Fluent Bit bounds its buffer in bytes (Mem_Buf_Limit / storage.total_limit_size), not records');
  if (logs.buffer.whenFull === 'drop_newest') ctx.warn(`${base}.buffer.whenFull`, 'drop_newest is not rendered: a full Fluent Bit buffer pauses the input (memory) or drops the oldest chunks (filesystem)');
  if (logs.agent.run !== undefined) ctx.warn(`${base}.agent.run`, `not rendered: the cluster runs Fluent Bit (${FLUENT_BIT_IMAGE}) as the log agent`);

  logs.sinks.forEach((sink, i) => {
    const path = `${base}.sinks.${i}`;
    if (sink.route?.services && !sink.route.services.includes(ctx.name)) return; // this service's records never reach it
    const out = outputFor(ctx, sink, path);
    if (!out) return;
    const levels = sink.route ? levelRegex(sink.route) : undefined;
    const streams = sink.route?.streams;
    const retry: [string, string] = ['Retry_Limit', 'no_limits'];
    const limit: [string, string][] = disk ? [['storage.total_limit_size', `${Math.ceil(logs.buffer.maxBytes / 1048576)}M`]] : [];
    if (!levels && !streams) {
      sections.push({ name: 'OUTPUT', entries: [...out.slice(0, 1), ['Match_Regex', SOURCES], ...out.slice(1), retry, ...limit] });
      return;
    }
    const tag = `s${i}`;
    sections.push({ name: 'FILTER', entries: [['Name', 'rewrite_tag'], ['Match_Regex', SOURCES], ['Rule', `$log .* ${tag}.$TAG true`]] });
    const grep: [string, string][] = [];
    if (levels) grep.push(['Regex', `level ${levels}`]);
    if (streams) grep.push(['Regex', `stream ^(${streams.join('|')})$`]);
    sections.push({ name: 'FILTER', entries: [['Name', 'grep'], ['Match', `${tag}.*`], ...grep] });
    sections.push({ name: 'OUTPUT', entries: [...out.slice(0, 1), ['Match', `${tag}.*`], ...out.slice(1), retry, ...limit] });
  });
  const hasOutput = sections.some((s) => s.name === 'OUTPUT');
  if (fileInputs.length && !hasOutput) {
    // File logs are never dropped: with no sink rendered for the cluster they go to the sidecar's stdout,
    // where `kubectl logs -c logs` and the node's collector see them.
    sections.push({ name: 'OUTPUT', entries: [['Name', 'stdout'], ['Match', 'f.*'], ['Format', 'json_lines'], ['Retry_Limit', 'no_limits']] });
    ctx.warn(`${base}.files`, 'no sink is rendered for the cluster: the log sidecar writes the file logs to its stdout (`kubectl logs <pod> -c logs`), where the node\'s log collector picks them up');
  }
  const parsers = parserSections.length ? fluentBitConfig(parserSections) : '# no parsers\n';
  const config = fileInputs.length ? fluentBitConfig([service, ...fileInputs, ...sections]) : '';
  // The node collector runs for many pods: the instance and node come from the file path, not the pod's environment.
  const nodeSections = sections.map((sec) => ({ ...sec, entries: sec.entries.filter(([k, v]) => !(k === 'Add' && /^(instance|node) \$\{/.test(String(v)))) }));
  const nodeConfig = hasOutput ? fluentBitConfig([service, podInput, ...nodeSections]) : '';
  if (nodeConfig) {
    ctx.warn(`${base}.sinks`, `stdout/stderr reach the sinks through the node's log collector (a pod under the restricted profile cannot read /var/log/pods): load node-collector.conf from ConfigMap ${logsConfigMapName(ctx.deployment)} into the cluster's Fluent Bit DaemonSet`);
  }
  if (!config && !nodeConfig) return { config: '', nodeConfig: '', parsers: '', fileDirs: [] };
  return { config, nodeConfig, parsers, fileDirs };
}

const cache = new WeakMap<object, Plan | undefined>();
function planFor(ctx: Ctx): Plan | undefined {
  if (cache.has(ctx.spec)) return cache.get(ctx.spec);
  const logs = readLogs(ctx);
  const p = logs ? plan(ctx, logs) : undefined;
  const result = p && (p.config || p.nodeConfig) ? p : undefined;
  cache.set(ctx.spec, result);
  return result;
}

export function logsConfigMapName(service: string): string {
  return `${service}-logs`;
}

function pod(ctx: Ctx): PodContribution | undefined {
  const p = planFor(ctx);
  if (!p || !p.config) return undefined;
  const logs = (ctx.spec as unknown as { logs: LogsFields }).logs;
  const fieldEnv = (name: string, path: string): JsonObject => ({ name, valueFrom: { fieldRef: { fieldPath: path } } });
  const sidecar: JsonObject = {
    name: SIDECAR,
    image: FLUENT_BIT_IMAGE,
    command: ['/fluent-bit/bin/fluent-bit', '-c', `${CONF_DIR}/fluent-bit.conf`],
    env: [fieldEnv('NODE_NAME', 'spec.nodeName'), fieldEnv('POD_NAME', 'metadata.name'), fieldEnv('POD_NAMESPACE', 'metadata.namespace'), fieldEnv('POD_UID', 'metadata.uid')],
    securityContext: containerSecurityContext(),
    resources: { limits: { memory: `${logs.agent.memoryMiB}Mi` }, requests: { cpu: '10m', memory: `${logs.agent.memoryMiB}Mi` } },
    restartPolicy: 'Always',
    volumeMounts: [
      { name: 'logs-config', mountPath: CONF_DIR, readOnly: true },
      { name: 'logs-state', mountPath: STATE_DIR },
      tmpMount(),
      ...p.fileDirs.map((_, n) => ({ name: `logs-files-${n}`, mountPath: `${FILES_DIR}/${n}`, readOnly: true })),
    ],
  };
  return {
    sidecars: [sidecar],
    volumes: [
      { name: 'logs-config', configMap: { name: logsConfigMapName(ctx.deployment) } },
      { name: 'logs-state', emptyDir: {} },
      ...p.fileDirs.map((_, n) => ({ name: `logs-files-${n}`, emptyDir: {} })),
    ],
    appVolumeMounts: p.fileDirs.map((dir, n) => ({ name: `logs-files-${n}`, mountPath: posix.join('/app', dir) })),
  };
}

function render(ctx: ServiceContext): K8sObject[] {
  const p = planFor(ctx);
  if (!p) return [];
  return [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: logsConfigMapName(ctx.deployment), labels: ctx.labels }, data: { ...(p.config ? { 'fluent-bit.conf': p.config } : {}), ...(p.nodeConfig ? { 'node-collector.conf': p.nodeConfig } : {}), 'parsers.conf': p.parsers } }];
}

export const logsRenderer: ServiceRenderer = { family: 'logs', scope: 'deployment', handles: ['logs'], pod, render };
