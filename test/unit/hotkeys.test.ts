/** The hot-key top-k (src/hotkeys/topk.ts), directly: its contract, against exact counts. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HOT_KEYS, hottest, SampledCounter, shownKey, TopK } from '../../src/hotkeys/topk.ts';
import { seeded, zipf } from '../helpers/random.ts';

/** Keys k0..k(n-1) drawn by Zipf(s), k0 the most frequent. */
function zipfKeys(n: number, s: number, rand: () => number): () => string {
  const next = zipf(n, s, rand);
  return () => `k${next()}`;
}

test('under capacity every count is exact (error 0), largest first, ties in key order', () => {
  const t = new TopK({ capacity: 8, windowMs: 60_000 }, 0);
  for (const [k, n] of [
    ['b', 3],
    ['a', 3],
    ['c', 5],
    ['d', 1],
  ] as const)
    for (let i = 0; i < n; i++) t.hit(k);
  assert.deepEqual(t.top(10), [
    { key: 'c', count: 5, error: 0 },
    { key: 'a', count: 3, error: 0 },
    { key: 'b', count: 3, error: 0 },
    { key: 'd', count: 1, error: 0 },
  ]);
  assert.deepEqual(
    t.top(2).map((h) => h.key),
    ['c', 'a'],
  );
  assert.deepEqual(t.top(0), []);
  assert.equal(t.tracked, 4);
  assert.deepEqual(new TopK({ capacity: 1, windowMs: 0 }, 0).top(5), [], 'nothing seen, nothing reported');
});

test('a new key takes over the smallest counter: count min + 1, error min', () => {
  const t = new TopK({ capacity: 2, windowMs: 0 }, 0);
  for (let i = 0; i < 5; i++) t.hit('a');
  t.hit('b');
  t.hit('b');
  t.hit('c'); // replaces b (2)
  assert.deepEqual(t.top(5), [
    { key: 'a', count: 5, error: 0 },
    { key: 'c', count: 3, error: 2 },
  ]);
  t.hit('c');
  t.hit('c');
  t.hit('c'); // c: 6 > a: 5
  t.hit('d'); // replaces a (5), the smallest now
  assert.deepEqual(t.top(5), [
    { key: 'c', count: 6, error: 2 },
    { key: 'd', count: 6, error: 5 },
  ]);
});

test('the error bound holds on random streams, and untracked keys are below the smallest counter', () => {
  for (const seed of [1, 2, 3, 4, 5]) {
    const rand = seeded(seed);
    const capacity = 1 + Math.floor(rand() * 16);
    const distinct = 1 + Math.floor(rand() * 60);
    const t = new TopK({ capacity, windowMs: 1000 }, 0);
    const exact = new Map<string, number>();
    let now = 0;
    let total = 0;
    for (let i = 0; i < 5000; i++) {
      const key = `k${Math.floor(rand() ** 3 * distinct)}`;
      t.hit(key);
      exact.set(key, (exact.get(key) ?? 0) + 1);
      total++;
      if (rand() < 0.01) {
        const before = now;
        now += Math.floor(rand() * 2500);
        const halvings = Math.floor(now / 1000) - Math.floor(before / 1000);
        t.tick(now);
        for (const [k, v] of exact) exact.set(k, v / 2 ** halvings);
        total /= 2 ** halvings;
      }
      if (i % 97 !== 0) continue;
      const top = t.top(capacity);
      const shown = new Set(top.map((h) => h.key));
      for (const h of top) {
        const truth = exact.get(h.key) ?? 0;
        assert.ok(truth <= h.count + 1e-9, `seed ${seed}: ${h.key} count ${h.count} < true ${truth}`);
        assert.ok(h.count - h.error <= truth + 1e-9, `seed ${seed}: ${h.key} lower bound ${h.count - h.error} > true ${truth}`);
        assert.ok(h.error >= 0 && Number.isInteger(h.count) && Number.isInteger(h.error));
      }
      assert.ok(t.tracked <= capacity);
      if (t.tracked === capacity && top.length === capacity) {
        const min = Math.min(...top.map((h) => h.count));
        assert.ok(min <= total / capacity + 1, `smallest counter ${min} over total/capacity ${total / capacity}`);
        for (const [k, v] of exact) if (!shown.has(k)) assert.ok(v <= min + 1e-9, `seed ${seed}: untracked ${k} has ${v} > ${min}`);
      }
    }
  }
});

