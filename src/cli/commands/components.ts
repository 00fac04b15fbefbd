// `berth components ls`, `berth state get|set`, `berth publish`: the app's building-block components
// as its proxies see them (declared ones and the embedded defaults, scopes resolved), poked directly
// from the command line. The CLI opens the component itself (same backends, same key prefix
// `<appId>||`, same CloudEvent envelope as the API), so it works whether or not the app runs —
// except for the in-memory types, whose data lives inside each proxy.
import { join } from 'node:path';
import {
  buildPublishEvent,
  createLock,
  createPubSub,
  createSecretStore,
  isJsonType,
  openStateStore,
  type ComponentSpec,
} from '../../components/index.js';
import { formatSpecErrors, loadSpec, readComponentResources, resolveDaprServices, resolveSpecSecrets, type ComponentDecl } from '../../contract/index.js';
import { resolveContext } from '../context.js';
import { errors } from '../errors.js';
import { dim, green, red, table, useColor } from '../output.js';

interface Loaded {
  dir: string;
  components: (ComponentDecl & { services: string[]; appIds: string[]; declared: boolean })[];
}

interface SpecOpts {
  file?: string;
  env?: string;
}

/** Every component some service uses (declared, and the embedded defaults), with who uses it. */
async function load(o: SpecOpts): Promise<Loaded> {
  const ctx = resolveContext(o.file, true);
  const res = await loadSpec(ctx.specFile!, { env: o.env });
  if (!res.ok) throw errors.invalidSpec(formatSpecErrors(res.errors, { color: useColor(process.stderr) }));
  const resources = readComponentResources(res.spec, res.dir);
  const resolved = { ...resources, components: resources.components.map((c) => resolveSpecSecrets(c, res.spec, res.dir)) };
  const services = resolveDaprServices(res.spec, resolved, join(res.dir, '.berth')).services;
  const byName = new Map<string, Loaded['components'][number]>();
  for (const c of resolved.components) byName.set(c.name, { ...c, services: [], appIds: [], declared: true });
  for (const [svc, d] of Object.entries(services)) {
    for (const c of d?.components ?? []) {
      const entry = byName.get(c.name) ?? { ...c, services: [], appIds: [], declared: false };
      entry.services.push(svc);
      entry.appIds.push(d!.appId);
      byName.set(c.name, entry);
    }
  }
  return { dir: res.dir, components: [...byName.values()] };
}

const spec = (c: ComponentDecl): ComponentSpec => ({ name: c.name, type: c.type, version: c.version, metadata: c.metadata, scopes: c.scopes });

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`no answer in ${ms / 1000} s`)), ms).unref())]);
}

/** `ok`, `unreachable` (with the reason), or `n/a` (bindings, in-memory: nothing to reach from here). */
async function health(c: ComponentDecl, dir: string): Promise<{ health: 'ok' | 'unreachable' | 'n/a'; error?: string }> {
  if (Object.keys(c.secretKeyRefs).length > 0) return { health: 'n/a', error: 'its metadata comes from a secret store at run time' };
  const kind = c.type.split('.')[0];
  try {
    if (kind === 'state') {
      if (c.type === 'state.in-memory') return { health: 'n/a' };
      const s = await withTimeout(openStateStore(spec(c), { appId: 'berth-cli', baseDir: dir }), 5000);
      await s.close();
    } else if (kind === 'pubsub') {
      if (c.type === 'pubsub.in-memory') return { health: 'n/a' };
      const p = createPubSub(spec(c), { appId: 'berth-cli', stateDir: join(dir, '.berth') });
      try {
        if (!(await withTimeout(p.ping(), 5000))) return { health: 'unreachable', error: 'the broker did not answer' };
      } finally {
        // A health check's connection: failing to close it cleanly changes nothing the command reports.
        void p.close().catch(() => {});
      }
    } else if (kind === 'lock') {
      const l = createLock(spec(c), { appId: 'berth-cli' });
      try {
        if (!(await withTimeout(l.ping(), 5000))) return { health: 'unreachable', error: 'Redis did not answer' };
      } finally {
        // As above: the check's connection only.
        void l.close().catch(() => {});
      }
    } else if (kind === 'secretstores') {
      const s = createSecretStore(spec(c), { baseDir: dir });
      await s.close();
    } else return { health: 'n/a' };
    return { health: 'ok' };
  } catch (err) {
    return { health: 'unreachable', error: (err as Error).message };
  }
}

export async function componentsLs(o: SpecOpts & { json?: boolean }): Promise<void> {
  const { dir, components } = await load(o);
  const slow = setTimeout(() => {
    if (!o.json) process.stderr.write(dim(`checking ${components.length} components…\n`));
  }, 1000);
  const checked = await Promise.all(components.map(async (c) => ({ c, h: await health(c, dir) })));
  clearTimeout(slow);
  const rows = checked.map(({ c, h }) => ({
    name: c.name,
    type: c.type,
    version: c.version,
    scopes: c.scopes,
    services: c.services,
    default: !c.declared,
    health: h.health,
    ...(h.error ? { error: h.error } : {}),
  }));
  if (o.json) {
    process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
  } else if (rows.length === 0) {
    process.stdout.write('no components: no service uses the building-block API (set dapr: { enabled: true } or declare a component)\n');
  } else {
    process.stdout.write(
      table(
        ['NAME', 'TYPE', 'SCOPES', 'SERVICES', 'HEALTH'],
        rows.map((r) => [r.name + (r.default ? dim(' (default)') : ''), r.type, r.scopes.length ? r.scopes.join(',') : '*', r.services.join(',') || '-', r.health === 'ok' ? green('ok') : r.health === 'unreachable' ? red(`unreachable: ${r.error ?? ''}`) : dim('n/a')]),
      ) + '\n',
    );
  }
  if (rows.some((r) => r.health === 'unreachable')) process.exitCode = 1;
}

