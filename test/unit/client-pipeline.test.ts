/** The client's pipelining rule (src/client/pipeline.ts): which auto-batched calls go now, which wait. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resolveOptions } from '../../src/client/options.ts';
import { Pipeline } from '../../src/client/pipeline.ts';
import type { CacheClientError } from '../../src/index.ts';

test('below the limit a turn goes now, however many calls it makes', () => {
  const p = new Pipeline<string>(2);
  assert.equal(p.admit('a', ['k1', 'k2']), true);
  p.started('a');
  assert.equal(p.admit('a', ['k3']), true, 'one outstanding of 2');
  p.started('a');
  p.started('a'); // a turn may make several calls (kinds, 500-key parts)
  assert.equal(p.outstanding('a'), 3);
  assert.equal(p.waiting('a'), 0);
});

test('at the limit a turn waits, in order, after what already waits; the first answer hands back all of it', () => {
  const p = new Pipeline<string>(1);
  assert.equal(p.admit('a', ['k1']), true);
  p.started('a');
  assert.equal(p.admit('a', ['k2', 'k3']), false);
  assert.equal(p.admit('a', ['k4']), false);
  assert.deepEqual([p.outstanding('a'), p.waiting('a')], [1, 3]);
  assert.deepEqual(p.answered('a'), ['k2', 'k3', 'k4']);
  assert.deepEqual([p.outstanding('a'), p.waiting('a')], [0, 0]);
  p.started('a'); // the flush goes out as one batch
  assert.equal(p.admit('a', ['k5']), false, 'the flush is outstanding');
  assert.deepEqual(p.answered('a'), ['k5']);
  assert.deepEqual(p.answered('a'), [], 'an answer with nothing waiting hands back nothing');
});

test('a turn waits while calls wait even if a slot is free (no overtaking)', () => {
  const p = new Pipeline<string>(2);
  p.started('a');
  p.started('a');
  assert.equal(p.admit('a', ['k1']), false);
  // a flush may go over the limit (one call per kind): the counts then exceed max
  p.started('a');
  assert.equal(p.admit('a', ['k2']), false);
  assert.deepEqual(p.answered('a'), ['k1', 'k2']);
});

test('addresses are independent', () => {
  const p = new Pipeline<string>(1);
  p.started('a');
  assert.equal(p.admit('a', ['x']), false);
  assert.equal(p.admit('b', ['y']), true);
  p.started('b');
  assert.deepEqual(p.answered('b'), []);
  assert.deepEqual(p.answered('a'), ['x']);
});

test('Infinity: nothing ever waits', () => {
  const p = new Pipeline<string>(Infinity);
  for (let i = 0; i < 10_000; i++) {
    assert.equal(p.admit('a', [`k${i}`]), true);
    p.started('a');
  }
  assert.equal(p.waiting('a'), 0);
});

test('drain hands back every waiting call and forgets the counts; late answers are harmless', () => {
  const p = new Pipeline<string>(1);
  p.started('a');
  p.started('b');
  p.admit('a', ['k1']);
  p.admit('b', ['k2', 'k3']);
  assert.deepEqual(p.drain().sort(), ['k1', 'k2', 'k3']);
  assert.deepEqual([p.outstanding('a'), p.waiting('a'), p.outstanding('b')], [0, 0, 0]);
  assert.deepEqual(p.answered('a'), []);
  assert.equal(p.admit('a', ['k4']), true);
});

test('an address with nothing outstanding and nothing waiting holds no state', () => {
  const p = new Pipeline<string>(1);
  p.started('a');
  p.admit('a', ['k1']);
  p.answered('a');
  assert.equal(p.admit('a', ['k2']), true, 'after the flush was handed back and not started, the address is free');
  // internal map emptied: outstanding 0 and a fresh admit passes
  assert.equal(p.outstanding('a'), 0);
});

test('maxInFlight option: default 8, Infinity allowed, bad values INVALID_ARGUMENT naming it', () => {
  assert.equal(resolveOptions({ seeds: 'h:1' }).maxInFlight, 8);
  assert.equal(resolveOptions({ seeds: 'h:1', maxInFlight: Infinity }).maxInFlight, Infinity);
  assert.equal(resolveOptions({ seeds: 'h:1', maxInFlight: 1 }).maxInFlight, 1);
  for (const bad of [0, -1, 1.5, Number.NaN, -Infinity, '4' as never]) {
    assert.throws(
      () => resolveOptions({ seeds: 'h:1', maxInFlight: bad }),
      (e: CacheClientError) => e.code === 'INVALID_ARGUMENT' && /maxInFlight must be an integer from 1/.test(e.details),
      String(bad),
    );
  }
});
