// Reading a spec's building-block components: inline `components:` and Dapr's Component and
// Subscription files from `componentsPath`, normalized into one typed list each. Problems in the
// spec come back as Problems (located by the loader); problems in a component file come back as
// SpecErrors located in that file.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, isAbsolute, join, resolve } from 'node:path';
import { LineCounter, parseAllDocuments } from 'yaml';
import type { z } from 'zod';
import type { AppSpec } from './schema.js';
import {
  COMPONENT_TYPES,
  ComponentFile,
  SubscriptionV1File,
  SubscriptionV2File,
  type MetadataItemSpec,
} from './schema-components.js';
import { YamlLocator, type ParsedYaml, type PathSeg } from './positions.js';
import type { Problem } from './problem.js';
import { issueToProblems } from './issues.js';
import { isPlainObject } from './shape.js';
import { didYouMean, joinPath, listOr, type SpecError } from './errors.js';
import { readSecret } from './secrets.js';
import type { ComponentDecl, DeclaredAt, SubscriptionDecl } from '../lib/dapr-config.js';

export type { ComponentDecl, DeclaredAt, SubscriptionDecl };

export interface ComponentResources {
  components: ComponentDecl[];
  subscriptions: SubscriptionDecl[];
  /** Problems in the spec's own fields (componentsPath, components, scopes), by spec path. */
  problems: Problem[];
  /** Problems inside component files, located there. */
  errors: SpecError[];
  warnings: SpecError[];
  /** The folder read, when there was one. */
  folder?: string;
}

const SUPPORTED = new Set<string>(COMPONENT_TYPES);
const YAML_EXTENSIONS = new Set(['.yaml', '.yml']);

/** The folder of component files: `componentsPath`, or ./components beside the spec when it exists. */
export function componentsFolder(spec: Pick<AppSpec, 'componentsPath'>, dir: string): { path: string; explicit: boolean } | undefined {
  if (spec.componentsPath !== undefined) {
    return { path: isAbsolute(spec.componentsPath) ? spec.componentsPath : resolve(dir, spec.componentsPath), explicit: true };
  }
  const def = join(dir, 'components');
  return existsSync(def) && statSync(def).isDirectory() ? { path: def, explicit: false } : undefined;
}

/**
 * `secrets`: the spec's declared secrets, when references resolve against them (no `auth.secretStore`);
 * undefined when a secret store component resolves them at run time.
 */
function metadataFromList(items: MetadataItemSpec[], at: readonly PathSeg[], problems: Problem[], secrets: ReadonlySet<string> | undefined): Pick<ComponentDecl, 'metadata' | 'secretKeyRefs'> {
  const metadata: Record<string, string> = {};
  const secretKeyRefs: ComponentDecl['secretKeyRefs'] = {};
  const seen = new Set<string>();
  items.forEach((m, i) => {
    if (seen.has(m.name)) problems.push({ path: [...at, i, 'name'], message: `metadata \`${m.name}\` is given twice` });
    seen.add(m.name);
    if (m.secretKeyRef) {
      secretKeyRefs[m.name] = { name: m.secretKeyRef.name, key: m.secretKeyRef.key ?? m.secretKeyRef.name };
      if (secrets && !secrets.has(m.secretKeyRef.name)) {
        const close = didYouMean(m.secretKeyRef.name, secrets);
        problems.push({
          path: [...at, i, 'secretKeyRef', 'name'],
          message: `secretKeyRef names secret \`${m.secretKeyRef.name}\`, which is not declared under the spec's \`secrets:\``,
          hint: close ? `did you mean \`${close}\`?` : `declare it (secrets: { ${m.secretKeyRef.name}: { env: … } }), or name a secret store in auth.secretStore`,
        });
      }
    }
    else if (m.envRef !== undefined) {
      const v = process.env[m.envRef];
      if (v === undefined) problems.push({ path: [...at, i, 'envRef'], message: `environment variable ${m.envRef} is not set` });
      else metadata[m.name] = v;
    } else metadata[m.name] = m.value ?? '';
  });
  return { metadata, secretKeyRefs };
}