test('a Zipf stream: the true top 10 are found, in order, with counts close to the truth', () => {
  const next = zipfKeys(10_000, 1.1, seeded(42));
  const t = new TopK({ capacity: 64, windowMs: 60_000 }, 0);
  const exact = new Map<string, number>();
  for (let i = 0; i < 200_000; i++) {
    const k = next();
    t.hit(k);
    exact.set(k, (exact.get(k) ?? 0) + 1);
  }
  const truth = [...exact].sort((a, b) => b[1] - a[1]).slice(0, 10);
  const top = t.top(10);
  assert.deepEqual(
    top.map((h) => h.key),
    truth.map(([k]) => k),
  );
  for (const h of top) {
    const real = exact.get(h.key)!;
    assert.ok(h.count >= real && h.count - h.error <= real);
    assert.ok(h.count - real <= 0.05 * real, `${h.key}: ${h.count} against ${real}`);
  }
  assert.equal(t.tracked, 64, 'memory: 64 counters, for 10,000 distinct keys');
});

test('bounded memory: a million distinct keys keep capacity counters', () => {
  const t = new TopK({ capacity: 16, windowMs: 0 }, 0);
  for (let i = 0; i < 1_000_000; i++) t.hit(`u${i}`);
  assert.equal(t.tracked, 16);
  assert.equal(t.top(100).length, 16);
  for (const h of t.top(100)) assert.equal(h.count - h.error, 1, 'each seen once: the lower bound says so');
});

test('decay: counts halve once per window, late ticks catch up, windowMs 0 never decays', () => {
  const t = new TopK({ capacity: 4, windowMs: 1000 }, 500);
  for (let i = 0; i < 80; i++) t.hit('a');
  t.tick(1499);
  assert.equal(t.top(1)[0]!.count, 80, 'less than a window since the start: no halving');
  t.tick(1500);
  assert.equal(t.top(1)[0]!.count, 40);
  t.tick(2499);
  assert.equal(t.top(1)[0]!.count, 40, 'windows are counted from the last halving');
  t.tick(4600); // three windows (2500, 3500, 4500)
  assert.deepEqual(t.top(1), [{ key: 'a', count: 5, error: 0 }]);
  t.tick(5500);
  assert.deepEqual(t.top(1), [{ key: 'a', count: 3, error: 1 }], '2.5 reported as 3 with lower bound 2');
  t.tick(1e15);
  assert.deepEqual(t.top(1), [], 'a count decayed below 1/2 is not reported');
  t.hit('b');
  assert.deepEqual(t.top(5), [{ key: 'b', count: 1, error: 0 }]);

  const never = new TopK({ capacity: 2, windowMs: 0 }, 0);
  never.hit('x');
  never.tick(1e12);
  assert.deepEqual(never.top(1), [{ key: 'x', count: 1, error: 0 }]);
});

test('a key that stops being hot falls out; the new hot key leads within a few windows', () => {
  const t = new TopK({ capacity: 8, windowMs: 60_000 }, 0);
  const rand = seeded(7);
  let now = 0;
  const minute = (hot: string) => {
    for (let i = 0; i < 6000; i++) t.hit(rand() < 0.5 ? hot : `cold${Math.floor(rand() * 500)}`);
    now += 60_000;
    t.tick(now);
  };
  for (let m = 0; m < 10; m++) minute('old');
  assert.equal(t.top(1)[0]!.key, 'old');
  minute('new');
  assert.equal(t.top(1)[0]!.key, 'new', 'a window of the new key outweighs the halved past');
  for (let m = 0; m < 12; m++) minute('new');
  assert.ok(!t.top(10).some((h) => h.key === 'old'), 'old is gone after enough halvings');
});

