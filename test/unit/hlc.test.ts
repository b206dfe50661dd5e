import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compareVersions, HybridClock, MAX_LOGICAL } from '../../src/hlc/hlc.ts';

test('timestamps strictly increase when the physical clock stands still or goes back', () => {
  let t = 1_000;
  const c = new HybridClock('a', () => t);
  const a = c.now();
  const b = c.now();
  t = 900; // clock stepped back
  const d = c.now();
  assert.ok(compareVersions(a.wall, a.logical, 'a', b.wall, b.logical, 'a') < 0);
  assert.ok(compareVersions(b.wall, b.logical, 'a', d.wall, d.logical, 'a') < 0);
  assert.equal(d.wall, 1_000);
  assert.equal(d.logical, 2);
});

test('physical time moving forward resets the logical counter', () => {
  let t = 1_000;
  const c = new HybridClock('a', () => t);
  c.now();
  c.now();
  t = 1_005;
  assert.deepEqual(c.now(), { wall: 1_005, logical: 0 });
});

test('observing a remote timestamp puts later local events after it', () => {
  const t = 1_000;
  const c = new HybridClock('a', () => t);
  c.observe(1_500, 7); // peer's clock is ahead
  const next = c.now();
  assert.deepEqual(next, { wall: 1_500, logical: 8 });
  assert.ok(compareVersions(1_500, 7, 'b', next.wall, next.logical, 'a') < 0);
});

test('a remote timestamp far in the future is refused', () => {
  const c = new HybridClock('a', () => 1_000, 10_000);
  assert.equal(c.observe(1_000 + 60_000, 0), false);
  assert.deepEqual(c.now(), { wall: 1_000, logical: 0 });
});

test('logical counter overflow borrows the next millisecond', () => {
  const c = new HybridClock('a', () => 1_000);
  c.observe(1_000, MAX_LOGICAL);
  assert.deepEqual(c.now(), { wall: 1_001, logical: 0 });
});

test('node id breaks ties between equal timestamps, identically on every replica', () => {
  assert.ok(compareVersions(5, 1, 'node-a', 5, 1, 'node-b') < 0);
  assert.ok(compareVersions(5, 1, 'node-b', 5, 1, 'node-a') > 0);
  assert.equal(compareVersions(5, 1, 'x', 5, 1, 'x'), 0);
  assert.ok(compareVersions(5, 2, 'a', 6, 0, 'a') < 0);
});
