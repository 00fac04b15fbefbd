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
  .addOption(new Option('--template <T>', 'what to start from (ports picked free on this machine)').choices(['node-http', 'node-worker', 'two-services', 'python-http']).default('node-http'))
  .option('--json', 'print {dir, template, ports, files}')
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

const components = program.command('components').description("the building-block (Dapr) components the app's services use");
components
  .command('ls')
  .description('list components: name, type, scopes, the services using them, and whether their backend answers (exit 1 when one does not)')
  .addOption(fileOpt())
  .addOption(envOpt())
  .option('--json', 'machine-readable output')
  .action(async (o) => (await import('./commands/components.js')).componentsLs(o));

const state = program.command('state').description("read and write a state store as a service sees it (keys are per app ID, as the API stores them)");
state
  .command('get')
  .description('print the value of KEY in state store STORE (exit 1 when absent)')
  .argument('<store>', 'state store component name, e.g. statestore')
  .argument('<key>', 'the key, as the app uses it')
  .option('--service <NAME>', 'whose keys (app ID); needed when several services use the store')
  .addOption(fileOpt())
  .addOption(envOpt())
  .option('--json', 'key, value, etag and expiry as JSON')
  .action(async (store: string, key: string, o) => (await import('./commands/components.js')).stateGet(store, key, o));
state
  .command('set')
  .description('save VALUE (JSON, or text stored as a JSON string) under KEY in state store STORE')
  .argument('<store>', 'state store component name')
  .argument('<key>', 'the key')
  .argument('<value>', 'the value: JSON, or text')
  .option('--service <NAME>', 'whose keys (app ID); needed when several services use the store')
  .option('--etag <ETAG>', 'only if the stored item has this ETag')
  .option('--ttl <SECONDS>', 'expire after SECONDS (-1: never)')
  .addOption(fileOpt())
  .addOption(envOpt())
  .option('--json', 'the new ETag as JSON')
  .action(async (store: string, key: string, value: string, o) => (await import('./commands/components.js')).stateSet(store, key, value, o));

program
  .command('publish')
  .description('publish DATA to TOPIC on pub/sub component PUBSUB, as a CloudEvent (as the publish API does)')
  .argument('<pubsub>', 'pub/sub component name, e.g. pubsub')
  .argument('<topic>', 'the topic')
  .argument('<data>', 'the payload: JSON (application/json) or text (text/plain)')
  .option('--content-type <TYPE>', 'content type of DATA (default: application/json when it parses as JSON, else text/plain)')
  .option('--raw', 'publish DATA without a CloudEvent envelope (metadata.rawPayload=true)')
  .option('--ttl <SECONDS>', 'message time to live (metadata.ttlInSeconds)')
  .addOption(fileOpt())
  .addOption(envOpt())
  .option('--json', 'machine-readable output')
  .action(async (pubsub: string, topic: string, data: string, o) => (await import('./commands/components.js')).publish(pubsub, topic, data, o));

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
  .option('--table', 'show the live status table instead of the logs (key t switches between them)')
  .option('--watch', 'reload on save: a changed file under a service\'s `watch:` paths makes a new revision (zero-failure rollout); a changed berth.yaml is applied')
  .action(async (o) => (await import('./commands/up.js')).up(o));

program
  .command('attach')
  .description('the foreground screen of an app started with `berth up -d`: every instance\'s logs with coloured prefixes (key t: status table); Ctrl-C leaves it running')
  .addOption(fileOpt())
  .option('--table', 'start with the live status table')
  .option('--tail <N>', 'log lines shown from before attaching', '20')
  .action(async (o) => (await import('./commands/screen.js')).attach(o));

program
  .command('apply')
  .description('apply a changed spec to the running application (rolling replacement)')
  .addOption(fileOpt())
  .addOption(envOpt())
  .option('--wait', 'wait until the rollout is complete')
  .option('--rebuild', 'also give every service without `watch:` a new revision (fresh processes on the code on disk), changed or not')
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

const releaseCmd = program.command('release').description('progressive delivery: the canary or blue-green release of a service (status, promote, abort, retry, undo)');
releaseCmd
  .command('status')
  .description('strategy, step i/n, weights, instances of each side, analysis runs with each measurement, why it is paused or aborted, the shadow diff of mirrored requests')
  .argument('<service>')
  .addOption(fileOpt())
  .option('--watch', 'print again every second until the release ends')
  .option('--json', 'one JSON object (a line per refresh with --watch)')
  .action(async (s: string, o) => (await import('./commands/release.js')).status(s, o));
releaseCmd
  .command('promote')
  .description('go on past the current step (a pause, an analysis); --full skips every remaining step')
  .argument('<service>')
  .addOption(fileOpt())
  .option('--full', 'promote at once, skipping the remaining steps and analyses')
  .option('--json', 'the release status as JSON')
  .action(async (s: string, o) => (await import('./commands/release.js')).action('promote', s, o));
for (const [verb, what] of [
  ['abort', 'abort the release: every request goes back to stable, the canary scales down'],
  ['retry', 'start an aborted release again from the first step'],
] as const) {
  releaseCmd
    .command(verb)
    .description(what)
    .argument('<service>')
    .addOption(fileOpt())
    .option('--json', 'the release status as JSON')
    .action(async (s: string, o) => (await import('./commands/release.js')).action(verb, s, o));
}
releaseCmd
  .command('undo')
  .description('go back to the previous revision (or --to-revision N); within rollbackWindow the steps are skipped')
  .argument('<service>')
  .addOption(fileOpt())
  .option('--to-revision <N>', 'the revision number to go back to (see `berth history`)')
  .option('--json', 'machine-readable output')
  .action(async (s: string, o) => (await import('./commands/release.js')).undo(s, o));

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

