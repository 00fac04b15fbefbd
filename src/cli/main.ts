// The `berth` command line. Each command's module is imported only when that command runs, so
// quick commands (`berth ps --json`) stay quick.
import { Command, CommanderError, Option } from 'commander';
import { CliError } from './errors.js';
import { red, yellow } from './output.js';

const program = new Command();
program
  .name('berth')
  .description('Declare an application once; run it locally with the full platform behaviour.')
  .version('0.1.0')
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride()
  .option('--app <NAME>', 'work on the running app NAME (see `berth ls`) from any directory, instead of the spec here or above')
  .configureHelp({ showGlobalOptions: true })
  .hook('preAction', async () => {
    const app = (program.opts() as { app?: string }).app;
    if (app !== undefined) (await import('./context.js')).selectApp(app);
  });

const fileOpt = () => new Option('-f, --file <FILE>', 'spec file (default: ./berth.yaml or ./berth.config.ts)');
/** For commands where -f means --follow (logs, events), the spec file is --file only. */
const fileLongOpt = () => new Option('--file <FILE>', 'spec file (default: ./berth.yaml or ./berth.config.ts)');
const envOpt = () => new Option('--env <ENV>', 'environment overlay from `environments:` in the spec');
const collect = (value: string, prev: string[] = []) => [...prev, value];
const DEFAULT_HEADERS = 'content-type, location';
/** Kubernetes render options (see docs/kubernetes.md): --set, and shorthands for the common ones. */
const k8sOpts = (cmd: Command) =>
  cmd
    .option('--set <KEY=VALUE>', 'render option, repeatable (namespace, registry, gatewayClass, storageClass, prometheusUrl, probeProfile, secrets, …); wins over the spec\'s kubernetes: block', collect)
    .addOption(new Option('--probe-profile <P>', 'cluster: whole-second probes with the same failure budget (default); local: each value rounded up').choices(['cluster', 'local']))
    .addOption(new Option('--secrets <MODE>', 'secrets as Secret objects (kubernetes, default) or ExternalSecret references (external-secrets)').choices(['kubernetes', 'external-secrets']));

program
  .command('init')
  .description('create a starter berth.yaml and a tiny service in DIR (default: .)')
  .argument('[dir]', 'target directory', '.')
  .option('--force', 'overwrite existing files')
  .action(async (dir: string, o) => (await import('./commands/init.js')).init(dir, o));

program
  .command('validate')
  .description('check the spec; every problem at once, with file:line:col (exit 2 when invalid)')
  .addOption(fileOpt())
  .addOption(envOpt())
  .option('--json', 'machine-readable output')
  .action(async (o) => (await import('./commands/validate.js')).validate(o));

program
  .command('config')
  .description('print the effective spec: the environment overlay applied and every default filled in (as docker compose config); YAML unless --json')
  .addOption(fileOpt())
  .addOption(envOpt())
  .option('--json', 'as JSON')
  .option('--yaml', 'as YAML (the default)')
  .action(async (o) => (await import('./commands/config.js')).config(o));

program
  .command('schema')
  .description('print the JSON Schema of the spec')
  .action(async () => (await import('./commands/validate.js')).schema());

program
  .command('up')
  .description('start the control plane and node agent if needed, apply the spec, and show live status')
  .addOption(fileOpt())
  .addOption(envOpt())
  .option('-d, --detach', 'return once the spec is applied (the platform keeps running in the background)')
  .option('--wait', 'wait until every instance is ready and reachable (exit 1 on timeout)')
  .option('--timeout <S>', 'seconds to wait with --wait', '120')
  .option('--json', 'with -d: print the status as JSON')
  .option('--restore-backup', "replace a damaged .berth/state.db by the control plane's last good copy (state.db.backup) before starting")
  .action(async (o) => (await import('./commands/up.js')).up(o));

program
  .command('apply')
  .description('apply a changed spec to the running application (rolling replacement)')
  .addOption(fileOpt())
  .addOption(envOpt())
  .option('--wait', 'wait until the rollout is complete')
  .option('--timeout <S>', 'seconds to wait with --wait', '120')
  .option('--json', 'machine-readable output')
  .action(async (o) => (await import('./commands/up.js')).apply(o));