test('options are checked', () => {
  assert.throws(() => new TopK({ capacity: 0, windowMs: 0 }, 0), RangeError);
  assert.throws(() => new TopK({ capacity: 1.5, windowMs: 0 }, 0), RangeError);
  assert.throws(() => new TopK({ capacity: 1, windowMs: -1 }, 0), RangeError);
  assert.throws(() => new TopK({ capacity: 1, windowMs: Number.NaN }, 0), RangeError);
});

test('shownKey cuts long keys to 200 characters without splitting a surrogate pair', () => {
  assert.equal(shownKey('short'), 'short');
  assert.equal(shownKey('x'.repeat(200)), 'x'.repeat(200));
  const cut = shownKey('y'.repeat(300));
  assert.equal(cut.length, 200);
  assert.ok(cut.endsWith('…'));
  const emoji = `${'z'.repeat(198)}😀tail`; // the pair sits at 198-199
  const e = shownKey(emoji);
  assert.equal(e, `${'z'.repeat(198)}…`);
  assert.equal(shownKey('abcdef', 4), 'abc…');
});

test('weighted hits: the bounds hold with weights (a take-over starts at min + weight)', () => {
  const t = new TopK({ capacity: 2, windowMs: 0 }, 0);
  t.hit('a', 8);
  t.hit('b', 3);
  t.hit('c', 4); // takes b's counter: 3 + 4, error 3
  assert.deepEqual(t.top(5), [
    { key: 'a', count: 8, error: 0 },
    { key: 'c', count: 7, error: 3 },
  ]);
});

test('SampledCounter: 1 in 1 counts every hit; 1 in 8 counts about 1/8 of them, weight 8, unbiased', () => {
  const exact = new TopK({ capacity: 4, windowMs: 0 }, 0);
  const all = new SampledCounter(exact, 1, () => {
    throw new Error('1 in 1 needs no randomness');
  });
  for (let i = 0; i < 100; i++) all.hit(i % 2 ? 'odd' : 'even');
  assert.deepEqual(exact.top(5), [
    { key: 'even', count: 50, error: 0 },
    { key: 'odd', count: 50, error: 0 },
  ]);

  const t = new TopK({ capacity: 16, windowMs: 0 }, 0);
  let draws = 0;
  const rand = seeded(99);
  const sampled = new SampledCounter(t, 8, () => {
    draws++;
    return rand();
  });
  // A client cycling through 8 keys: each is seen, none takes every sample.
  for (let i = 0; i < 80_000; i++) sampled.hit(`c${i % 8}`);
  const top = t.top(16);
  assert.equal(top.length, 8);
  for (const h of top) {
    assert.equal(h.count % 8, 0, 'weights of 8');
    assert.ok(Math.abs(h.count - 10_000) < 1_500, `${h.key}: ${h.count} against 10,000`);
  }
  assert.ok(draws > 8_000 && draws < 12_000, `one random draw per counted hit (${draws})`);
  assert.throws(() => new SampledCounter(t, 0), RangeError);
  assert.throws(() => new SampledCounter(t, 2.5), RangeError);
});

test('hottest: the top keys as shown, keys cut to 200 characters', () => {
  const t = new TopK(HOT_KEYS, 0);
  const long = 'L'.repeat(500);
  for (let i = 0; i < 3; i++) t.hit(long);
  t.hit('short');
  assert.deepEqual(hottest(t, HOT_KEYS.shown), [
    { key: `${'L'.repeat(199)}…`, count: 3, error: 0 },
    { key: 'short', count: 1, error: 0 },
  ]);
  assert.equal(hottest(t, 1).length, 1);
});
