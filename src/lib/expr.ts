// A small, safe expression language for analysis conditions (`successCondition`,
// `failureCondition`), close to the expr language Argo Rollouts evaluates them with:
//   result.canary.p99Ms < result.stable.p99Ms * 1.2 && result.canary.errorRate <= 0.01
//   len(result) > 0 && result[0] >= 0.95        not (result.ok == false)
// Literals (numbers, 'strings' / "strings", true, false, nil/null), member access (a.b, a["b"],
// a[0]), arithmetic (+ - * / %), comparisons (== != < <= > >=), logic (&& || ! and or not), calls
// of a few built-ins (len, abs, min, max, isNaN, isInf, asInt, asFloat). It is parsed into a tree
// and walked: never eval or Function, no access to prototypes (only own properties), bounded input
// length and nesting depth. Every problem — a parse error, a wrong type, a missing value — is an
// ExpressionError carrying the character position, and nothing else is ever thrown.

/** Longest expression accepted (characters). */
export const MAX_EXPRESSION_LENGTH = 4096;
/** Deepest nesting of the parse tree (keeps the recursive parser and evaluator off the stack limit). */
const MAX_DEPTH = 256;

export class ExpressionError extends Error {
  readonly code = 'BERTH_E_EXPRESSION';
  /** 0-based character offset in the expression text where the problem is. */
  readonly position: number;
  constructor(message: string, position: number) {
    super(`${message} (at character ${position + 1})`);
    this.name = 'ExpressionError';
    this.position = position;
  }
}

/** The parse tree (read-only use: the Kubernetes target translates conditions to PromQL). */
export type ExprNode = Node;

type Node =
  | { kind: 'literal'; value: unknown; pos: number }
  | { kind: 'ident'; name: string; pos: number }
  | { kind: 'member'; object: Node; key: Node; pos: number }
  | { kind: 'call'; name: string; args: Node[]; pos: number }
  | { kind: 'unary'; op: '!' | '-' | '+'; arg: Node; pos: number }
  | { kind: 'binary'; op: string; left: Node; right: Node; pos: number };

/** A parsed expression, ready to evaluate any number of times. */
export interface Expression {
  readonly text: string;
  /** The variables it reads (e.g. ["result"]). */
  readonly variables: readonly string[];
  /** The parse tree. */
  readonly tree: ExprNode;
  evaluate(vars: Readonly<Record<string, unknown>>): unknown;
}

// ------------------------------------------------------------------ tokens

type Token = { type: 'num'; value: number; pos: number } | { type: 'str'; value: string; pos: number } | { type: 'ident'; value: string; pos: number } | { type: 'op'; value: string; pos: number } | { type: 'end'; pos: number };

const OPERATORS = ['&&', '||', '==', '!=', '<=', '>=', '<', '>', '+', '-', '*', '/', '%', '!', '(', ')', '[', ']', '.', ','];
const WORD_OPERATORS: Record<string, string> = { and: '&&', or: '||', not: '!' };
const ESCAPES: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\', "'": "'", '"': '"', '0': '\0' };

function tokenize(text: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
      continue;
    }
    const num = /^(\d+(\.\d+)?|\.\d+)([eE][+-]?\d+)?/.exec(text.slice(i, i + 400));
    if (num) {
      out.push({ type: 'num', value: Number(num[0]), pos: i });
      i += num[0].length;
      continue;
    }
    if (c === '"' || c === "'") {
      const start = i;
      let s = '';
      i++;
      for (;;) {
        if (i >= text.length) throw new ExpressionError('unterminated string', start);
        const d = text[i];
        if (d === c) break;
        if (d === '\\') {
          const e = text[i + 1];
          if (e === undefined || !Object.hasOwn(ESCAPES, e)) throw new ExpressionError(`unknown escape \\${e ?? ''} in a string`, i);
          s += ESCAPES[e];
          i += 2;
          continue;
        }
        s += d;
        i++;
      }
      i++;
      out.push({ type: 'str', value: s, pos: start });
      continue;
    }
    const word = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(i, i + 200));
    if (word) {
      const w = word[0];
      if (Object.hasOwn(WORD_OPERATORS, w)) out.push({ type: 'op', value: WORD_OPERATORS[w], pos: i });
      else out.push({ type: 'ident', value: w, pos: i });
      i += w.length;
      continue;
    }
    const op = OPERATORS.find((o) => text.startsWith(o, i));
    if (!op) throw new ExpressionError(`unexpected character ${JSON.stringify(c)}`, i);
    out.push({ type: 'op', value: op, pos: i });
    i += op.length;
  }
  out.push({ type: 'end', pos: text.length });
  return out;
}

