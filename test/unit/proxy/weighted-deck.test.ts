import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deckSlots, weightedDeck } from '../../../src/sidecar/proxy/weighted-deck.js';
import { rng as seeded } from '../../helpers/seeded-random.js';

test('deckSlots: weights reduced by their common divisor; large decks scaled to 1,000 keeping every destination', () => {
  assert.deepEqual(deckSlots([80, 20]), [4, 1]);
  assert.deepEqual(deckSlots([50, 50]), [1, 1]);
  assert.deepEqual(deckSlots([33, 67]), [33, 67]);
  assert.deepEqual(deckSlots([7]), [1]);
  const big = deckSlots([999_999, 1, 1000]);
  assert.equal(big.reduce((a, b) => a + b, 0), 1000);
  assert.ok(big.every((s) => s >= 1), String(big));
  assert.ok(Math.abs(big[0] - 998) <= 1, String(big));
});

test('weightedDeck: every deck of requests is split exactly, whatever the random source', () => {
  for (const seed of [1, 2, 3, 42, 1234]) {
    const pick = weightedDeck([20, 30, 50], seeded(seed));
    for (let round = 0; round < 50; round++) {
      const counts = [0, 0, 0];
      for (let i = 0; i < 10; i++) counts[pick()]++;
      assert.deepEqual(counts, [2, 3, 5], `seed ${seed} round ${round}`);
    }
  }
  // Even a random source stuck at its extremes deals a valid deck.
  for (const stuck of [() => 0, () => 0.999999]) {
    const pick = weightedDeck([80, 20], stuck);
    const counts = [0, 0];
    for (let i = 0; i < 500; i++) counts[pick()]++;
    assert.deepEqual(counts, [400, 100]);
  }
});

test('weightedDeck: the order within a deck changes from deck to deck (no fixed pattern a client could fall into)', () => {
  const pick = weightedDeck([80, 20], seeded(7));
  const canaryPlace = new Set<number>();
  for (let round = 0; round < 40; round++) for (let i = 0; i < 5; i++) if (pick() === 1) canaryPlace.add(i);
  assert.equal(canaryPlace.size, 5, 'the canary took every place in the deck at some point');
});