program
  .command('history')
  .description("list a service's revisions: number, revision hash, status, why (applied, promoted, aborted, undone) and when")
  .argument('<service>', 'service name (a variant: service.variant)')
  .addOption(fileOpt())
  .option('--json', 'one JSON object: { service, revisions: [...] }, oldest first')
  .action(async (service: string, o) => (await import('./commands/history.js')).history(service, o));

program
  .command('diff')
  .description('show what `berth apply` would change (services added/removed, fields old → new); exit 0 when nothing, 1 when something would change')
  .addOption(fileOpt())
  .addOption(envOpt())
  .option('--json', 'machine-readable output')
  .action(async (o) => (await import('./commands/diff.js')).diff(o));

program
  .command('policy')
  .description('policies: `berth policy report` lists each rule\'s result per service')
  .command('report')
  .description('every policy rule\'s result per service: pass, fail (enforced, violated), warn (audited, violated), skip (exit 1 when any fails)')
  .addOption(fileOpt())
  .addOption(envOpt())
  .option('--json', 'machine-readable output')
  .action(async (o) => (await import('./commands/policy.js')).report(o));

program
  .command('ls')
  .description('list the Berth apps running on this machine: name, spec, environment, services, ready/total')
  .option('--json', 'one JSON array of apps: {name, spec, environment, stateDir, pid, services: [{name, ready, replicas}], ready, total}')
  .action(async (o) => (await import('./commands/ls.js')).ls(o));

program
  .command('ps')
  .description('list instances (of the named services only, when given)')
  .argument('[services...]', 'only these services (and their variants)')
  .addOption(fileOpt())
  .option('--json', 'one JSON array of instances')
  .option('-a, --all', 'include stopped instances')
  .action(async (services: string[], o) => (await import('./commands/ps.js')).ps(services, o));

program
  .command('logs')
  .description("show a service's logs, instances merged in time order")
  .argument('[service]', 'service name (default: all services)')
  .addOption(fileLongOpt())
  .option('-f, --follow', 'keep printing new lines')
  .option('--since <TIME>', 'only lines newer than this (a duration ago like 30s, 5m, 2h, or an RFC 3339 time)')
  .option('--tail <N>', 'only the last N lines')
  .option('--instance <ID>', 'only this instance')
  .option('--container <NAME>', 'process of the instance: app (default) or a sidecar name', 'app')
  .option('--json', 'one JSON record per line (NDJSON); no row limit with --since/--until')
  .option('--grep <TEXT>', 'only records containing TEXT (full-text search in the embedded store)')
  .option('--level <LEVEL>', 'only records at LEVEL or above: trace, debug, info, warn, error, fatal')
  .option('--until <TIME>', 'only lines older than this (a duration ago, or an RFC 3339 time)')
  .option('--files', 'read the capture files even when the control plane runs')
  .action(async (service: string | undefined, o) => (await import('./commands/logs.js')).logs(service, o));

program
  .command('sidecar')
  .description('manage platform sidecars')
  .command('restart')
  .description('restart only the named sidecar (e.g. logs) of every instance; apps and revisions stay as they are')
  .argument('<name>', 'sidecar name, e.g. logs')
  .addOption(fileOpt())
  .option('--service <S>', 'only the instances of this service')
  .option('--json', 'machine-readable output')
  .action(async (name: string, o) => (await import('./commands/sidecar.js')).restart(name, o));

program
  .command('top')
  .description('live requests/s, p50/p99 latency and error % per service and variant, from the mesh proxies')
  .addOption(fileOpt())
  .option('--json', 'two reads one interval apart, printed as JSON; then exit')
  .option('--interval <seconds>', 'seconds between reads', '1')
  .action(async (o) => (await import('./commands/top.js')).top(o));

program
  .command('stats')
  .description('live CPU % and memory of every running instance and each of its sidecars (as docker stats)')
  .addOption(fileOpt())
  .option('--json', 'one reading as JSON (an array of {service, instance, node, process, pid, cpuPercent, memoryMiB}); then exit')
  .option('--no-stream', 'print one reading and exit (also when the output is not a terminal)')
  .option('--interval <seconds>', 'seconds between readings on a terminal', '1')
  .action(async (o) => (await import('./commands/stats.js')).stats(o));

