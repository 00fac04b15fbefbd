// splitCommand: shell-like tokenising without a shell; envVarName.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { splitCommand, trySplitCommand, CommandSplitError, envVarName } from '../../../src/contract/index.js';

test('splits on whitespace, honouring quotes and escapes', () => {
  assert.deepEqual(splitCommand('node  web.js --port 8080'), ['node', 'web.js', '--port', '8080']);
  assert.deepEqual(splitCommand(`echo "a b" 'c d' e\\ f "x\\"y" 'it''s'`), ['echo', 'a b', 'c d', 'e f', 'x"y', 'its']);
  assert.deepEqual(splitCommand('a"b c"d'), ['ab cd']);
  assert.deepEqual(splitCommand('printf ""'), ['printf', '']);
  assert.deepEqual(splitCommand("x 'a\\b'"), ['x', 'a\\b']);
});

test('leaves $VARS, globs and ~ literal', () => {
  assert.deepEqual(splitCommand('echo $HOME ${PORT} "$X" *.js ~/x'), ['echo', '$HOME', '${PORT}', '$X', '*.js', '~/x']);
});

test('a # starting a word begins a comment; inside a word it is literal', () => {
  assert.deepEqual(splitCommand('node a#b.js # run it'), ['node', 'a#b.js']);
});

test('argv arrays pass through unchanged', () => {
  const argv = ['sh', '-c', 'a && b'];
  assert.deepEqual(splitCommand(argv), argv);
  assert.notEqual(splitCommand(argv), argv);
});

test('shell operators are refused with advice', () => {
  for (const [cmd, op] of [
    ['a && b', '&&'],
    ['a || b', '||'],
    ['a | b', '|'],
    ['a; b', ';'],
    ['a > out', '>'],
    ['a < in', '<'],
    ['a 2>&1', '>&'],
    ['a &', '&'],
    ['(a)', '('],
  ]) {
    const r = trySplitCommand(cmd);
    assert.equal(r.ok, false, cmd);
    if (r.ok) continue;
    assert.ok(r.message.includes(`"${op}"`), `${cmd}: ${r.message}`);
    assert.ok(r.hint.includes('"sh", "-c"'), r.hint);
  }
  assert.throws(() => splitCommand('a && b'), (e: unknown) => e instanceof CommandSplitError && e.hint.includes('sh'));
});

test('operators inside quotes are just text', () => {
  assert.deepEqual(splitCommand(`sh -c "a && b | c > d"`), ['sh', '-c', 'a && b | c > d']);
});

test('command substitution, unterminated quotes and empty commands are refused', () => {
  for (const cmd of ['echo $(date)', 'echo `date`', 'echo "$(date)"', 'node "web.js', "node 'web.js", '', '   ', '# only a comment']) {
    assert.equal(trySplitCommand(cmd).ok, false, JSON.stringify(cmd));
  }
  assert.equal(trySplitCommand([]).ok, false);
});

test('envVarName', () => {
  assert.equal(envVarName('order-db'), 'ORDER_DB');
  assert.equal(envVarName('web'), 'WEB');
  assert.equal(envVarName('a1-b2-c3'), 'A1_B2_C3');
});

test('the shortcut for plain words splits exactly as the tokeniser does (seeded random commands)', async () => {
  const { tokenise } = await import('../../../src/contract/command.js');
  const { rng } = await import('../../helpers/seeded-random.js');
  const r = rng(Number(process.env.BERTH_FUZZ_SEED ?? 7));
  const alphabet = ['a', 'Z', '0', '_', '.', '/', ':', '=', ',', '@', '%', '+', '-', ' ', ' ', '  ', '\t', '#', '$', '~', '&', '|', ';', '>', '<', '(', ')', '"', "'", '\\', '`', '*', 'é'];
  let plain = 0;
  for (let run = 0; run < 5000; run++) {
    let s = '';
    const n = Math.floor(r() * 12);
    for (let i = 0; i < n; i++) s += alphabet[Math.floor(r() * (run % 2 === 0 ? 15 : alphabet.length))];
    if (/^[\w./:=,@%+-]+(?: [\w./:=,@%+-]+)*$/.test(s)) plain++;
    assert.deepEqual(trySplitCommand(s), tokenise(s), JSON.stringify(s));
  }
  assert.ok(plain > 500, `only ${plain} plain commands`);
});