// ------------------------------------------------------------------ parser (precedence climbing)

const BINARY_LEVELS: string[][] = [['||'], ['&&'], ['==', '!='], ['<', '<=', '>', '>='], ['+', '-'], ['*', '/', '%']];
const FUNCTIONS = ['len', 'abs', 'min', 'max', 'isNaN', 'isInf', 'asInt', 'asFloat'] as const;
const CONSTANTS: Record<string, unknown> = { true: true, false: false, nil: null, null: null };

class Parser {
  private i = 0;
  constructor(private readonly tokens: Token[]) {}

  parse(): Node {
    const node = this.binary(0, 0);
    const t = this.peek();
    if (t.type !== 'end') throw new ExpressionError(`unexpected ${describe(t)}`, t.pos);
    return node;
  }

  private peek(): Token {
    return this.tokens[this.i];
  }

  private isOp(value: string): boolean {
    const t = this.peek();
    return t.type === 'op' && t.value === value;
  }

  private expect(value: string): void {
    const t = this.peek();
    if (t.type !== 'op' || t.value !== value) throw new ExpressionError(`expected "${value}" but found ${describe(t)}`, t.pos);
    this.i++;
  }

  private guard(depth: number, pos: number): void {
    if (depth > MAX_DEPTH) throw new ExpressionError(`the expression nests deeper than ${MAX_DEPTH} levels`, pos);
  }

  private binary(level: number, depth: number): Node {
    if (level >= BINARY_LEVELS.length) return this.unary(depth);
    this.guard(depth, this.peek().pos);
    let left = this.binary(level + 1, depth + 1);
    // A chain (a + b + c …) builds a left-deep tree: each link counts as a level for the evaluator.
    for (let chain = 1; ; chain++) {
      const t = this.peek();
      if (t.type !== 'op' || !BINARY_LEVELS[level].includes(t.value)) return left;
      this.guard(depth + chain, t.pos);
      this.i++;
      const right = this.binary(level + 1, depth + 1);
      left = { kind: 'binary', op: t.value, left, right, pos: t.pos };
    }
  }

  private unary(depth: number): Node {
    const t = this.peek();
    this.guard(depth, t.pos);
    if (t.type === 'op' && (t.value === '!' || t.value === '-' || t.value === '+')) {
      this.i++;
      return { kind: 'unary', op: t.value, arg: this.unary(depth + 1), pos: t.pos };
    }
    return this.postfix(depth);
  }

  private postfix(depth: number): Node {
    let node = this.primary(depth);
    for (;;) {
      const t = this.peek();
      this.guard(++depth, t.pos);
      if (this.isOp('.')) {
        this.i++;
        const name = this.peek();
        if (name.type !== 'ident') throw new ExpressionError(`expected a field name after "." but found ${describe(name)}`, name.pos);
        this.i++;
        node = { kind: 'member', object: node, key: { kind: 'literal', value: name.value, pos: name.pos }, pos: name.pos };
      } else if (this.isOp('[')) {
        this.i++;
        const key = this.binary(0, depth + 1);
        this.expect(']');
        node = { kind: 'member', object: node, key, pos: t.pos };
      } else return node;
    }
  }

  private primary(depth: number): Node {
    const t = this.peek();
    if (t.type === 'num' || t.type === 'str') {
      this.i++;
      return { kind: 'literal', value: t.value, pos: t.pos };
    }
    if (t.type === 'ident') {
      this.i++;
      if (Object.hasOwn(CONSTANTS, t.value)) return { kind: 'literal', value: CONSTANTS[t.value], pos: t.pos };
      if (this.isOp('(')) {
        if (!(FUNCTIONS as readonly string[]).includes(t.value)) throw new ExpressionError(`unknown function ${t.value}() (known: ${FUNCTIONS.join(', ')})`, t.pos);
        this.i++;
        const args: Node[] = [];
        if (!this.isOp(')')) {
          for (;;) {
            args.push(this.binary(0, depth + 1));
            if (!this.isOp(',')) break;
            this.i++;
          }
        }
        this.expect(')');
        checkArity(t.value, args.length, t.pos);
        return { kind: 'call', name: t.value, args, pos: t.pos };
      }
      return { kind: 'ident', name: t.value, pos: t.pos };
    }
    if (this.isOp('(')) {
      this.i++;
      const inner = this.binary(0, depth + 1);
      this.expect(')');
      return inner;
    }
    throw new ExpressionError(t.type === 'end' ? 'the expression ends too early' : `unexpected ${describe(t)}`, t.pos);
  }
}