function typeProblem(type: string, path: PathSeg[]): Problem | undefined {
  if (SUPPORTED.has(type)) return undefined;
  const close = didYouMean(type, COMPONENT_TYPES);
  return {
    path,
    message: `component type \`${type}\` is not supported by Berth`,
    hint: close !== undefined && close !== type ? `did you mean \`${close}\`?` : `supported types: ${listOr([...COMPONENT_TYPES])}`,
  };
}

function declaredSecrets(spec: AppSpec): Set<string> {
  return new Set(Object.keys(spec.secrets ?? {}));
}

/** Inline `components:` of a validated spec. */
function inlineComponents(spec: AppSpec, problems: Problem[]): ComponentDecl[] {
  const out: ComponentDecl[] = [];
  for (const [name, c] of Object.entries(spec.components ?? {})) {
    const path = ['components', name];
    const tp = typeProblem(c.type, [...path, 'type']);
    if (tp) problems.push(tp);
    const md = Array.isArray(c.metadata) ? metadataFromList(c.metadata, [...path, 'metadata'], problems, c.auth ? undefined : declaredSecrets(spec)) : { metadata: { ...c.metadata }, secretKeyRefs: {} };
    out.push({
      name,
      type: c.type,
      version: c.version,
      ...md,
      scopes: [...c.scopes],
      ...(c.auth ? { secretStore: c.auth.secretStore } : {}),
      ignoreErrors: c.ignoreErrors,
      ...(c.initTimeout !== undefined ? { initTimeout: c.initTimeout } : {}),
    });
  }
  return out;
}

interface FileDoc {
  file: string;
  parsed: ParsedYaml;
  value: unknown;
}

/**
 * `explicit`: the folder was named by componentsPath. In the implicit ./components, a YAML file
 * that does not parse and does not mention dapr.io is someone else's: a warning, not an error.
 */
function readFolder(folder: string, explicit: boolean, errors: SpecError[], warnings: SpecError[]): FileDoc[] {
  let names: string[];
  try {
    names = readdirSync(folder).filter((n) => YAML_EXTENSIONS.has(extname(n))).sort();
  } catch (e) {
    errors.push({ file: folder, line: 0, col: 0, path: '', message: `cannot read the components folder: ${e instanceof Error ? e.message : String(e)}` });
    return [];
  }
  const out: FileDoc[] = [];
  for (const n of names) {
    const file = join(folder, n);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      errors.push({ file, line: 0, col: 0, path: '', message: `cannot read the file: ${e instanceof Error ? e.message : String(e)}` });
      continue;
    }
    const lineCounter = new LineCounter();
    const docs = parseAllDocuments(text, { lineCounter, prettyErrors: false });
    if (!Array.isArray(docs)) continue; // an empty stream
    for (const doc of docs) {
      const docErrors = doc.errors.map((e) => {
        const p = lineCounter.linePos(e.pos[0]);
        return { file, line: p.line, col: p.col, path: '', message: `YAML syntax error: ${e.message.split('\n')[0]}` };
      });
      if (docErrors.length > 0) {
        if (explicit || text.includes('dapr.io/')) errors.push(...docErrors);
        else warnings.push(...docErrors.map((e) => ({ ...e, message: `${e.message} (not read as a Dapr resource)` })));
        continue;
      }
      if (doc.contents === null) continue;
      out.push({ file, parsed: { doc, lineCounter, errors: [], warnings: [] }, value: doc.toJS({ maxAliasCount: 100 }) });
    }
  }
  return out;
}

function located(d: FileDoc, p: Problem): SpecError {
  const pos = new YamlLocator(d.parsed).locate(p.path, p.mode ?? 'value');
  return { file: d.file, line: pos.line, col: pos.col, path: joinPath(p.path), message: p.message, ...(p.hint !== undefined ? { hint: p.hint } : {}) };
}

function parseDoc<S extends z.ZodType>(schema: S, d: FileDoc, errors: SpecError[]): z.output<S> | undefined {
  const r = schema.safeParse(d.value);
  if (r.success) return r.data;
  for (const issue of r.error.issues) for (const p of issueToProblems(issue, { data: d.value, schema })) errors.push(located(d, p));
  return undefined;
}

