// Machine-wide allocation of each instance's private `PORT`. Every app binds its PORT however its
// framework does (often on all addresses), so the number must be unique on the machine, across
// nodes and across Berth applications — per-instance loopback addresses do not isolate a wildcard
// bind. Ports come from PORT_RANGE, above the kernel's ephemeral range (no outgoing connection ever
// takes one) and away from the port numbers people give services (3000, 8080, the tests' 20000s…).
//
// The node agent is the owner: it outlives the control plane, so a port stays with its instance
// across control-plane restarts and adoption, and across restarts of the app; an agent that dies
// takes its instances with it, and its ports with them. Each agent announces its ports in its own
// file `<registry>/agent-<pid>-<starttime>.json` (only it writes that file; anyone may delete the
// file of a dead agent). Claiming is announce-then-check: write the port into the own file, then
// read every other live agent's file; if one lists the same port, yield and pick another. Of two
// agents racing for one port at least one sees the other, so at most one keeps it.
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeJsonAtomic } from '../lib/files.js';
import { listenSockets } from '../lib/listen-sockets.js';
import { isProcessAlive } from '../lib/proc.js';

/** Private ports are taken from here (inclusive), minus whatever the kernel's ephemeral range covers. */
export const PORT_RANGE = { first: 61000, last: 65535 } as const;

interface OwnerFile {
  pid: number;
  startTime: number;
  /** port → instance id */
  ports: Record<string, string>;
}

/** The per-user folder of port announcements (BERTH_PORT_REGISTRY overrides it). */
export function portRegistryDir(): string {
  return process.env.BERTH_PORT_REGISTRY ?? join(tmpdir(), `berth-ports-${process.getuid?.() ?? 0}`);
}

/** The kernel's ephemeral range, which outgoing connections take their local ports from. */
function ephemeralRange(): [number, number] {
  try {
    const [lo, hi] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (Number.isInteger(lo) && Number.isInteger(hi)) return [lo, hi];
  } catch {
    // not Linux: assume the kernel default below
  }
  return [32768, 60999];
}

/** Candidate ports: PORT_RANGE outside the ephemeral range (all of PORT_RANGE if that leaves nothing). */
export function candidatePorts(): number[] {
  const [lo, hi] = ephemeralRange();
  const all: number[] = [];
  for (let p = PORT_RANGE.first; p <= PORT_RANGE.last; p++) all.push(p);
  const outside = all.filter((p) => p < lo || p > hi);
  return outside.length > 0 ? outside : all;
}

export class PortAllocationError extends Error {}

/** How long one read of the listening sockets serves claims (reading /proc/net/tcp* costs tens of ms; a rollout claims many ports at once). */
const LISTENING_TTL_MS = 1000;

/** One node agent's claims. */
export class AppPorts {
  private readonly ports = new Map<number, string>();
  private readonly file: string;
  private listening: { at: number; ports: Set<number> } | undefined;

  constructor(
    private readonly owner: { pid: number; startTime: number },
    private readonly dir = portRegistryDir(),
  ) {
    this.file = join(dir, `agent-${owner.pid}-${owner.startTime}.json`);
  }

  /** A port for `instance` that no live agent on this machine announced and no socket listens on. */
  claim(instance: string): number {
    const candidates = candidatePorts();
    const start = Math.floor(Math.random() * candidates.length);
    let taken = this.othersPorts();
    const listening = this.listeningPorts();
    for (let i = 0; i < candidates.length; i++) {
      const port = candidates[(start + i) % candidates.length];
      if (this.ports.has(port) || taken.has(port) || listening.has(port)) continue;
      this.ports.set(port, instance);
      this.write();
      taken = this.othersPorts();
      if (!taken.has(port)) return port;
      this.ports.delete(port); // another agent announced it at the same moment: yield, try the next
      this.write();
    }
    throw new PortAllocationError(`no free private port for ${instance}: every port in ${PORT_RANGE.first}–${PORT_RANGE.last} outside the ephemeral range is announced in ${this.dir} or in use`);
  }

  /** Ports something listens on now (any address), read at most once per LISTENING_TTL_MS. */
  private listeningPorts(): Set<number> {
    const now = performance.now();
    if (!this.listening || now - this.listening.at > LISTENING_TTL_MS) this.listening = { at: now, ports: new Set(listenSockets().map((s) => s.port)) };
    return this.listening.ports;
  }

  /** Gives the port back (the instance is gone). */
  release(port: number): void {
    if (this.ports.delete(port)) this.write();
  }

  /** Removes this agent's announcement file (on shutdown). */
  close(): void {
    this.ports.clear();
    rmSync(this.file, { force: true });
  }

  private write(): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const data: OwnerFile = { pid: this.owner.pid, startTime: this.owner.startTime, ports: Object.fromEntries([...this.ports].map(([p, i]) => [String(p), i])) };
    writeJsonAtomic(this.file, data);
  }

  /** Ports announced by other live agents; files of dead agents are removed on the way. */
  private othersPorts(): Set<number> {
    const out = new Set<number>();
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch {
      return out; // no registry yet: nobody announced anything
    }
    for (const name of names) {
      if (!name.startsWith('agent-') || !name.endsWith('.json')) continue;
      const path = join(this.dir, name);
      if (path === this.file) continue;
      let data: OwnerFile;
      try {
        data = JSON.parse(readFileSync(path, 'utf8')) as OwnerFile;
      } catch {
        continue; // vanished (its agent stopped) between readdir and read; atomic writes leave no half file
      }
      if (!isProcessAlive(data.pid, data.startTime)) {
        rmSync(path, { force: true }); // a dead agent never writes again: its file can go
        continue;
      }
      for (const p of Object.keys(data.ports ?? {})) out.add(Number(p));
    }
    return out;
  }
}
