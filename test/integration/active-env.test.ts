// Issue 19 point 4, environments made visible: the active environment is part of the app's state,
// shown by up, ps and ls; a plain `berth up`/`apply` keeps it (and says so), `--env NAME` switches and
// says from what, `--env default` goes back to the base spec.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { berth, berthOk, httpRequest, portBlock, tempApp, waitFor } from './harness/berth.js';

const appJs = `
import http from 'node:http';
http.createServer((req, res) => res.end(process.env.MODE ?? 'none')).listen(Number(process.env.PORT), process.env.HOST);
process.on('SIGTERM', () => process.exit(0));
`;
const spec = (port: number, withProd = true) => `app: envy
services:
  api:
    run: node app.mjs
    port: ${port}
    env: { MODE: base }
    stopGracePeriodSeconds: 2
${withProd ? 'environments:\n  prod:\n    services:\n      api:\n        env: { MODE: production }\n' : ''}`;

describe('the active environment', () => {
  const port = portBlock();
  const dir = tempApp({ 'app.mjs': appJs, 'berth.yaml': spec(port) });
  after(() => berth(dir, ['down']));
  const mode = () => httpRequest(`http://127.0.0.1:${port}/`).then((r) => r.body);

  test('shown by up, ps and ls; kept by plain up and apply; --env default goes back', async () => {
    const up = await berthOk(dir, ['up', '-d', '--wait', '--env', 'prod', '--timeout', '60']);
    assert.match(up.stdout, /envy is up \(environment prod\)/);
    assert.match(up.stderr, /environment default → prod/);
    await waitFor('prod serving', async () => (await mode()) === 'production');
    assert.match((await berthOk(dir, ['ps'])).stdout, /environment prod/);
    const ls = JSON.parse((await berthOk(dir, ['ls', '--json'])).stdout) as { name: string; environment: string | null }[];
    assert.equal(ls.find((a) => a.name === 'envy')?.environment, 'prod');

    // Plain apply and up keep prod, and say so.
    const apply = await berthOk(dir, ['apply']);
    assert.match(apply.stderr, /environment prod \(the app's active environment, kept/);
    assert.match(apply.stdout, /no change/);
    const again = await berthOk(dir, ['up', '-d']);
    assert.match(again.stderr, /environment prod/);
    assert.match(again.stdout, /environment prod/);
    assert.equal((await berth(dir, ['diff'])).code, 0, 'diff compares with the active environment too');
    assert.equal(await mode(), 'production');

    // --env default: back to the base spec, said.
    const back = await berthOk(dir, ['apply', '--env', 'default', '--wait']);
    assert.match(back.stderr, /environment prod → default/);
    await waitFor('base serving', async () => (await mode()) === 'base');
    assert.match((await berthOk(dir, ['ps'])).stdout, /environment default/);
    const plain = await berthOk(dir, ['apply']);
    assert.doesNotMatch(plain.stderr, /environment/, 'nothing to say when the base spec stays active');

    // An active environment the spec no longer has: a clear error naming it.
    await berthOk(dir, ['apply', '--env', 'prod', '--wait']);
    writeFileSync(join(dir, 'berth.yaml'), spec(port, false));
    const gone = await berth(dir, ['apply']);
    assert.equal(gone.code, 2);
    assert.match(gone.stderr, /active environment is prod; `--env default`/);
  });
});
