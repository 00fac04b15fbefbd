// Terminal output helpers: colour that respects NO_COLOR and non-TTYs, aligned tables, durations.

const useColor = (stream: NodeJS.WriteStream = process.stdout): boolean =>
  !('NO_COLOR' in process.env && process.env.NO_COLOR !== '') && !!stream.isTTY && process.env.TERM !== 'dumb';

const wrap = (code: string) => (s: string, stream?: NodeJS.WriteStream) => (useColor(stream) ? `\x1b[${code}m${s}\x1b[0m` : s);
export const bold = wrap('1');
export const dim = wrap('2');
export const red = wrap('31');
export const green = wrap('32');
export const yellow = wrap('33');
export const cyan = wrap('36');
export { useColor };

// eslint-disable-next-line no-control-regex -- matching ANSI colour codes is the point
const ANSI = /\x1b\[[0-9;]*m/g;
const visible = (s: string) => s.replace(ANSI, '').length;

/** Left-aligned columns separated by two spaces. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => visible(r[i] ?? ''))));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c + ' '.repeat(widths[i] - visible(c))))
      .join('  ')
      .trimEnd();
  return [line(headers.map((h) => bold(h))), ...rows.map(line)].join('\n');
}

export function age(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return '-';
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${s % 60 ? `${s % 60}s` : ''}`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d`;
}

/** Parses "5m", "30s", "2h", "1d", "500ms" into milliseconds; undefined if malformed. */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(text.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h' | 'd'];
  return n * unit;
}

export function statusColor(status: string): string {
  if (status === 'ready') return green(status);
  if (status === 'crashloop' || status === 'unready') return red(status);
  if (status === 'starting' || status === 'pending' || status === 'stopping') return yellow(status);
  return dim(status);
}
