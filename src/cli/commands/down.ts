// `berth down`: stop every instance, the node agents and the control plane, and return only when
// no process of the app is left (zombies count as gone). Works with the control plane down too:
// then each node agent is asked directly, and whatever is left is fenced from processes.json.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { AgentInfo } from '../../lib/agent-protocol.js';
import { readJsonFile, readToken } from '../../lib/files.js';
import { requestJson } from '../../lib/http.js';
import { bumpDownEpoch } from '../../lib/down-epoch.js';
import { groupLeftAlive } from '../../lib/fence.js';
import { controlLockName, isLockHeld } from '../../lib/process-lock.js';
import { isProcessAlive, killGroup } from '../../lib/proc.js';
import { releaseAppSlot } from '../../lib/slots.js';
import { setStateDbAside } from '../../lib/state-recovery.js';
import type { ControlInfo } from '../../lib/state-dir.js';
import { controlClient, resolveContext, sleep, type Context } from '../context.js';
import { errors } from '../errors.js';

interface Recorded {
  pid: number;
  startTime?: number;
  /** Instance processes: their group (members may outlive a dead leader). */
  pgid?: number;
}

/** Alive: the process itself, or — for a recorded instance process — any member left in its group. */
const recordedAlive = (p: Recorded): boolean => isProcessAlive(p.pid, p.startTime) || (p.pgid !== undefined && groupLeftAlive(p));

function nodeNames(ctx: Context): string[] {
  try {
    return readdirSync(join(ctx.stateDir, 'nodes'));
  } catch {
    return [];
  }
}

/** Every process this app may still have: control plane, agents, and the agents' recorded children. */
function appProcesses(ctx: Context): Recorded[] {
  const out: Recorded[] = [];
  const control = readJsonFile<ControlInfo>(ctx.layout.controlInfo);
  if (control) out.push({ pid: control.pid, startTime: control.startTime });
  for (const node of nodeNames(ctx)) {
    const dir = join(ctx.stateDir, 'nodes', node);
    const agent = readJsonFile<AgentInfo>(join(dir, 'agent.json'));
    if (agent) out.push({ pid: agent.pid, startTime: agent.startTime });
    const recorded = readJsonFile<Recorded[] | { processes: Recorded[] }>(join(dir, 'processes.json'));
    const list = Array.isArray(recorded) ? recorded : (recorded?.processes ?? []);
    for (const p of list) if (p && typeof p.pid === 'number') out.push(p);
  }
  return out;
}

/** A control plane that holds its lock but has not written control.json yet (a `berth up` is starting it): waits for its API. */
async function startingControl(ctx: Context, deadline: number): Promise<ReturnType<typeof controlClient>> {
  while (performance.now() < deadline) {
    const c = controlClient(ctx);
    if (c) return c;
    if (!(await isLockHeld(controlLockName(ctx.stateDir)))) return undefined;
    await sleep(25);
  }
  return undefined;
}

/**
 * Stops every process of the app; returns true when anything was running. Final also against a racing
 * `berth up`: a new down epoch is written first (an `up` begun before cannot apply any more, see
 * lib/down-epoch.ts), and a control plane that is still starting is waited for and stopped.
 */
export async function stopApp(ctx: Context, timeoutS: number): Promise<boolean> {
  const deadline = performance.now() + timeoutS * 1000;
  if (ctx.specFile !== undefined || existsSync(ctx.stateDir)) bumpDownEpoch(ctx.stateDir);
  let c = controlClient(ctx);
  const starting = !c && (await isLockHeld(controlLockName(ctx.stateDir)));
  if (starting) c = await startingControl(ctx, Math.min(deadline, performance.now() + 20_000));
  // Processes known before asking: the control plane removes control.json just before it exits, so wait for its pid too.
  const before = appProcesses(ctx);
  const ranBefore = starting || before.some(recordedAlive);
  const alive = (c: Context): Recorded[] => {
    const seen = new Set<number>();
    return [...before, ...appProcesses(c)].filter((p) => !seen.has(p.pid) && (seen.add(p.pid), true) && recordedAlive(p));
  };
  let asked = false;
  if (c) {
    try {
      await c.post('/api/v1/down');
      asked = true;
    } catch {
      // The control plane went away meanwhile: its agents are asked directly below.
    }
  }
  if (!asked) {
    // No control plane: ask each node agent to shut down by itself.
    const token = readToken(ctx.layout.token);
    for (const node of nodeNames(ctx)) {
      const agent = readJsonFile<AgentInfo>(join(ctx.stateDir, 'nodes', node, 'agent.json'));
      if (agent && token && isProcessAlive(agent.pid, agent.startTime)) {
        try {
          await requestJson({ port: agent.port, token, timeoutMs: 5000 }, 'POST', '/shutdown');
        } catch {
          // An agent that does not answer is SIGKILLed with whatever it left, below.
        }
      }
    }
  }
  const tty = process.stderr.isTTY;
  while (performance.now() < deadline) {
    const left = alive(ctx);
    if (left.length === 0) break;
    if (tty) process.stderr.write(`\r\x1b[Kstopping: ${left.length} process${left.length === 1 ? '' : 'es'} left`);
    await sleep(50);
  }
  if (tty) process.stderr.write('\r\x1b[K');
  const left = alive(ctx);
  if (left.length > 0) {
    for (const p of left) killGroup(p.pgid ?? p.pid, 'SIGKILL');
    const killDeadline = performance.now() + 5000;
    while (performance.now() < killDeadline && alive(ctx).length > 0) await sleep(50);
    if (alive(ctx).length > 0) throw errors.failed(`processes still alive after SIGKILL: ${alive(ctx).map((p) => p.pid).join(', ')}`);
  }
  releaseAppSlot(ctx.stateDir);
  return ranBefore;
}

export async function down(o: { file?: string; timeout?: string; force?: boolean }): Promise<void> {
  const ctx = resolveContext(o.file, false);
  const timeoutS = Number(o.timeout ?? 60);
  if (!Number.isFinite(timeoutS) || timeoutS <= 0) throw errors.usage(`--timeout must be a positive number of seconds, got ${o.timeout}`);
  const ran = await stopApp(ctx, timeoutS);
  process.stdout.write(ran ? 'stopped: no process of the app is left\n' : 'nothing was running\n');
  if (o.force) {
    // Recovery from a damaged state database: nothing runs any more, so nothing has it open.
    const aside = setStateDbAside(ctx.stateDir);
    if (aside) process.stdout.write(`moved the state database aside to ${aside}: the next \`berth up\` starts afresh\n`);
  }
}