const gitops = program.command('gitops').description('GitOps: the desired state from a git repository — synced, checked against policies, drift reported and healed (docs/gitops.md)');
const gitopsCmd = () => import('./commands/gitops.js');
const jsonOpt = () => new Option('--json', 'machine-readable output');
gitops
  .command('add')
  .description('watch a git repository (any URL git understands, or a local path) and apply its spec through the control plane')
  .argument('<name>', 'a name for the source (DNS-1123 label)')
  .requiredOption('--repo <URL|PATH>', 'the repository (credentials from git\'s own configuration)')
  .option('--branch <BRANCH>', 'branch to follow', 'main')
  .option('--path <DIR>', 'folder (or spec file) inside the repository', '')
  .option('--env <ENV>', 'environment overlay from `environments:` in the spec')
  .option('--interval <DURATION>', 'how often to fetch (e.g. 30s, 2m)', '30s')
  .option('--auto-sync', 'apply each new commit of the branch')
  .option('--self-heal', 'revert changes made outside git (berth scale/apply/restart) within one interval')
  .option('--prune', 'remove services deleted in git')
  .addOption(fileOpt())
  .addOption(jsonOpt())
  .action(async (name: string, o) => (await gitopsCmd()).add(name, o));
gitops.command('ls').description('list GitOps sources: sync status, health, revision').addOption(fileOpt()).addOption(jsonOpt()).action(async (o) => (await gitopsCmd()).ls(o));
gitops.command('status').description('sync status (Synced/OutOfSync/Unknown), health, the commit running, the last error with file:line, drift').argument('<name>').addOption(fileOpt()).addOption(jsonOpt()).action(async (name: string, o) => (await gitopsCmd()).status(name, o));
gitops.command('sync').description('fetch and apply the branch head now (exit 2 when the commit is refused: invalid or an enforced policy)').argument('<name>').addOption(fileOpt()).addOption(jsonOpt()).action(async (name: string, o) => (await gitopsCmd()).sync(name, o));
gitops.command('history').description('commits synced: SHA, time, result (Synced, Failed, Healed), trigger').argument('<name>').addOption(fileOpt()).addOption(jsonOpt()).action(async (name: string, o) => (await gitopsCmd()).history(name, o));
gitops.command('rollback').description("apply an earlier commit's state and suspend auto-sync until `berth gitops resume`").argument('<name>').argument('<sha>', 'a commit (full or abbreviated SHA)').addOption(fileOpt()).addOption(jsonOpt()).action(async (name: string, sha: string, o) => (await gitopsCmd()).rollback(name, sha, o));
gitops.command('suspend').description('stop auto-sync and self-heal').argument('<name>').addOption(fileOpt()).addOption(jsonOpt()).action(async (name: string, o) => (await gitopsCmd()).suspend(name, o, false));
gitops.command('resume').description('resume auto-sync and self-heal').argument('<name>').addOption(fileOpt()).addOption(jsonOpt()).action(async (name: string, o) => (await gitopsCmd()).suspend(name, o, true));
gitops.command('rm').description('stop watching the repository (what it applied keeps running)').argument('<name>').addOption(fileOpt()).addOption(jsonOpt()).action(async (name: string, o) => (await gitopsCmd()).rm(name, o));
gitops
  .command('promote')
  .description("commit the tested revision of one environment to the next (a branch or folder per environment), pushed when the remote allows")
  .argument('<name>')
  .requiredOption('--from <ENV>', 'environment tested')
  .requiredOption('--to <ENV>', 'environment to promote to')
  .addOption(fileOpt())
  .addOption(jsonOpt())
  .action(async (name: string, o) => (await gitopsCmd()).promote(name, o));

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
  .command('dashboard')
  .description('print the dashboard URL with its login token and open it in a browser when one is available')
  .addOption(fileOpt())
  .option('--no-open', 'only print the URL')
  .option('--json', 'one JSON object: {url, base, port, opened}')
  .action(async (o) => (await import('./commands/dashboard.js')).dashboard(o));

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

const traces = program
  .command('traces')
  .description('find sampled requests (spec mesh.tracing) by service, status and duration, newest first; `berth traces show ID` prints one as a waterfall')
  .addOption(fileOpt())
  .option('--service <S>', 'only traces that pass through this service')
  .option('--status <S>', 'error (some span answered 5xx), ok (none did), or an HTTP status code some span had')
  .option('--min-duration <D>', 'only traces that took at least this long: 50ms, 1.5s (a bare number is milliseconds)')
  .option('--limit <N>', 'at most N traces', '20')
  .option('--json', 'one JSON array of trace summaries')
  .action(async (o) => (await import('./commands/traces.js')).tracesList(o));
traces
  .command('show')
  .description('print one trace as a waterfall across services: each hop with its timing, status and a bar on the trace\'s time axis')
  .argument('<TRACE_ID>', 'the trace id (32 hex digits), as `berth traces` or the dashboard shows it')
  .addOption(fileOpt())
  .option('--json', 'the trace and its spans as JSON ({ trace, spans })')
  // `traces` has --json and -f too, and takes them wherever they stand: read both levels.
  .action(async (id: string, _o, cmd: Command) => (await import('./commands/traces.js')).tracesShow(id, cmd.optsWithGlobals()));

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

program
  .command('completion')
  .description('print a shell completion script: source <(berth completion bash); zsh: > "${fpath[1]}/_berth"; fish: > ~/.config/fish/completions/berth.fish')
  .argument('<shell>', 'bash, zsh or fish')
  .action(async (shell: string) => (await import('./commands/completion.js')).completion(shell, program));

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
