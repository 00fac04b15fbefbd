// Where something listens on a port. Each instance's app gets a machine-unique private PORT and may
// bind it on HOST, 127.0.0.1, ::1, 0.0.0.0 or ::. Its sidecar (or the node agent) finds the address
// that reaches it by connecting (findListener: HOST first, then the loopbacks; a loopback connect
// costs well under a millisecond). The listening sockets as Linux reports them in /proc/net/tcp*
// answer what connecting cannot — which ports an app's process group listens on instead of PORT —
// but reading those tables costs tens of milliseconds on a busy machine, so they are read rarely.
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import net from 'node:net';

export interface ListenSocket {
  /** Local address: dotted IPv4 (also for IPv4-mapped IPv6), or IPv6 text (`::`, `::1`, …). */
  address: string;
  family: 4 | 6;
  port: number;
  inode: number;
}

/** TCP state 0A in /proc/net/tcp*: LISTEN. */
const LISTEN = '0A';

/** IPv4 from /proc's hex: the 32-bit word in host (little-endian) byte order. */
function ipv4FromHex(hex: string): string {
  const n = Number.parseInt(hex, 16);
  return `${n & 0xff}.${(n >>> 8) & 0xff}.${(n >>> 16) & 0xff}.${(n >>> 24) & 0xff}`;
}

/** IPv6 from /proc's hex: four 32-bit words, each in host byte order. IPv4-mapped addresses become dotted IPv4. */
function ipv6FromHex(hex: string): { address: string; mapped: boolean } {
  const bytes: number[] = [];
  for (let w = 0; w < 4; w++) {
    const word = hex.slice(w * 8, w * 8 + 8);
    for (let b = 3; b >= 0; b--) bytes.push(Number.parseInt(word.slice(b * 2, b * 2 + 2), 16));
  }
  const mapped = bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
  if (mapped) return { address: bytes.slice(12).join('.'), mapped: true };
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] << 8) | bytes[i + 1]).toString(16));
  // Shorten the longest run of zero groups (RFC 5952), enough for `::` and `::1`.
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen && j - i > 1) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (best < 0) return { address: groups.join(':'), mapped: false };
  return { address: `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`, mapped: false };
}

/** Parses the text of /proc/net/tcp (family 4) or /proc/net/tcp6 (family 6); only LISTEN sockets. Malformed lines are skipped. */
export function parseListenTable(text: string, family: 4 | 6): ListenSocket[] {
  const out: ListenSocket[] = [];
  const lines = text.split('\n');
  for (let i = 1; i < lines.length; i++) {
    const f = lines[i].trim().split(/\s+/);
    if (f.length < 10 || f[3] !== LISTEN) continue;
    const colon = f[1].indexOf(':');
    if (colon < 0) continue;
    const addrHex = f[1].slice(0, colon);
    const port = Number.parseInt(f[1].slice(colon + 1), 16);
    const inode = Number(f[9]);
    if (!Number.isInteger(port) || !Number.isInteger(inode)) continue;
    if (family === 4 && addrHex.length === 8) out.push({ address: ipv4FromHex(addrHex), family: 4, port, inode });
    else if (family === 6 && addrHex.length === 32) {
      const { address, mapped } = ipv6FromHex(addrHex);
      out.push({ address, family: mapped ? 4 : 6, port, inode });
    }
  }
  return out;
}

function readTable(path: string, family: 4 | 6): ListenSocket[] {
  try {
    return parseListenTable(readFileSync(path, 'utf8'), family);
  } catch {
    return []; // no such table (IPv6 disabled, or not Linux): nothing listens there
  }
}

/** Every listening TCP socket of this network namespace. */
export function listenSockets(): ListenSocket[] {
  return [...readTable('/proc/net/tcp', 4), ...readTable('/proc/net/tcp6', 6)];
}

/** Socket inodes held open by the processes `pids` (from /proc/PID/fd); processes that vanished are skipped. */
export function socketInodes(pids: readonly number[]): Set<number> {
  const inodes = new Set<number>();
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue; // exited meanwhile, or not ours to read: it holds nothing we can see
    }
    for (const fd of fds) {
      let target: string;
      try {
        target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        continue; // the descriptor was closed between readdir and readlink
      }
      if (target.startsWith('socket:[')) inodes.add(Number(target.slice(8, -1)));
    }
  }
  return inodes;
}

/** Text for one listening socket: `127.0.0.1:8080`, `[::]:8080`. */
export function formatListen(s: ListenSocket): string {
  return s.family === 6 ? `[${s.address}]:${s.port}` : `${s.address}:${s.port}`;
}

/** Addresses tried, in order, to reach a listener on an instance's private port (after HOST itself). */
const LOOPBACKS = ['127.0.0.1', '::1'];

/** Resolves true when `host:port` accepts a TCP connection within `timeoutMs`. */
function accepts(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/**
 * The first of `host`, 127.0.0.1, ::1 where `port` accepts a connection (HOST covers binds on HOST,
 * 0.0.0.0 and a dual-stack ::), or undefined when none does.
 */
export async function findListener(port: number, host: string, timeoutMs = 500): Promise<string | undefined> {
  for (const h of [host, ...LOOPBACKS.filter((l) => l !== host)]) if (await accepts(h, port, timeoutMs)) return h;
  return undefined;
}
