// CLI error catalogue: every user-facing failure has a stable code and an exit status
// (1 = failure, 2 = usage or validation error). No stack traces for these.

export class CliError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly exitCode: 1 | 2 = 1,
    readonly hint?: string,
  ) {
    super(message);
  }
}

export const errors = {
  noSpec: (cwd: string) => new CliError('BERTH_E_NO_SPEC', `no berth.yaml or berth.config.ts in ${cwd}`, 2, 'create one with `berth init`, or pass -f FILE'),
  notRunning: (dir: string) => new CliError('BERTH_E_NOT_RUNNING', `no Berth control plane is running for ${dir}`, 1, 'start it with `berth up -d`'),
  invalidSpec: (text: string) => new CliError('BERTH_E_INVALID_SPEC', text, 2),
  usage: (text: string, hint?: string) => new CliError('BERTH_E_USAGE', text, 2, hint),
  timeout: (what: string) => new CliError('BERTH_E_TIMEOUT', `timed out ${what}`, 1),
  failed: (text: string, hint?: string) => new CliError('BERTH_E_FAILED', text, 1, hint),
  stoppedByDown: (what: string) => new CliError('BERTH_E_STOPPED_BY_DOWN', `\`berth down\` ran while \`berth ${what}\` was in progress: the app was stopped and stays down`, 1, 'run `berth up` again to start it'),
  stateCorrupt: (text: string) => new CliError('BERTH_E_STATE_CORRUPT', text, 1),
  portInUse: (text: string, hint?: string) => new CliError('BERTH_E_PORT_IN_USE', text, 1, hint),
};
