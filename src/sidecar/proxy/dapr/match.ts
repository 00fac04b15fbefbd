// Routing rules of a subscription (`routes.rules[].match`): Dapr evaluates CEL over the CloudEvent.
// Berth takes the subset people write in rules — comparisons of `event.<path>` with a string,
// number or boolean literal (==, !=, <, <=, >, >=), joined by && and ||, with parentheses.
type Token = { kind: 'path'; path: string[] } | { kind: 'lit'; value: unknown } | { kind: 'op'; op: string };

export class MatchSyntaxError extends Error {}

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  const re = /\s*(?:(&&|\|\||==|!=|<=|>=|<|>|\(|\))|("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|(-?\d+(?:\.\d+)?)|(true|false|null)\b|(event(?:\.[A-Za-z_][\w]*)+))/y;
  let i = 0;
  while (i < src.length) {
    if (/^\s*$/.test(src.slice(i))) break;
    re.lastIndex = i;
    const m = re.exec(src);
    if (!m) throw new MatchSyntaxError(`cannot read the rule at "${src.slice(i).trim()}"`);
    i = re.lastIndex;
    if (m[1]) out.push({ kind: 'op', op: m[1] });
    else if (m[2]) out.push({ kind: 'lit', value: m[2].startsWith('"') ? JSON.parse(m[2]) : m[2].slice(1, -1).replace(/\\'/g, "'") });
    else if (m[3]) out.push({ kind: 'lit', value: Number(m[3]) });
    else if (m[4]) out.push({ kind: 'lit', value: m[4] === 'null' ? null : m[4] === 'true' });
    else if (m[5]) out.push({ kind: 'path', path: m[5].split('.').slice(1) });
  }
  return out;
}

type Node = { or: Node[] } | { and: Node[] } | { cmp: string; left: Token; right: Token };

function parse(tokens: Token[]): Node {
  let i = 0;
  const peek = (): Token | undefined => tokens[i];
  const isOp = (op: string): boolean => {
    const t = peek();
    return t?.kind === 'op' && t.op === op;
  };
  const operand = (): Token => {
    const t = tokens[i++];
    if (!t || t.kind === 'op') throw new MatchSyntaxError('expected event.<field> or a literal');
    return t;
  };
  const primary = (): Node => {
    if (isOp('(')) {
      i++;
      const n = or();
      if (!isOp(')')) throw new MatchSyntaxError('missing )');
      i++;
      return n;
    }
    const left = operand();
    const t = tokens[i++];
    if (!t || t.kind !== 'op' || !['==', '!=', '<', '<=', '>', '>='].includes(t.op)) throw new MatchSyntaxError('expected a comparison (==, !=, <, >, <=, >=)');
    return { cmp: t.op, left, right: operand() };
  };
  const and = (): Node => {
    const parts = [primary()];
    while (isOp('&&')) {
      i++;
      parts.push(primary());
    }
    return parts.length === 1 ? parts[0] : { and: parts };
  };
  const or = (): Node => {
    const parts = [and()];
    while (isOp('||')) {
      i++;
      parts.push(and());
    }
    return parts.length === 1 ? parts[0] : { or: parts };
  };
  const n = or();
  if (i !== tokens.length) throw new MatchSyntaxError('unexpected text after the rule');
  return n;
}

function value(t: Token, event: Record<string, unknown>): unknown {
  if (t.kind === 'lit') return t.value;
  if (t.kind !== 'path') return undefined;
  let v: unknown = event;
  for (const k of t.path) v = v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined;
  return v;
}

function evaluate(n: Node, event: Record<string, unknown>): boolean {
  if ('or' in n) return n.or.some((p) => evaluate(p, event));
  if ('and' in n) return n.and.every((p) => evaluate(p, event));
  const a = value(n.left, event);
  const b = value(n.right, event);
  switch (n.cmp) {
    case '==':
      return a === b;
    case '!=':
      return a !== b;
    default: {
      if (typeof a !== typeof b || (typeof a !== 'number' && typeof a !== 'string')) return false;
      const x = a as number | string;
      const y = b as number | string;
      return n.cmp === '<' ? x < y : n.cmp === '<=' ? x <= y : n.cmp === '>' ? x > y : x >= y;
    }
  }
}

/** A compiled rule; throws MatchSyntaxError for what Berth cannot evaluate. An empty rule matches everything. */
export function compileMatch(expr: string): (event: Record<string, unknown>) => boolean {
  if (expr.trim() === '') return () => true;
  const tree = parse(tokenize(expr));
  return (event) => evaluate(tree, event);
}