function describe(t: Token): string {
  if (t.type === 'end') return 'the end of the expression';
  if (t.type === 'str') return `the string ${JSON.stringify(t.value)}`;
  return `"${String(t.value)}"`;
}

function checkArity(name: string, n: number, pos: number): void {
  const ok = name === 'min' || name === 'max' ? n >= 1 : n === 1;
  if (!ok) throw new ExpressionError(`${name}() takes ${name === 'min' || name === 'max' ? 'at least one argument' : 'one argument'}, not ${n}`, pos);
}

// ------------------------------------------------------------------ evaluation

function typeName(v: unknown): string {
  if (v === null || v === undefined) return 'nil';
  if (Array.isArray(v)) return 'a list';
  return typeof v === 'object' ? 'a map' : `a ${typeof v}`;
}

function show(node: Node): string {
  switch (node.kind) {
    case 'ident':
      return node.name;
    case 'literal':
      return JSON.stringify(node.value) ?? 'nil';
    case 'member':
      return node.key.kind === 'literal' && typeof node.key.value === 'string' && /^[A-Za-z_]\w*$/.test(node.key.value) ? `${show(node.object)}.${node.key.value}` : `${show(node.object)}[…]`;
    default:
      return 'the value';
  }
}

function num(v: unknown, node: Node, what: string): number {
  if (typeof v !== 'number') throw new ExpressionError(`${what} needs a number, but ${show(node)} is ${typeName(v)}`, node.pos);
  return v;
}

function bool(v: unknown, node: Node, what: string): boolean {
  if (typeof v !== 'boolean') throw new ExpressionError(`${what} needs true or false, but ${show(node)} is ${typeName(v)}`, node.pos);
  return v;
}

function member(object: unknown, key: unknown, node: Node & { kind: 'member' }): unknown {
  if (object === null || object === undefined) throw new ExpressionError(`${show(node.object)} is nil, so it has no ${typeof key === 'string' ? `field ${key}` : 'elements'}`, node.pos);
  if (Array.isArray(object)) {
    if (typeof key !== 'number' || !Number.isInteger(key)) throw new ExpressionError(`a list is indexed by a whole number, not ${typeName(key)}`, node.pos);
    const idx = key < 0 ? object.length + key : key;
    if (idx < 0 || idx >= object.length) throw new ExpressionError(`index ${key} is out of range (${show(node.object)} has ${object.length} element${object.length === 1 ? '' : 's'})`, node.pos);
    return object[idx] as unknown;
  }
  if (typeof object !== 'object') throw new ExpressionError(`${show(node.object)} is ${typeName(object)}, which has no fields`, node.pos);
  if (typeof key !== 'string') throw new ExpressionError(`a map is indexed by a string, not ${typeName(key)}`, node.pos);
  // Own properties only: nothing reaches a prototype (constructor, __proto__ …). A missing field is nil.
  return Object.hasOwn(object, key) ? ((object as Record<string, unknown>)[key] ?? null) : null;
}

function equal(a: unknown, b: unknown): boolean {
  if ((a === null || a === undefined) && (b === null || b === undefined)) return true;
  return a === b;
}

function compare(op: string, a: unknown, b: unknown, node: Node & { kind: 'binary' }): boolean {
  const bothStrings = typeof a === 'string' && typeof b === 'string';
  if (!bothStrings && (typeof a !== 'number' || typeof b !== 'number'))
    throw new ExpressionError(`${op} compares two numbers or two strings, but ${show(node.left)} is ${typeName(a)} and ${show(node.right)} is ${typeName(b)}`, node.pos);
  const x = a as number | string;
  const y = b as number | string;
  switch (op) {
    case '<':
      return x < y;
    case '<=':
      return x <= y;
    case '>':
      return x > y;
    default:
      return x >= y;
  }
}

function call(name: string, args: unknown[], node: Node & { kind: 'call' }): unknown {
  const at = (i: number) => node.args[i];
  switch (name) {
    case 'len': {
      const v = args[0];
      if (typeof v === 'string' || Array.isArray(v)) return v.length;
      if (v !== null && typeof v === 'object') return Object.keys(v).length;
      throw new ExpressionError(`len() takes a list, a map or a string, but ${show(at(0))} is ${typeName(v)}`, node.pos);
    }
    case 'abs':
      return Math.abs(num(args[0], at(0), 'abs()'));
    case 'min':
    case 'max': {
      const values = args.length === 1 && Array.isArray(args[0]) ? (args[0] as unknown[]) : args;
      if (values.length === 0) throw new ExpressionError(`${name}() of an empty list`, node.pos);
      const nums = values.map((v, i) => num(v, at(Math.min(i, node.args.length - 1)), `${name}()`));
      return name === 'min' ? Math.min(...nums) : Math.max(...nums);
    }
    case 'isNaN':
      return Number.isNaN(num(args[0], at(0), 'isNaN()'));
    case 'isInf': {
      const v = num(args[0], at(0), 'isInf()');
      return v === Infinity || v === -Infinity;
    }
    default: {
      // asInt / asFloat: numbers from strings, as Argo's helpers of the same names.
      const v = args[0];
      const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
      if (Number.isNaN(n) && !(typeof v === 'number')) throw new ExpressionError(`${name}() cannot read a number from ${show(at(0))} (${typeName(v)})`, node.pos);
      return name === 'asInt' ? Math.trunc(n) : n;
    }
  }
}

