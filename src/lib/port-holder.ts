// Who holds a TCP port on this machine: the listening socket in /proc/net/tcp{,6} and the process
// whose /proc/PID/fd links to it, with its command line and — for a Berth process — its state dir.
// `berth up` uses it to refuse a spec port another process already listens on, naming the holder.
// Linux only; elsewhere (or for another user's process when not root) the holder may be unknown.
import { readdirSync, readFileSync, readlinkSync, realpathSync } from 'node:fs';

export interface PortHolder {
  /** Undefined when the socket is visible but its process is not (another user's, without root). */
  pid?: number;
  command?: string;
  /** The `.berth/` folder of the Berth application the process belongs to, when it is one. */
  stateDir?: string;
  /** The listening address, e.g. 127.0.0.1 or 0.0.0.0. */
  address: string;
}

/** Addresses whose listener keeps a bind to 127.0.0.1:port from succeeding. */
const CONFLICTING = new Set(['127.0.0.1', '0.0.0.0', '::', '::ffff:127.0.0.1', '::ffff:0.0.0.0']);

function ipv4(hex: string): string {
  const n = Number.parseInt(hex, 16);
  return [n & 255, (n >>> 8) & 255, (n >>> 16) & 255, (n >>> 24) & 255].join('.');
}

function ipv6(hex: string): string {
  // /proc prints four little-endian 32-bit words.
  const bytes: number[] = [];
  for (let w = 0; w < 4; w++) {
    const word = hex.slice(w * 8, w * 8 + 8);
    for (let b = 3; b >= 0; b--) bytes.push(Number.parseInt(word.slice(b * 2, b * 2 + 2), 16));
  }
  if (bytes.every((b) => b === 0)) return '::';
  if (bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 255 && bytes[11] === 255) return `::ffff:${bytes.slice(12).join('.')}`;
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] << 8) | bytes[i + 1]).toString(16));
  return groups.join(':');
}

/** Listening sockets on `port` at an address that conflicts with 127.0.0.1: inode → address. */
function listeners(port: number): Map<string, string> {
  const out = new Map<string, string>();
  for (const [file, v6] of [['/proc/net/tcp', false], ['/proc/net/tcp6', true]] as const) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue; // no IPv6 (or not Linux): nothing listens there
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || f[3] !== '0A') continue; // 0A = LISTEN
      const [addrHex, portHex] = f[1].split(':');
      if (Number.parseInt(portHex, 16) !== port) continue;
      const address = v6 ? ipv6(addrHex) : ipv4(addrHex);
      if (CONFLICTING.has(address)) out.set(f[9], address);
    }
  }
  return out;
}

function stateDirOf(pid: number, cmdline: string[]): string | undefined {
  const i = cmdline.indexOf('--state-dir');
  if (i >= 0 && cmdline[i + 1]) return cmdline[i + 1];
  try {
    const env = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
    const v = env.find((kv) => kv.startsWith('BERTH_STATE_DIR='));
    return v ? v.slice('BERTH_STATE_DIR='.length) : undefined;
  } catch {
    return undefined; // another user's process: its environment is private
  }
}

/**
 * The process listening on `port` at 127.0.0.1 (or a wildcard address), or undefined when the port is free.
 * A listener whose process is not found is looked for again a few times: a socket read from
 * /proc/net/tcp can be closed and replaced (a gateway re-binding its listeners) before the scan of
 * /proc/<pid>/fd reaches its owner, and an unidentified holder must not be reported on such a race.
 */
export function findPortHolder(port: number, attempts = 4): PortHolder | undefined {
  let holder = scanPortHolder(port);
  for (let i = 1; i < attempts && holder !== undefined && holder.pid === undefined; i++) {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 25 * i);
    holder = scanPortHolder(port);
  }
  return holder;
}

function scanPortHolder(port: number): PortHolder | undefined {
  const socks = listeners(port);
  if (socks.size === 0) return undefined;
  const wanted = new Set([...socks.keys()].map((inode) => `socket:[${inode}]`));
  let pids: string[] = [];
  try {
    pids = readdirSync('/proc').filter((n) => /^\d+$/.test(n));
  } catch {
    // no /proc: the socket is known, its process is not
  }
  for (const p of pids) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${p}/fd`);
    } catch {
      continue; // exited, or another user's process
    }
    for (const fd of fds) {
      let link: string;
      try {
        link = readlinkSync(`/proc/${p}/fd/${fd}`);
      } catch {
        continue; // closed meanwhile
      }
      if (!wanted.has(link)) continue;
      const pid = Number(p);
      let cmdline: string[] = [];
      try {
        cmdline = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0').filter(Boolean);
      } catch {
        // exited meanwhile: report the pid alone
      }
      const address = socks.get(link.slice('socket:['.length, -1)) ?? '';
      const stateDir = stateDirOf(pid, cmdline);
      return { pid, command: cmdline.join(' ') || undefined, address, ...(stateDir ? { stateDir } : {}) };
    }
  }
  return { address: [...socks.values()][0] };
}

/** True when `holder` belongs to the Berth application whose state dir is `stateDir`. */
export function heldBy(holder: PortHolder, stateDir: string): boolean {
  if (!holder.stateDir) return false;
  const real = (p: string): string => {
    try {
      return realpathSync(p);
    } catch {
      return p; // gone: compare the names as given
    }
  };
  return real(holder.stateDir) === real(stateDir);
}

/** "pid 123 (python3 -m http.server 8080)", or what is known of it. */
export function describeHolder(holder: PortHolder): string {
  if (holder.pid === undefined) return `a process this user cannot see (listening on ${holder.address}; run as root or check \`ss -ltnp\`)`;
  const cmd = holder.command ? holder.command.slice(0, 160) : '?';
  return holder.stateDir ? `another Berth application (state dir ${holder.stateDir}; pid ${holder.pid}: ${cmd})` : `pid ${holder.pid} (${cmd})`;
}
