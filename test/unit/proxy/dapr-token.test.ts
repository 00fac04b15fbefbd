// The building-block API's token check reads the first `dapr-api-token` line, as daprd (Go's
// Header.Get): two identical lines (joined by the parser into `t, t`) were refused with 401.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { tokenMatches } from '../../../src/sidecar/proxy/dapr/api.js';

test('dapr-api-token: one line, two lines (joined or as an array), wrong or missing', () => {
  assert.equal(tokenMatches('s3cret', 's3cret'), true);
  assert.equal(tokenMatches('s3cret, s3cret', 's3cret'), true);
  assert.equal(tokenMatches('s3cret, other', 's3cret'), true);
  assert.equal(tokenMatches(['s3cret', 'other'], 's3cret'), true);
  assert.equal(tokenMatches('other, s3cret', 's3cret'), false);
  assert.equal(tokenMatches('s3cre', 's3cret'), false);
  assert.equal(tokenMatches(undefined, 's3cret'), false);
  // A token with a comma of its own still matches whole.
  assert.equal(tokenMatches('a,b', 'a,b'), true);
});