program
  .command('events')
  .description('show what the platform did and why')
  .addOption(fileLongOpt())
  .option('-f, --follow', 'keep printing new events')
  .option('--service <S>', 'only events of this service (its instances and variants too); repeatable', collect)
  .option('--type <T>', 'only events of this type (Normal, Warning) or reason (BackOff, Killing, …); repeatable', collect)
  .option('--since <WHEN>', 'only events since a duration ago (90s, 10m, 2h, 1d) or a date (2026-12-05T08:00:00Z)')
  .option('--json', 'JSON (an array; NDJSON with --follow)')
  .action(async (o) => (await import('./commands/events.js')).events(o));

program
  .command('scale')
  .description('set the number of instances: berth scale web=3 [orders=2 …]')
  .argument('<assignments...>', 'SERVICE=N pairs')
  .addOption(fileOpt())
  .option('--json', 'machine-readable output')
  .action(async (a: string[], o) => (await import('./commands/control.js')).scale(a, o));

program
  .command('stop')
  .description('stop services (0 instances) until `berth start`; kept across `berth up` and restarts')
  .argument('<services...>', 'service names')
  .addOption(fileOpt())
  .option('--json', 'machine-readable output')
  .action(async (s: string[], o) => (await import('./commands/control.js')).stopStart('stop', s, o));

program
  .command('start')
  .description('start services stopped by `berth stop` again, at the instance count they had')
  .argument('<services...>', 'service names')
  .addOption(fileOpt())
  .option('--json', 'machine-readable output')
  .action(async (s: string[], o) => (await import('./commands/control.js')).stopStart('start', s, o));

program
  .command('restart')
  .description("rolling restart of a service's instances")
  .argument('<service>')
  .addOption(fileOpt())
  .option('--json', 'machine-readable output')
  .action(async (s: string, o) => (await import('./commands/control.js')).restart(s, o));

program
  .command('exec')
  .description("run a command with an instance's environment: berth exec web -- env")
  .argument('<service>')
  .argument('<command...>')
  .addOption(fileOpt())
  .option('--instance <ID>', 'which instance (default: a ready one)')
  .action(async (s: string, cmd: string[], o) => (await import('./commands/control.js')).exec(s, cmd, o));

const node = program.command('node').description('the simulated nodes: list, cordon, uncordon, drain, kill, add');
node
  .command('ls')
  .description('list nodes with status, instances and resource use')
  .addOption(fileOpt())
  .option('--json', 'one JSON array of nodes')
  .action(async (o) => (await import('./commands/node.js')).ls(o));
for (const [verb, what] of [
  ['cordon', 'mark NODE unschedulable (its instances keep running)'],
  ['uncordon', 'make NODE schedulable again'],
  ['drain', 'cordon NODE and move its instances away: replacements ready elsewhere before the old ones stop'],
  ['kill', 'SIGKILL the node agent and all its instances (chaos); they are replaced after the grace period'],
] as const) {
  const cmd = node
    .command(verb)
    .description(what)
    .argument('<NODE>', 'node name, as in `berth node ls` and `berth ps --json`')
    .addOption(fileOpt())
    .option('--json', 'machine-readable output');
  if (verb === 'drain') cmd.option('--timeout <S>', 'seconds to wait for the node to empty', '120');
  cmd.action(async (name: string, o) => (await import('./commands/node.js')).action(verb, name, o));
}
node
  .command('add')
  .description('add a node (its agent starts now)')
  .addOption(fileOpt())
  .option('--name <NAME>', 'node name (default: the next node-N)')
  .option('--cpu-millis <N>', 'CPU capacity in millicores')
  .option('--memory-mib <N>', 'memory capacity in MiB')
  .option('--label <KEY=VALUE...>', 'node labels')
  .option('--json', 'machine-readable output')
  .action(async (o) => (await import('./commands/node.js')).add(o));

