import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Level, Outcome, QuorumCount, required } from '../../src/quorum/quorum.ts';

test('required answers per consistency level', () => {
  assert.equal(required(Level.One, 3, 2), 1);
  assert.equal(required(Level.Quorum, 3, 1), 2);
  assert.equal(required(Level.Quorum, 5, 1), 3);
  assert.equal(required(Level.Quorum, 4, 1), 3);
  assert.equal(required(Level.All, 3, 2), 3);
  assert.equal(required(Level.Default, 3, 2), 2);
  assert.equal(required(Level.Default, 1, 2), 1, 'capped by the replicas there are');
  assert.equal(required(Level.Quorum, 1, 2), 1);
  assert.equal(required(Level.All, 0, 2), 0);
});

test('quorum is reached once, at the W-th success', () => {
  const q = new QuorumCount(2, 3);
  assert.equal(q.success(), Outcome.Pending);
  assert.equal(q.success(), Outcome.Reached);
  assert.equal(q.success(), Outcome.Pending, 'later answers do not decide again');
  assert.equal(q.failure(), Outcome.Pending);
  assert.equal(q.outcome, Outcome.Reached);
});

test('quorum fails as soon as it can no longer be reached', () => {
  const q = new QuorumCount(2, 3);
  assert.equal(q.failure(), Outcome.Pending);
  assert.equal(q.failure(), Outcome.Failed);
  assert.equal(q.success(), Outcome.Pending);
  assert.equal(q.outcome, Outcome.Failed);
});

test('ALL fails on the first failure', () => {
  const q = new QuorumCount(3, 3);
  q.success();
  assert.equal(q.failure(), Outcome.Failed);
});
