// `berth deploy --diff`: what a server-side apply would change, per object — the API server's dry-run
// result compared with the live object, both without the fields the server owns (status,
// managedFields, resourceVersion, uid, timestamps, generation), as a line diff of their YAML.
import { toYaml } from './yaml.js';

export interface ObjectDiff {
  /** `Deployment/web` */
  object: string;
  change: 'created' | 'changed' | 'pruned';
  /** Diff lines: `+ …` added, `- …` removed, `  …` context (only for `changed`; the whole object for `created`). */
  lines: string[];
}

const SERVER_METADATA = ['managedFields', 'resourceVersion', 'uid', 'creationTimestamp', 'generation', 'selfLink'];

function normalize(o: object): string {
  const { status: _status, ...rest } = o as Record<string, unknown>;
  const meta = { ...((rest.metadata as Record<string, unknown> | undefined) ?? {}) };
  for (const k of SERVER_METADATA) delete meta[k];
  const annotations = { ...((meta.annotations as Record<string, string> | undefined) ?? {}) };
  delete annotations['kubectl.kubernetes.io/last-applied-configuration'];
  if (Object.keys(annotations).length) meta.annotations = annotations;
  else delete meta.annotations;
  return toYaml({ ...rest, metadata: meta });
}

/** A line diff (longest common subsequence), with up to `context` unchanged lines around each change. */
export function lineDiff(before: readonly string[], after: readonly string[], context = 3): string[] {
  const n = before.length;
  const m = after.length;
  const lcs: number[][] = Array.from({ length: n + 1 }, () => new Array<number>(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--) lcs[i][j] = before[i] === after[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
  const ops: string[] = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && before[i] === after[j]) {
      ops.push(`  ${before[i++]}`);
      j++;
    }
    // Removals before additions, as `diff -u` shows a replaced line.
    else if (i < n && (j === m || lcs[i + 1][j] >= lcs[i][j + 1])) ops.push(`- ${before[i++]}`);
    else ops.push(`+ ${after[j++]}`);
  }
  const keep = ops.map((op, k) => ops.slice(Math.max(0, k - context), k + context + 1).some((x) => x[0] !== ' '));
  const out: string[] = [];
  ops.forEach((op, k) => {
    if (keep[k]) out.push(op);
    else if (out.length && out[out.length - 1] !== '  …') out.push('  …');
  });
  return out;
}

/** The diff of one object; undefined when the apply would change nothing. */
export function diffLive(object: string, live: object | undefined, after: object): ObjectDiff | undefined {
  const next = normalize(after).trimEnd().split('\n');
  if (!live) return { object, change: 'created', lines: next.map((l) => `+ ${l}`) };
  const prev = normalize(live).trimEnd().split('\n');
  if (prev.join('\n') === next.join('\n')) return undefined;
  return { object, change: 'changed', lines: lineDiff(prev, next) };
}
