// `berth deploy --target kubernetes`: render (exactly as `berth render`), then server-side apply
// to the cluster of the kubeconfig context, prune what is no longer rendered, and wait for the
// rollouts with progress on stderr. Loaded only when the command runs.
import { applyObjects, ApplyError, type ApplyReport } from '../../targets/kubernetes/index.js';
import { resolveContext } from '../context.js';
import { CliError, errors } from '../errors.js';
import { green } from '../output.js';
import { checkTargetFlags, loadForTarget, printWarnings, renderValidated } from './render.js';

export interface DeployFlags {
  file?: string;
  env?: string;
  target?: string;
  mesh?: string;
  gatewayClass?: string;
  context?: string;
  namespace?: string;
  createNamespace?: boolean;
  dryRun?: boolean;
  wait?: boolean;
  timeout?: string;
  json?: boolean;
}

export async function deploy(o: DeployFlags): Promise<void> {
  const mesh = checkTargetFlags(o);
  const timeoutS = Number(o.timeout ?? '300');
  if (!Number.isFinite(timeoutS) || timeoutS <= 0) throw errors.usage(`--timeout must be a positive number of seconds, not \`${o.timeout}\``);
  const ctx = resolveContext(o.file, true);
  const loaded = await loadForTarget(ctx.specFile!, o.env);
  const result = await renderValidated(loaded.spec, loaded.dir, o.env, mesh, o.gatewayClass);
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
      dryRun: o.dryRun,
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
  const verb = report.dryRun ? 'would apply' : 'applied';
  process.stdout.write(
    `${green('ok', process.stdout)}: ${verb} ${report.applied.length} objects to namespace ${report.namespace} (context ${report.context})` +
      `${report.pruned.length ? `, ${report.dryRun ? 'would prune' : 'pruned'} ${report.pruned.length}` : ''}` +
      `${report.rollouts.length ? `; ${report.rollouts.length} rollouts complete` : ''}\n`,
  );
}