/** Reads inline components and the component folder; never throws for user input. */
export function readComponentResources(spec: AppSpec, dir: string): ComponentResources {
  const problems: Problem[] = [];
  const errors: SpecError[] = [];
  const warnings: SpecError[] = [];
  const components = inlineComponents(spec, problems);
  const subscriptions: SubscriptionDecl[] = [];
  const folder = componentsFolder(spec, dir);
  if (folder?.explicit && !(existsSync(folder.path) && statSync(folder.path).isDirectory())) {
    problems.push({ path: ['componentsPath'], message: `the components folder ${folder.path} does not exist`, hint: 'create it, or remove componentsPath to use ./components when present' });
    return { components, subscriptions, problems, errors, warnings };
  }
  const byName = new Map(components.map((c) => [c.name, undefined as DeclaredAt | undefined]));
  const appIds = Object.entries(spec.services).map(([name, svc]) => svc.dapr?.appId ?? name);
  const subNames = new Set<string>();
  for (const d of folder ? readFolder(folder.path, folder.explicit, errors, warnings) : []) {
    const at = (path: PathSeg[]): DeclaredAt => {
      const pos = new YamlLocator(d.parsed).locate(path);
      return { file: d.file, line: pos.line, col: pos.col };
    };
    const checkScopes = (scopes: readonly string[]) =>
      scopes.forEach((s, i) => {
        if (appIds.includes(s)) return;
        const close = didYouMean(s, appIds);
        warnings.push({ ...at(['scopes', i]), path: `scopes.${i}`, message: `scope \`${s}\` is not the app ID of any service`, ...(close ? { hint: `did you mean \`${close}\`?` } : {}) });
      });
    const v = d.value;
    const apiVersion = isPlainObject(v) ? v.apiVersion : undefined;
    const kind = isPlainObject(v) ? v.kind : undefined;
    if (typeof apiVersion !== 'string' || !apiVersion.startsWith('dapr.io/')) {
      warnings.push({ ...at(isPlainObject(v) && 'apiVersion' in v ? ['apiVersion'] : []), path: 'apiVersion', message: 'not a Dapr resource (apiVersion dapr.io/…): ignored' });
      continue;
    }
    if (kind === 'Component') {
      const c = parseDoc(ComponentFile, d, errors);
      if (!c) continue;
      const name = c.metadata.name;
      if (byName.has(name)) {
        const prev = byName.get(name);
        errors.push({ ...at(['metadata', 'name']), path: 'metadata.name', message: `component \`${name}\` is declared twice`, hint: prev ? `also in ${prev.file}:${prev.line}:${prev.col}` : 'also under `components:` in the spec' });
        continue;
      }
      const tp = typeProblem(c.spec.type, ['spec', 'type']);
      if (tp) {
        errors.push(located(d, tp));
        continue;
      }
      const mdProblems: Problem[] = [];
      const md = metadataFromList(c.spec.metadata, ['spec', 'metadata'], mdProblems, c.auth ? undefined : declaredSecrets(spec));
      errors.push(...mdProblems.map((p) => located(d, p)));
      const declaredAt = at([]);
      byName.set(name, declaredAt);
      checkScopes(c.scopes);
      components.push({
        name,
        type: c.spec.type,
        version: c.spec.version,
        ...md,
        scopes: [...c.scopes],
        ...(c.auth ? { secretStore: c.auth.secretStore } : {}),
        ignoreErrors: c.spec.ignoreErrors,
        ...(c.spec.initTimeout !== undefined ? { initTimeout: c.spec.initTimeout } : {}),
        declaredAt,
      });
    } else if (kind === 'Subscription') {
      const s = apiVersion === 'dapr.io/v1alpha1' ? parseDoc(SubscriptionV1File, d, errors) : parseDoc(SubscriptionV2File, d, errors);
      if (!s) continue;
      if (subNames.has(s.metadata.name)) {
        errors.push({ ...at(['metadata', 'name']), path: 'metadata.name', message: `subscription \`${s.metadata.name}\` is declared twice` });
        continue;
      }
      subNames.add(s.metadata.name);
      checkScopes(s.scopes);
      const routes = 'routes' in s.spec ? { rules: s.spec.routes.rules.map((r) => ({ ...r })), ...(s.spec.routes.default !== undefined ? { default: s.spec.routes.default } : {}) } : { rules: [], default: s.spec.route };
      if (routes.rules.length === 0 && routes.default === undefined) {
        errors.push({ ...at(['spec', 'routes']), path: 'spec.routes', message: 'a subscription needs routes.default or at least one rule' });
        continue;
      }
      subscriptions.push({
        name: s.metadata.name,
        pubsubname: s.spec.pubsubname,
        topic: s.spec.topic,
        routes,
        ...(s.spec.deadLetterTopic !== undefined ? { deadLetterTopic: s.spec.deadLetterTopic } : {}),
        ...(s.spec.bulkSubscribe ? { bulkSubscribe: { ...s.spec.bulkSubscribe } } : {}),
        metadata: { ...s.spec.metadata },
        scopes: [...s.scopes],
        declaredAt: at([]),
      });
    } else {
      warnings.push({ ...at(['kind']), path: 'kind', message: `Dapr resource of kind \`${String(kind)}\` is not used by Berth: ignored` });
    }
  }
  // auth.secretStore must name a secret store component.
  const stores = components.filter((c) => c.type.startsWith('secretstores.')).map((c) => c.name);
  for (const c of components) {
    if (c.secretStore === undefined || stores.includes(c.secretStore)) continue;
    const close = didYouMean(c.secretStore, stores);
    const message = `component \`${c.name}\` takes its secrets from \`${c.secretStore}\`, which is not a declared secret store`;
    const hint = close ? `did you mean \`${close}\`?` : 'declare a secretstores.local.env or secretstores.local.file component of that name';
    if (c.declaredAt) errors.push({ ...c.declaredAt, path: 'auth.secretStore', message, hint });
    else problems.push({ path: ['components', c.name, 'auth', 'secretStore'], message, hint });
  }
  // Subscriptions must name a pub/sub component that exists.
  const pubsubs = components.filter((c) => c.type.startsWith('pubsub.')).map((c) => c.name);
  for (const s of subscriptions) {
    if (s.pubsubname !== 'pubsub' && !pubsubs.includes(s.pubsubname)) {
      const close = didYouMean(s.pubsubname, pubsubs);
      errors.push({ ...s.declaredAt, path: 'spec.pubsubname', message: `subscription \`${s.name}\` names pub/sub \`${s.pubsubname}\`, which is not declared`, hint: close ? `did you mean \`${close}\`?` : pubsubs.length ? `declared pub/sub components: ${listOr(pubsubs)}` : 'declare a pubsub.* component, or use the default `pubsub`' });
    }
  }
  return { components, subscriptions, problems, errors, warnings, ...(folder ? { folder: folder.path } : {}) };
}

/**
 * The component with its secretKeyRefs resolved against the spec's `secrets:` (locally, without
 * `auth.secretStore`, that is where Dapr's secret references point). References to a secret store
 * component, and secrets that cannot be read now, stay in secretKeyRefs for the runtime.
 */
export function resolveSpecSecrets(c: ComponentDecl, spec: Pick<AppSpec, 'secrets'>, dir: string): ComponentDecl {
  if (c.secretStore !== undefined || Object.keys(c.secretKeyRefs).length === 0) return c;
  const metadata = { ...c.metadata };
  const secretKeyRefs: ComponentDecl['secretKeyRefs'] = {};
  for (const [field, ref] of Object.entries(c.secretKeyRefs)) {
    const src = spec.secrets?.[ref.name];
    try {
      if (!src) throw new Error('undeclared');
      metadata[field] = readSecret(ref.name, src, dir);
    } catch {
      secretKeyRefs[field] = ref;
    }
  }
  return { ...c, metadata, secretKeyRefs };
}
