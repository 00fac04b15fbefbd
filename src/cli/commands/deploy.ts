// `berth deploy --target kubernetes`: render (exactly as `berth render`), then server-side apply
// to the cluster of the kubeconfig context, prune what is no longer rendered, and wait for the
// rollouts with progress on stderr. `--dry-run[=server]` lets the API server check everything and
// change nothing; `--diff` shows what would change. An unreachable cluster is one line naming the
// kubeconfig, context and server, exit 1. Loaded only when the command runs.
import { applyObjects, ApplyError, type ApplyReport } from '../../targets/kubernetes/index.js';
import { resolveContext } from '../context.js';
import { CliError, errors } from '../errors.js';
import { green } from '../output.js';
import { checkTargetFlags, loadForTarget, printWarnings, renderValidated, setPairs } from './render.js';

export interface DeployFlags {
  file?: string;
  env?: string;
  target?: string;
  mesh?: string;
  gatewayClass?: string;
  context?: string;
  namespace?: string;
  createNamespace?: boolean;
  /** `true` (bare --dry-run) or `server`. */
  dryRun?: boolean | string;
  diff?: boolean;
  set?: string[];
  probeProfile?: string;
  secrets?: string;
  wait?: boolean;
  timeout?: string;
  json?: boolean;
}

export async function deploy(o: DeployFlags): Promise<void> {
  const mesh = checkTargetFlags(o);
  const timeoutS = Number(o.timeout ?? '300');
  if (!Number.isFinite(timeoutS) || timeoutS <= 0) throw errors.usage(`--timeout must be a positive number of seconds, not \`${o.timeout}\``);
  if (o.dryRun !== undefined && o.dryRun !== true && o.dryRun !== 'server') {
    throw errors.usage(`--dry-run=${String(o.dryRun)} is not supported`, 'use --dry-run=server (the API server checks everything, nothing is changed); `berth render` is the client-side check');
  }
  const ctx = resolveContext(o.file, true);
  const loaded = await loadForTarget(ctx.specFile!, o.env);
  const result = await renderValidated(loaded.spec, loaded.dir, o.env, mesh, setPairs(o));
  printWarnings(result.warnings);
  let report: ApplyReport;
  try {
    report = await applyObjects({
      app: result.app,
      objects: result.objects,
      rolloutOrder: result.services,
      context: o.context,
      namespace: o.namespace,
      createNamespace: o.createNamespace,
      dryRun: o.dryRun !== undefined,
      diff: o.diff,
      wait: o.wait !== false,
      timeoutMs: timeoutS * 1000,
      pollMs: Number(process.env.BERTH_ROLLOUT_POLL_MS ?? '1000'),
      progress: (line) => process.stderr.write(`${line}\n`),
    });
  } catch (err) {
    if (err instanceof ApplyError) throw new CliError('BERTH_E_DEPLOY', err.message, 1, err.hint);
    throw err;
  }
  if (o.json) {
    process.stdout.write(JSON.stringify({ app: result.app, env: result.env ?? null, ...report, warnings: result.warnings }) + '\n');
    return;
  }
  if (report.diffs) {
    for (const d of report.diffs) {
      process.stdout.write(`${d.change === 'created' ? '+++' : d.change === 'pruned' ? '---' : '~~~'} ${d.object} (${d.change === 'created' ? 'new' : d.change === 'pruned' ? 'would be pruned' : 'changed'})\n`);
      for (const line of d.lines) process.stdout.write(`${line}\n`);
    }
    process.stdout.write(`${green('ok', process.stdout)}: ${report.diffs.length ? `${report.diffs.length} objects would change` : 'no changes'} in namespace ${report.namespace} (context ${report.context}); nothing was applied\n`);
    return;
  }
  const verb = report.dryRun ? 'would apply' : 'applied';
  process.stdout.write(
    `${green('ok', process.stdout)}: ${verb} ${report.applied.length} objects to namespace ${report.namespace} (context ${report.context})` +
      `${report.pruned.length ? `, ${report.dryRun ? 'would prune' : 'pruned'} ${report.pruned.length}` : ''}` +
      `${report.rollouts.length ? `; ${report.rollouts.length} rollouts complete` : ''}\n`,
  );
}