/** The component NAME of `kind`, and the app ID whose keys it uses (--service, else the one service using it). */
async function pick(o: SpecOpts & { service?: string }, name: string, kind: 'state' | 'pubsub'): Promise<{ c: ComponentDecl; appId: string; dir: string }> {
  const { dir, components } = await load(o);
  const c = components.find((x) => x.name === name && x.type.startsWith(`${kind}.`));
  if (!c) {
    const names = components.filter((x) => x.type.startsWith(`${kind}.`)).map((x) => x.name);
    throw errors.usage(`no ${kind === 'state' ? 'state store' : 'pub/sub'} component named ${name}`, names.length ? `known: ${names.join(', ')}` : 'no service uses the building-block API');
  }
  if (c.type.endsWith('.in-memory')) throw errors.failed(`${name} is ${c.type}: its data lives inside each proxy, out of the CLI's reach`, 'use the app (its DAPR_HTTP_PORT) instead');
  let i = 0;
  if (o.service !== undefined) {
    i = c.services.indexOf(o.service);
    if (i < 0) throw errors.usage(`service ${o.service} does not use ${name}`, c.services.length ? `services using it: ${c.services.join(', ')}` : undefined);
  } else if (kind === 'state' && new Set(c.appIds).size > 1) {
    throw errors.usage(`${name} is used by several services (${c.services.join(', ')}); its keys are per app ID`, 'pick one with --service NAME');
  }
  return { c, appId: c.appIds[i] ?? c.services[i] ?? 'berth-cli', dir };
}

export async function stateGet(store: string, key: string, o: SpecOpts & { service?: string; json?: boolean }): Promise<void> {
  const { c, appId, dir } = await pick(o, store, 'state');
  const s = await openStateStore(spec(c), { appId, baseDir: dir });
  try {
    const item = await s.get(key);
    if (!item) throw errors.failed(`${store}: no key ${key} (app ID ${appId})`);
    const text = item.value.toString('utf8');
    let value: unknown = text;
    try {
      value = JSON.parse(text);
    } catch {
      // stored as text
    }
    if (o.json) process.stdout.write(JSON.stringify({ key, value, etag: item.etag, ...(item.expireTime ? { expireTime: item.expireTime.toISOString() } : {}) }, null, 2) + '\n');
    else process.stdout.write((typeof value === 'string' ? value : JSON.stringify(value, null, 2)) + '\n');
  } finally {
    await s.close();
  }
}

export async function stateSet(store: string, key: string, value: string, o: SpecOpts & { service?: string; json?: boolean; etag?: string; ttl?: string }): Promise<void> {
  const { c, appId, dir } = await pick(o, store, 'state');
  let ttl: number | undefined;
  if (o.ttl !== undefined) {
    ttl = Number(o.ttl);
    if (!Number.isInteger(ttl) || ttl < -1) throw errors.usage(`--ttl must be a whole number of seconds (or -1), got ${o.ttl}`);
  }
  // As the API stores it: the JSON text of the value; text that is not JSON is stored as a JSON string.
  let json: string;
  try {
    JSON.parse(value);
    json = value;
  } catch {
    json = JSON.stringify(value);
  }
  const s = await openStateStore(spec(c), { appId, baseDir: dir });
  try {
    await s.set({ key, value: Buffer.from(json), ...(o.etag ? { etag: o.etag } : {}), ...(ttl !== undefined ? { ttlInSeconds: ttl } : {}) });
    const item = await s.get(key);
    if (o.json) process.stdout.write(JSON.stringify({ key, etag: item?.etag ?? null }) + '\n');
    else process.stdout.write(`${store}: ${key} saved (etag ${item?.etag ?? '-'}, app ID ${appId})\n`);
  } catch (err) {
    if (err instanceof Error && /etag/i.test(err.message)) throw errors.failed(`${store}: ${err.message}`);
    throw err;
  } finally {
    await s.close();
  }
}

export async function publish(pubsubName: string, topic: string, data: string, o: SpecOpts & { json?: boolean; contentType?: string; raw?: boolean; ttl?: string }): Promise<void> {
  const { c, dir } = await pick(o, pubsubName, 'pubsub');
  let contentType = o.contentType;
  if (contentType === undefined) {
    try {
      JSON.parse(data);
      contentType = 'application/json';
    } catch {
      contentType = 'text/plain';
    }
  }
  const metadata: Record<string, string> = {};
  if (o.raw) metadata.rawPayload = 'true';
  if (o.ttl !== undefined) metadata.ttlInSeconds = o.ttl;
  const p = createPubSub(spec(c), { appId: 'berth-cli', stateDir: join(dir, '.berth') });
  try {
    const ev = buildPublishEvent({ data: Buffer.from(data), contentType, topic, pubsubName, source: 'berth-cli', metadata });
    await p.publish({ topic, data: ev.body, contentType: ev.contentType, metadata });
    const id = isJsonType(ev.contentType) && !o.raw ? (JSON.parse(ev.body.toString('utf8')) as { id?: string }).id : undefined;
    if (o.json) process.stdout.write(JSON.stringify({ pubsub: pubsubName, topic, ...(id ? { id } : {}) }) + '\n');
    else process.stdout.write(`published to ${pubsubName}/${topic}${id ? ` (event ${id})` : ''}\n`);
  } catch (err) {
    throw errors.failed(`publish to ${pubsubName}/${topic} failed: ${(err as Error).message}`);
  } finally {
    await p.close();
  }
}
