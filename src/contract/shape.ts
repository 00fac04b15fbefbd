// Reading the structure of the zod schema itself: which keys an object allows at a given spec
// path (for "did you mean" hints), and an unknown-key walk used on environment overlays, which
// are partial specs and so cannot be checked by the full schema.
import type { PathSeg } from './positions.js';
import type { Problem } from './problem.js';
import { didYouMean, listOr } from './errors.js';

interface SchemaLike {
  _zod: { def: unknown };
}
interface Def {
  type: string;
  shape?: Record<string, SchemaLike>;
  valueType?: SchemaLike;
  element?: SchemaLike;
  options?: readonly SchemaLike[];
  innerType?: SchemaLike;
  in?: SchemaLike;
}

function def(s: SchemaLike): Def {
  return s._zod.def as Def;
}

const WRAPPERS = new Set(['optional', 'default', 'prefault', 'nullable', 'readonly', 'catch', 'nonoptional']);

function unwrap(s: SchemaLike): SchemaLike {
  let cur = s;
  for (let guard = 0; guard < 32; guard++) {
    const d = def(cur);
    if (WRAPPERS.has(d.type) && d.innerType) cur = d.innerType;
    else if (d.type === 'pipe' && d.in) cur = d.in;
    else break;
  }
  return cur;
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** For a union, the option that fits the kind of value (mapping or list); undefined if none. */
function pickOption(options: readonly SchemaLike[], value: unknown): SchemaLike | undefined {
  for (const o of options) {
    const t = def(unwrap(o)).type;
    if (Array.isArray(value) && t === 'array') return unwrap(o);
    if (isPlainObject(value) && (t === 'object' || t === 'record')) return unwrap(o);
  }
  return undefined;
}

/** The (unwrapped) schema that applies at `path`, choosing union branches by the data found there. */
export function schemaAt(root: SchemaLike, data: unknown, path: readonly PathSeg[]): SchemaLike | undefined {
  let s: SchemaLike | undefined = unwrap(root);
  let v: unknown = data;
  for (const seg of path) {
    if (!s) return undefined;
    let d = def(s);
    if (d.type === 'union' && d.options) {
      s = pickOption(d.options, v);
      if (!s) return undefined;
      d = def(s);
    }
    if (d.type === 'object' && d.shape) s = d.shape[String(seg)];
    else if (d.type === 'record' && d.valueType) s = d.valueType;
    else if (d.type === 'array' && d.element) s = d.element;
    else return undefined;
    s = s ? unwrap(s) : undefined;
    v = isPlainObject(v) || Array.isArray(v) ? (v as Record<string, unknown>)[String(seg)] : undefined;
  }
  if (s && def(s).type === 'union') return pickOption(def(s).options ?? [], v) ?? s;
  return s;
}

/** The keys an object schema allows at `path`, or undefined when there is no object schema there. */
export function allowedKeysAt(root: SchemaLike, data: unknown, path: readonly PathSeg[]): string[] | undefined {
  const s = schemaAt(root, data, path);
  if (!s) return undefined;
  const d = def(s);
  return d.type === 'object' && d.shape ? Object.keys(d.shape) : undefined;
}

/** Names people bring from docker compose and Kubernetes, and what they are called here. */
const FAMILIAR_NAMES: Record<string, string> = {
  command: 'run',
  cmd: 'run',
  entrypoint: 'run',
  args: 'run',
  environment: 'env',
  env_file: 'envFile',
  working_dir: 'cwd',
  workingDir: 'cwd',
  workdir: 'cwd',
  ports: 'port',
  containerPort: 'port',
  depends_on: 'dependsOn',
  links: 'uses',
  healthcheck: 'probes',
  livenessProbe: 'liveness',
  readinessProbe: 'readiness',
  startupProbe: 'startup',
  httpGet: 'http',
  tcpSocket: 'tcp',
  restartPolicy: 'policy',
  terminationGracePeriodSeconds: 'stopGracePeriodSeconds',
  limits: 'resources',
  memory: 'memoryMiB',
  cpu: 'cpuMillis',
  scale: 'replicas',
  instances: 'replicas',
  name: 'app',
};

/** The hint for an unknown key: a likely intended key, or the list of allowed ones. */
export function unknownKeyHint(key: string, allowed: readonly string[] | undefined): string | undefined {
  if (!allowed || allowed.length === 0) return undefined;
  const familiar = FAMILIAR_NAMES[key];
  if (familiar !== undefined && allowed.includes(familiar)) return `did you mean \`${familiar}\`?`;
  const close = didYouMean(key, allowed);
  if (close !== undefined) return `did you mean \`${close}\`?`;
  return `allowed here: ${listOr(allowed)}`;
}

/** Reports keys of `value` that the schema does not know, descending through objects, records and lists. */
export function unknownKeys(schema: SchemaLike, value: unknown, path: PathSeg[], out: Problem[]): void {
  let s = unwrap(schema);
  let d = def(s);
  if (d.type === 'union' && d.options) {
    const o = pickOption(d.options, value);
    if (!o) return;
    s = o;
    d = def(s);
  }
  if (d.type === 'object' && d.shape && isPlainObject(value)) {
    const allowed = Object.keys(d.shape);
    for (const [k, v] of Object.entries(value)) {
      const child = d.shape[k];
      if (child === undefined) {
        out.push({ path: [...path, k], mode: 'key', message: `unknown field \`${k}\``, hint: unknownKeyHint(k, allowed) });
      } else {
        unknownKeys(child, v, [...path, k], out);
      }
    }
  } else if (d.type === 'record' && d.valueType && isPlainObject(value)) {
    for (const [k, v] of Object.entries(value)) unknownKeys(d.valueType, v, [...path, k], out);
  } else if (d.type === 'array' && d.element && Array.isArray(value)) {
    value.forEach((v, i) => unknownKeys(d.element as SchemaLike, v, [...path, i], out));
  }
}
