// Test helper: runs the real `berth-logs` process (dist/src/sidecar/logs/main.js) as a node agent
// would — configuration in BERTH_LOGS_CONFIG, identity in BERTH_* — and reads what a file sink wrote.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { logAgentMain } from '../../src/sidecar/logs/index.js';
import type { LogAgentConfig } from '../../src/lib/log-agent-config.js';

export interface AgentProc {
  readonly child: ChildProcess;
  /** Everything the agent wrote to stderr so far. */
  stderr(): string;
  /** Exit code or signal once it exited, else undefined. */
  exited(): string | undefined;
  stop(): Promise<void>;
}

export function spawnAgent(stateDir: string, config: LogAgentConfig, instance = 'web-1', service = 'web', extraEnv: Record<string, string> = {}): AgentProc {
  const child = spawn(process.execPath, [fileURLToPath(logAgentMain)], {
    env: {
      ...process.env,
      BERTH_STATE_DIR: stateDir,
      BERTH_LOGS_CONFIG: JSON.stringify(config),
      BERTH_APP: 'demo',
      BERTH_SERVICE: service,
      BERTH_INSTANCE: instance,
      BERTH_REVISION: 'r1',
      BERTH_NODE: 'node-1',
      BERTH_LOGS_STATUS_MS: '100',
      ...extraEnv,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  let exit: string | undefined;
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const exitP = new Promise<void>((r) =>
    child.once('exit', (code, sig) => {
      exit = sig ?? String(code);
      r();
    }),
  );
  return {
    child,
    stderr: () => err,
    exited: () => exit,
    async stop() {
      if (exit === undefined) child.kill('SIGTERM');
      await exitP;
    },
  };
}

/** Messages in a file sink's output (JSON lines); an incomplete last line is ignored. */
export function fileSinkMessages(path: string): string[] {
  if (!existsSync(path)) return [];
  const out: string[] = [];
  for (const l of readFileSync(path, 'utf8').split('\n')) {
    if (!l) continue;
    try {
      out.push((JSON.parse(l) as { message: string }).message);
    } catch {
      // A line being written right now: read again on the next poll.
    }
  }
  return out;
}

/** How often each `seq=<n>` for n in [from, to) was seen. */
export function countSeq(messages: readonly string[], from: number, to: number): { missing: number[]; duplicates: number } {
  const count = new Map<number, number>();
  for (const m of messages) {
    const x = /seq=(\d+)/.exec(m);
    if (x) count.set(Number(x[1]), (count.get(Number(x[1])) ?? 0) + 1);
  }
  const missing: number[] = [];
  let duplicates = 0;
  for (let n = from; n < to; n++) {
    const c = count.get(n) ?? 0;
    if (c === 0) missing.push(n);
    else duplicates += c - 1;
  }
  return { missing, duplicates };
}
