// The quick commands without the command-line parser: `berth ls`, `berth ps` (and `--version`) are run
// from scripts and other folders, so they skip building commander's tree of every command (tens of ms
// on a loaded machine). Anything else — another flag, --help, --app — goes through main.ts as usual.
const QUICK: Record<string, readonly string[]> = { ls: ['--json'], ps: ['--json', '-a', '--all'] };

/** Runs argv when it is a quick command; false when main.ts must handle it. */
export async function fastPath(argv: string[]): Promise<boolean> {
  if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-V')) {
    process.stdout.write('0.1.0\n');
    return true;
  }
  // The global --app NAME may come before or after the command.
  let app: string | undefined;
  const plain: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--app' && i + 1 < argv.length) app = argv[++i];
    else if (argv[i].startsWith('--app=')) app = argv[i].slice(6);
    else plain.push(argv[i]);
  }
  const [cmd, ...rest] = plain;
  const flags = QUICK[cmd ?? ''];
  if (!flags) return false;
  const args = rest.filter((a) => !a.startsWith('-'));
  if (rest.some((a) => a.startsWith('-') && !flags.includes(a))) return false;
  if (cmd === 'ls' && args.length > 0) return false;
  if (args.some((a) => !/^[a-z0-9][a-z0-9.-]*$/.test(a))) return false;
  const json = rest.includes('--json');
  const quietPipe = (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  };
  process.stdout.on('error', quietPipe);
  process.stderr.on('error', quietPipe);
  try {
    if (app !== undefined) (await import('./context.js')).selectApp(app);
    if (cmd === 'ls') await (await import('./commands/ls.js')).ls({ json });
    else await (await import('./commands/ps.js')).ps(args, { json, all: rest.includes('-a') || rest.includes('--all') });
  } catch (err) {
    const { CliError } = await import('./errors.js');
    if (!(err instanceof CliError)) throw err;
    const { red, yellow } = await import('./output.js');
    process.stderr.write(`${red('error', process.stderr)}: ${err.message}\n`);
    if (err.hint) process.stderr.write(`${yellow('hint', process.stderr)}: ${err.hint}\n`);
    process.exitCode = err.exitCode;
  }
  return true;
}
