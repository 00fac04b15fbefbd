// `berth diff`: what `berth apply` would change, like kubectl diff — services added, removed and
// changed, each changed field old → new. Compared with the running control plane's desired state;
// while none runs, with the state it last applied (.berth/last-applied.json), and it says so.
// Exit 0: nothing would change; 1: something would; 2: usage or an invalid spec.
import { checkPolicies, formatSpecErrors, loadSpec, type AppSpec } from '../../contract/index.js';
import { compile, diffStates, type DesiredState, type FieldChange, type StateDiff } from '../../plan/index.js';
import { readJsonFile } from '../../lib/files.js';
import type { LastApplied } from '../../lib/state-dir.js';
import { controlClient, resolveContext, type Context } from '../context.js';
import { errors } from '../errors.js';
import { chooseEnv } from '../active-env.js';
import { bold, dim, green, red, useColor, yellow } from '../output.js';

export interface DiffFlags {
  file?: string;
  env?: string;
  json?: boolean;
}

/** Where the current state came from: the running control plane, the last applied file, or nothing. */
type Source = 'control-plane' | 'last-applied' | 'none';

interface Current {
  source: Source;
  desired?: DesiredState;
  generations: Record<string, number>;
  /** When the compared state was applied (last-applied only). */
  at?: string;
}

async function current(ctx: Context): Promise<Current> {
  const c = controlClient(ctx);
  if (c) {
    try {
      const [d, generations] = await Promise.all([c.get<{ desired: DesiredState | null }>('/api/v1/desired'), c.get<Record<string, number>>('/api/v1/restart-generations')]);
      return { source: 'control-plane', desired: d.desired ?? undefined, generations };
    } catch {
      // not answering: compared with the last applied state below, as when none runs
    }
  }
  const last = readJsonFile<LastApplied<DesiredState>>(ctx.layout.lastApplied);
  if (last && typeof last === 'object' && last.desired && Array.isArray(last.desired.services)) return { source: 'last-applied', desired: last.desired, generations: {}, at: last.at };
  return { source: 'none', generations: {} };
}

function secretEnv(spec: AppSpec): Record<string, string[]> {
  return Object.fromEntries(Object.entries(spec.services).map(([name, s]) => [name, (s.secrets ?? []).flatMap((u) => (u.env !== undefined ? [u.env] : []))]));
}

export async function diff(flags: DiffFlags): Promise<void> {
  const ctx = resolveContext(flags.file, true);
  // Compared as `berth apply` would apply it: with the app's active environment unless --env says otherwise.
  const o = { ...flags, env: chooseEnv(ctx, flags.env).env };
  const res = await loadSpec(ctx.specFile!, { env: o.env });
  if (!res.ok) throw errors.invalidSpec(formatSpecErrors(res.errors, { color: useColor(process.stderr) }));
  const cur = await current(ctx);
  const next = compile(res.spec, { dir: res.dir, specFile: res.file, env: o.env, restartGenerations: cur.generations });
  const d = diffStates(cur.desired, next, { secretEnv: secretEnv(res.spec), compareRevisions: cur.source === 'control-plane' });
  // `apply` would refuse a spec an enforced policy rejects: said here too, so the diff is not taken as a promise.
  const policy = checkPolicies({ spec: res.spec, file: res.file, dir: res.dir, env: o.env, locator: res.locator, baseLocator: res.baseLocator });
  const refused = policy.errors.length > 0 || policy.evaluation.blocked;
  if (o.json) {
    process.stdout.write(JSON.stringify({ app: res.spec.app, env: o.env ?? null, source: cur.source, ...(cur.at ? { appliedAt: cur.at } : {}), changed: d.changed, services: d.services, settings: d.settings, policyRefused: refused }) + '\n');
  } else {
    process.stderr.write(dim(sourceLine(cur, ctx), process.stderr) + '\n');
    print(d);
    if (refused) process.stderr.write(`${yellow('note', process.stderr)}: \`berth apply\` would refuse this spec (enforced policies); \`berth validate\` lists why\n`);
  }
  if (d.changed) process.exitCode = 1;
}

function sourceLine(cur: Current, ctx: Context): string {
  if (cur.source === 'control-plane') return `compared with the running control plane (${ctx.stateDir})`;
  if (cur.source === 'last-applied') return `no control plane is running: compared with the state last applied at ${cur.at ?? '?'} (${ctx.layout.lastApplied})`;
  return `nothing runs and nothing was applied here yet (${ctx.stateDir}): every service would be added`;
}

const MAX_VALUE = 120;
function show(v: unknown): string {
  if (v === undefined) return '(unset)';
  const s = typeof v === 'string' ? JSON.stringify(v) : JSON.stringify(v) ?? String(v);
  return s.length > MAX_VALUE ? `${s.slice(0, MAX_VALUE - 1)}…` : s;
}

function fieldLine(f: FieldChange): string {
  return `    ${f.path}: ${red(show(f.from))} → ${green(show(f.to))}`;
}

function print(d: StateDiff): void {
  const out: string[] = [];
  for (const s of d.services) {
    if (s.change === 'added') {
      out.push(`${green(`+ ${s.service}`)}  (new: ${s.fields.map((f) => `${f.path} ${show(f.to)}`).join(', ')})`);
    } else if (s.change === 'removed') {
      out.push(`${red(`- ${s.service}`)}  (removed: ${s.fields.map((f) => `${f.path} ${show(f.from)}`).join(', ')})`);
    } else {
      const rev = s.revision.from !== s.revision.to ? `  ${dim(`revision ${s.revision.from} → ${s.revision.to}`)}` : '';
      out.push(`${yellow(`~ ${s.service}`)}${rev}`);
      if (s.fields.length === 0) out.push('    (a new revision: the instance template changed in a way the fields above do not show)');
      for (const f of s.fields) out.push(fieldLine(f));
    }
  }
  if (d.settings.length) {
    out.push(`${yellow('~ app settings')}`);
    for (const f of d.settings) out.push(fieldLine(f));
  }
  if (!d.changed) {
    process.stdout.write(`${bold('no changes')}: \`berth apply\` would change nothing\n`);
    return;
  }
  const n = (k: string) => d.services.filter((s) => s.change === k).length;
  out.push(`${d.services.length} service${d.services.length === 1 ? '' : 's'} would change (${n('added')} added, ${n('changed')} changed, ${n('removed')} removed)${d.settings.length ? `; ${d.settings.length} app setting${d.settings.length === 1 ? '' : 's'}` : ''}`);
  process.stdout.write(out.join('\n') + '\n');
}