program
  .command('down')
  .description('stop every instance, node agent and the control plane; returns when no process is left')
  .addOption(fileOpt())
  .option('--timeout <S>', 'seconds before remaining processes are killed', '60')
  .option('--force', 'also move a damaged state database aside (.berth/state.db.damaged-…), so the next `berth up` starts afresh')
  .action(async (o) => (await import('./commands/down.js')).down(o));

k8sOpts(program
  .command('render'))
  .description('compile the spec to Kubernetes manifests: a YAML stream on stdout, or a Kustomize/GitOps layout with --out')
  .option('--target <TARGET>', 'what to render for (only kubernetes)', 'kubernetes')
  .addOption(fileOpt())
  .addOption(envOpt())
  .addOption(new Option('--mesh <MESH>', 'traffic rules as Istio or Gateway API resources').choices(['istio', 'gateway-api']).default('istio'))
  .option('--out <DIR>', 'write base/, overlays/<env>/, images/ and gitops/ to DIR instead of printing')
  .option('--gateway-class <NAME>', 'GatewayClass of the ingress Gateway (default: istio; same as --set gatewayClass=NAME)')
  .option('--repo-url <URL>', 'with --out: the git repository the GitOps objects point at')
  .option('--json', 'machine-readable output (the objects, images and warnings)')
  .action(async (o) => (await import('./commands/render.js')).render(o));

program
  .command('build')
  .description('build the image of each service without `image:` (the tag `berth render` names) with docker, podman or buildah')
  .argument('[services...]', 'services to build (default: all)')
  .addOption(fileOpt())
  .option('--push', 'push each image after building it (needs a registry)')
  .option('--registry <R>', 'registry prefix, e.g. registry.example.com/team (same as --set registry=R)')
  .addOption(new Option('--builder <B>', 'use this builder instead of the first found').choices(['docker', 'podman', 'buildah']))
  .option('--set <KEY=VALUE>', 'render option, repeatable', collect)
  .option('--json', 'machine-readable output (builder, images)')
  .action(async (services: string[], o) => (await import('./commands/build.js')).build(services, o));

k8sOpts(program
  .command('deploy'))
  .description('render for Kubernetes and apply to a cluster (server-side apply), prune what is gone, wait for rollouts')
  .option('--target <TARGET>', 'where to deploy (only kubernetes)', 'kubernetes')
  .addOption(fileOpt())
  .addOption(envOpt())
  .addOption(new Option('--mesh <MESH>', 'traffic rules as Istio or Gateway API resources').choices(['istio', 'gateway-api']).default('istio'))
  .option('--gateway-class <NAME>', 'GatewayClass of the ingress Gateway (default: istio; same as --set gatewayClass=NAME)')
  .option('--context <C>', 'kubeconfig context (default: the current one)')
  .option('--namespace <N>', "namespace (default: the context's, else default)")
  .option('--create-namespace', 'create the namespace if it does not exist (server-side apply of a Namespace)')
  .option('--dry-run [MODE]', 'server: server-side dry run, the API server checks everything and nothing is changed (the only mode; bare --dry-run means server)')
  .option('--diff', 'show what would change on the cluster (a server-side apply dry run compared with the live objects); changes nothing')
  .option('--no-wait', 'do not wait for the rollouts')
  .option('--timeout <S>', 'seconds to wait for the rollouts', '300')
  .option('--json', 'machine-readable report (applied, pruned, rollouts, warnings)')
  .action(async (o) => (await import('./commands/deploy.js')).deploy(o));

const record = program.command('record').description('record live traffic of a service (its inbound sidecars and the gateway) into HAR 1.2 files for `berth replay`');
record
  .command('start')
  .description('start recording SERVICE (until `berth record stop` or --duration)')
  .argument('<SERVICE>', 'the service to record')
  .addOption(fileOpt())
  .option('--duration <TIME>', 'stop by itself after this long (e.g. 10m)')
  .option('--sample <FRACTION>', 'fraction of requests recorded, in (0, 1]', '1')
  .option('--match <match>', 'record only matching requests: "[METHOD] /path-prefix", "~REGEX", or a route match {path: {prefix: /api}}; repeatable (any matches)', collect)
  .option('--redact-header <NAME>', 'also redact this header (authorization, cookie, set-cookie, proxy-authorization always are); repeatable', collect)
  .option('--max-body-bytes <N>', 'bodies are cut (and marked) beyond this size', '1048576')
  .option('--out <FILE.har>', 'when the recording ends, write all of it into this one HAR file')
  .option('--json', 'the recording as one JSON object')
  .action(async (s: string, o) => (await import('./commands/record.js')).recordStart(s, o));
