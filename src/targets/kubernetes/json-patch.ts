// A minimal RFC 6902 diff between two JSON values: what a Kustomize overlay applies to the base
// object to get the environment's object. Mappings are compared key by key; lists of the same
// length element by element; anything else is replaced whole. Paths escape `~` and `/` (RFC 6901).
export type PatchOp = { op: 'add' | 'replace'; path: string; value: unknown } | { op: 'remove'; path: string };

const escape = (key: string) => key.replaceAll('~', '~0').replaceAll('/', '~1');

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function equal(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

export function diffJson(from: unknown, to: unknown, path = ''): PatchOp[] {
  if (equal(from, to)) return [];
  if (isObject(from) && isObject(to)) {
    const ops: PatchOp[] = [];
    const keys = [...new Set([...Object.keys(from), ...Object.keys(to)])].sort();
    for (const k of keys) {
      const p = `${path}/${escape(k)}`;
      if (!(k in to)) ops.push({ op: 'remove', path: p });
      else if (!(k in from)) ops.push({ op: 'add', path: p, value: to[k] });
      else ops.push(...diffJson(from[k], to[k], p));
    }
    return ops;
  }
  if (Array.isArray(from) && Array.isArray(to) && from.length === to.length) {
    return from.flatMap((item, i) => diffJson(item, to[i], `${path}/${i}`));
  }
  return [{ op: 'replace', path, value: to }];
}

/** Applies ops to a copy of `doc` (used by tests and to check overlays reproduce the environment). */
export function applyPatch(doc: unknown, ops: readonly PatchOp[]): unknown {
  let root = JSON.parse(JSON.stringify(doc)) as unknown;
  for (const op of ops) {
    const parts = op.path.split('/').slice(1).map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~'));
    if (parts.length === 0) {
      if (op.op === 'remove') throw new Error('cannot remove the root');
      root = JSON.parse(JSON.stringify(op.value));
      continue;
    }
    let parent = root as Record<string, unknown> | unknown[];
    for (const p of parts.slice(0, -1)) parent = (parent as Record<string, unknown>)[p] as Record<string, unknown> | unknown[];
    const last = parts[parts.length - 1];
    if (Array.isArray(parent)) {
      const i = last === '-' ? parent.length : Number(last);
      if (op.op === 'remove') parent.splice(i, 1);
      else if (op.op === 'add') parent.splice(i, 0, JSON.parse(JSON.stringify(op.value)));
      else parent[i] = JSON.parse(JSON.stringify(op.value));
    } else if (op.op === 'remove') delete parent[last];
    else parent[last] = JSON.parse(JSON.stringify(op.value));
  }
  return root;
}