function evalNode(node: Node, vars: Readonly<Record<string, unknown>>): unknown {
  switch (node.kind) {
    case 'literal':
      return node.value;
    case 'ident':
      if (!Object.hasOwn(vars, node.name)) throw new ExpressionError(`unknown name ${node.name} (known: ${Object.keys(vars).join(', ') || 'none'})`, node.pos);
      return vars[node.name] ?? null;
    case 'member':
      return member(evalNode(node.object, vars), evalNode(node.key, vars), node);
    case 'call':
      return call(
        node.name,
        node.args.map((a) => evalNode(a, vars)),
        node,
      );
    case 'unary': {
      const v = evalNode(node.arg, vars);
      if (node.op === '!') return !bool(v, node.arg, '!');
      const n = num(v, node.arg, `unary ${node.op}`);
      return node.op === '-' ? -n : n;
    }
    case 'binary': {
      const { op } = node;
      if (op === '&&' || op === '||') {
        const l = bool(evalNode(node.left, vars), node.left, op);
        if (op === '&&' ? !l : l) return l;
        return bool(evalNode(node.right, vars), node.right, op);
      }
      const l = evalNode(node.left, vars);
      const r = evalNode(node.right, vars);
      if (op === '==') return equal(l, r);
      if (op === '!=') return !equal(l, r);
      if (op === '<' || op === '<=' || op === '>' || op === '>=') return compare(op, l, r, node);
      if (op === '+' && typeof l === 'string' && typeof r === 'string') return l + r;
      const a = num(l, node.left, op);
      const b = num(r, node.right, op);
      switch (op) {
        case '+':
          return a + b;
        case '-':
          return a - b;
        case '*':
          return a * b;
        case '/':
          return a / b;
        default:
          return a % b;
      }
    }
  }
}

function collectVariables(node: Node, out: Set<string>): void {
  switch (node.kind) {
    case 'ident':
      out.add(node.name);
      return;
    case 'member':
      collectVariables(node.object, out);
      collectVariables(node.key, out);
      return;
    case 'call':
      for (const a of node.args) collectVariables(a, out);
      return;
    case 'unary':
      collectVariables(node.arg, out);
      return;
    case 'binary':
      collectVariables(node.left, out);
      collectVariables(node.right, out);
      return;
    default:
  }
}

// ------------------------------------------------------------------ public surface

/** Parses `text`; throws ExpressionError (with the position) when it is not a valid expression. */
export function parseExpression(text: string): Expression {
  if (typeof text !== 'string') throw new ExpressionError('an expression must be a string', 0);
  if (text.length > MAX_EXPRESSION_LENGTH) throw new ExpressionError(`the expression is longer than ${MAX_EXPRESSION_LENGTH} characters`, MAX_EXPRESSION_LENGTH);
  if (text.trim() === '') throw new ExpressionError('the expression is empty', 0);
  const root = new Parser(tokenize(text)).parse();
  const names = new Set<string>();
  collectVariables(root, names);
  return {
    text,
    variables: [...names],
    tree: root,
    evaluate: (vars) => {
      try {
        return evalNode(root, vars);
      } catch (err) {
        if (err instanceof ExpressionError) throw err;
        // Defensive: a value the walker cannot handle (e.g. a getter that throws) is still this module's error.
        throw new ExpressionError(`cannot evaluate: ${err instanceof Error ? err.message : String(err)}`, 0);
      }
    },
  };
}

/** Evaluates a condition: it must yield true or false (anything else is an ExpressionError). */
export function evaluateCondition(expr: Expression | string, vars: Readonly<Record<string, unknown>>): boolean {
  const e = typeof expr === 'string' ? parseExpression(expr) : expr;
  const v = e.evaluate(vars);
  if (typeof v !== 'boolean') throw new ExpressionError(`a condition must be true or false, but this one gives ${typeName(v)}`, 0);
  return v;
}