record
  .command('stop')
  .description("stop recording SERVICE; returns once the proxies closed their files (and --out of start is written)")
  .argument('<SERVICE>', 'the recorded service')
  .addOption(fileOpt())
  .option('--json', 'the recording as one JSON object')
  .action(async (s: string, o) => (await import('./commands/record.js')).recordStop(s, o));
record
  .command('ls')
  .description('list recordings (on-demand and the spec\'s `record:`) with their HAR files')
  .addOption(fileOpt())
  .option('--json', 'one JSON array of recordings')
  .action(async (o) => (await import('./commands/record.js')).recordLs(o));
record
  .command('get')
  .description('write a recording (every proxy\'s files, merged) as one HAR 1.2 document')
  .argument('<ID>', 'the recording id, as in `berth record ls`')
  .addOption(fileOpt())
  .option('--out <FILE.har>', 'write it here instead of stdout')
  .action(async (id: string, o) => (await import('./commands/record.js')).recordGet(id, o));

program
  .command('replay')
  .description('send recorded traffic (HAR files) to a live target and report per endpoint what changed (exit 1 on differences beyond noise)')
  .argument('<files...>', 'HAR 1.2 files: from `berth record`, a browser or Playwright')
  .addOption(fileLongOpt())
  .option('--to <TARGET>', 'where to send: SERVICE (its address, through the gateway), SERVICE@variant (that variant\'s ready instances) or an http:// URL')
  .option('--rate <RATE>', 'original (recorded pacing), Nx (original N times faster, e.g. 2x), N/s (fixed rate), or max', 'original')
  .option('--concurrency <N>', 'requests in flight at most', '32')
  .option('--filter <match>', 'replay only matching requests: "[METHOD] /path-prefix", "~REGEX", or a route match {path: {prefix: /api}, method: GET}; repeatable (any matches)', collect)
  .option('--loop', 'start over at the end until Ctrl-C or --duration')
  .option('--duration <TIME>', 'stop after this long (e.g. 30s, 5m)')
  .option('--allow-side-effects', 'also replay write requests (POST, PUT, PATCH, DELETE); skipped by default')
  .option('--mock-dependencies', "the target's sidecars answer its downstream calls from the recording (Berth recordings; the app must pass traceparent on); misses fail the replay")
  .option('--against <TARGET>', 'compare with the answers of this live target (primary) instead of the recorded ones')
  .option('--baseline <TARGET>', 'a second run of the reference code: fields that differ between it and the reference are noise')
  .option('--ignore <RULE>', 'JSON path ($.meta.now, $.items[*].id) or header name never compared; repeatable or comma-separated', collect)
  .option('--compare-header <NAME>', `response header compared; repeatable (default: ${DEFAULT_HEADERS})`, collect)
  .option('--max-diff-percent <P>', 'pass while at most P % of the requests differ', '0')
  .option('--timeout <S>', 'seconds to wait for each answer', '30')
  .option('--report <FILE>', 'write the per-endpoint report as a self-contained HTML file')
  .option('--json', 'the counts and the per-endpoint report as one JSON object')
  .action(async (files: string[], o) => (await import('./commands/replay.js')).replayCommand(files, o));

function fail(err: unknown): never {
  if (err instanceof CliError) {
    process.stderr.write(`${red('error', process.stderr)}: ${err.message}\n`);
    if (err.hint) process.stderr.write(`${yellow('hint', process.stderr)}: ${err.hint}\n`);
    process.exit(err.exitCode);
  }
  if (err instanceof CommanderError) {
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') process.exit(0);
    process.exit(2);
  }
  process.stderr.write(`${red('error', process.stderr)}: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
}

// A reader that went away (`berth logs | head`) ends the command quietly, as Unix tools do, instead of
// an unhandled EPIPE and a stack trace.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
}

try {
  await program.parseAsync(process.argv);
} catch (err) {
  fail(err);
}
