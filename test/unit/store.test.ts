import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { EntryRecord } from '../../src/store/store.ts';
import { ENTRY_OVERHEAD_BYTES, EntryTooLargeError, entryBytes } from '../../src/store/store.ts';
import { clockedStore } from '../helpers/records.ts';

const mk = clockedStore;

function rec(value: string, wall: number, extra: Partial<EntryRecord> = {}): EntryRecord {
  return { value, binary: false, wall, logical: 0, node: 'n1', expiresAt: 0, tombstone: false, ...extra };
}

function tomb(wall: number, extra: Partial<EntryRecord> = {}): EntryRecord {
  return rec('', wall, { tombstone: true, ...extra });
}

test('apply then get/peek returns the record; missing keys are misses', () => {
  const { store } = mk();
  const r = rec('hello', 10, { logical: 3, node: 'node-a' });
  assert.equal(store.apply('k', r), true);
  assert.deepEqual(store.get('k'), r);
  assert.deepEqual(store.peek('k'), r);
  assert.equal(store.get('nope'), undefined);
  assert.equal(store.size, 1);
  const st = store.stats();
  assert.equal(st.hits, 1);
  assert.equal(st.misses, 1);
  assert.equal(st.items, 1);
  assert.equal(st.bytes, entryBytes('k', 'hello', false));
});

test('binary values round-trip as latin1 strings and are charged one byte per char', () => {
  const { store } = mk();
  const bytes = Buffer.from([0, 255, 128, 7]).toString('latin1');
  store.apply('b', rec(bytes, 1, { binary: true }));
  const got = store.get('b')!;
  assert.equal(got.binary, true);
  assert.deepEqual(Buffer.from(got.value, 'latin1'), Buffer.from([0, 255, 128, 7]));
  assert.equal(store.stats().bytes, ENTRY_OVERHEAD_BYTES + 1 + 4);
  // text is charged its UTF-8 bytes
  store.apply('t', rec('é', 1));
  assert.equal(store.stats().bytes, ENTRY_OVERHEAD_BYTES + 1 + 4 + ENTRY_OVERHEAD_BYTES + 1 + 2);
});

test('LWW: an older version never overwrites a newer one; equal versions are not re-applied', () => {
  const { store } = mk();
  assert.equal(store.apply('k', rec('v2', 20)), true);
  assert.equal(store.apply('k', rec('v1', 10)), false);
  assert.equal(store.apply('k', rec('v1b', 19, { logical: 65535 })), false);
  assert.equal(store.apply('k', rec('same', 20)), false);
  assert.equal(store.get('k')!.value, 'v2');
  assert.equal(store.apply('k', rec('v3', 20, { logical: 1 })), true);
  assert.equal(store.get('k')!.value, 'v3');
  assert.equal(store.apply('k', rec('v4', 21)), true);
  assert.equal(store.get('k')!.value, 'v4');
});

test('LWW: equal wall and logical are ordered by node id', () => {
  const { store } = mk();
  assert.equal(store.apply('k', rec('from-b', 10, { logical: 2, node: 'b' })), true);
  assert.equal(store.apply('k', rec('from-a', 10, { logical: 2, node: 'a' })), false);
  assert.equal(store.get('k')!.value, 'from-b');
  assert.equal(store.apply('k', rec('from-c', 10, { logical: 2, node: 'c' })), true);
  assert.deepEqual(store.get('k'), rec('from-c', 10, { logical: 2, node: 'c' }));
});

test('LWW with tombstones: a tombstone beats an older value and loses to a newer one', () => {
  const { store, clock } = mk();
  store.apply('k', rec('v', 10));
  assert.equal(store.apply('k', tomb(11, { expiresAt: 123 })), true);
  assert.equal(store.get('k'), undefined);
  const t = store.peek('k')!;
  assert.equal(t.tombstone, true);
  assert.equal(t.value, '');
  assert.equal(t.expiresAt, clock.t + 5_000, 'tombstone expiry is now + grace, rec.expiresAt ignored');
  assert.equal(store.size, 0);
  assert.equal(store.stats().tombstones, 1);
  assert.equal(store.stats().bytes, entryBytes('k', '', false));
  // an older write does not resurrect the key
  assert.equal(store.apply('k', rec('stale', 10, { logical: 9 })), false);
  assert.equal(store.get('k'), undefined);
  // an older tombstone does not replace the newer one either
  assert.equal(store.apply('k', tomb(5)), false);
  // a newer write wins over the tombstone
  assert.equal(store.apply('k', rec('back', 12)), true);
  assert.equal(store.get('k')!.value, 'back');
  assert.equal(store.stats().tombstones, 0);
  assert.equal(store.size, 1);
  // a tombstone older than the value loses
  assert.equal(store.apply('k', tomb(11)), false);
  assert.equal(store.get('k')!.value, 'back');
  // a tombstone for an absent key is stored
  assert.equal(store.apply('other', tomb(1)), true);
  assert.equal(store.peek('other')!.tombstone, true);
});

test('TTL: never returned at or after expiry, reclaimed by sweep and counted as expiration', () => {
  const { store, clock } = mk();
  store.apply('a', rec('x', 1, { expiresAt: 2_000 }));
  store.apply('b', rec('y', 1, { expiresAt: 3_000 }));
  store.apply('c', rec('z', 1));
  assert.equal(store.get('a')!.expiresAt, 2_000);
  clock.t = 2_000;
  assert.equal(store.peek('a'), undefined);
  assert.deepEqual([...store.entries()].map(([k]) => k).sort(), ['b', 'c']);
  assert.equal(store.sweep(10), 1);
  assert.equal(store.stats().expirations, 1);
  assert.equal(store.size, 2);
  clock.t = 10_000;
  assert.equal(store.get('b'), undefined);
  assert.equal(store.stats().expirations, 2, 'get reclaims the expired entry it finds');
  assert.equal(store.sweep(10), 0);
  assert.equal(store.size, 1);
  assert.equal(store.stats().bytes, entryBytes('c', 'z', false));
});

test('TTL: an already expired record is not stored; an expired entry counts as absent for LWW', () => {
  const { store, clock } = mk();
  assert.equal(store.apply('k', rec('old', 1, { expiresAt: 1_000 })), false);
  assert.equal(store.peek('k'), undefined);
  store.apply('k', rec('v', 50, { expiresAt: 1_500 }));
  clock.t = 1_500;
  assert.equal(store.apply('k', rec('older-but-live', 40)), true);
  assert.equal(store.get('k')!.value, 'older-but-live');
  assert.equal(store.stats().expirations, 1);
});

test('TTL: overwrite can change, add or remove the expiry', () => {
  const { store, clock } = mk();
  store.apply('k', rec('v1', 1, { expiresAt: 1_100 }));
  store.apply('k', rec('v2', 2, { expiresAt: 5_000 }));
  clock.t = 2_000;
  assert.equal(store.get('k')!.value, 'v2');
  store.apply('k', rec('v3', 3));
  clock.t = 1e12;
  assert.equal(store.get('k')!.value, 'v3');
  assert.equal(store.sweep(10), 0);
});

test('apply() reclaims a few expired entries without a sweep', () => {
  const { store, clock } = mk();
  for (let i = 0; i < 10; i++) store.apply(`k${i}`, rec('v', 1, { expiresAt: 1_500 + i }));
  clock.t = 5_000;
  store.apply('fresh', rec('v', 1));
  const exp = store.stats().expirations;
  assert.ok(exp >= 1 && exp <= 4, `reclaimed ${exp}`);
  assert.equal(store.size, 11 - exp);
  assert.equal(store.sweep(100), 10 - exp);
  assert.equal(store.size, 1);
});

test('tombstones are kept for the grace period, then reclaimed (not counted as expirations)', () => {
  const { store, clock } = mk();
  store.apply('k', rec('v', 1));
  store.apply('k', tomb(2));
  clock.t = 1_000 + 4_999;
  assert.equal(store.peek('k')!.tombstone, true);
  assert.equal(store.sweep(10), 0);
  clock.t = 1_000 + 5_000;
  assert.equal(store.peek('k'), undefined);
  assert.deepEqual([...store.entries()], []);
  assert.equal(store.sweep(10), 1);
  const st = store.stats();
  assert.equal(st.tombstones, 0);
  assert.equal(st.expirations, 0);
  assert.equal(st.bytes, 0);
  // after the grace period an older write is accepted again (the delete is forgotten)
  assert.equal(store.apply('k', rec('late', 1)), true);
});

test('a tombstone with zero grace removes an older entry and is not kept', () => {
  const { store } = mk({ tombstoneGraceMs: 0 });
  store.apply('k', rec('v', 1));
  assert.equal(store.apply('k', tomb(2)), true);
  assert.equal(store.peek('k'), undefined);
  assert.equal(store.stats().tombstones, 0);
  assert.equal(store.size, 0);
  assert.equal(store.apply('x', tomb(2)), true);
  assert.equal(store.peek('x'), undefined);
});

test('capacity: one shard evicts by LRU, get counts as use', () => {
  const { store } = mk({ capacity: 3 });
  store.apply('a', rec('1', 1));
  store.apply('b', rec('2', 1));
  store.apply('c', rec('3', 1));
  store.get('a');
  store.apply('d', rec('4', 1));
  assert.equal(store.peek('b'), undefined);
  assert.deepEqual([...store.entries()].map(([k]) => k).sort(), ['a', 'c', 'd']);
  // an overwriting apply counts as use too
  store.apply('c', rec('3b', 2));
  store.apply('e', rec('5', 1));
  assert.equal(store.peek('a'), undefined);
  assert.deepEqual([...store.entries()].map(([k]) => k).sort(), ['c', 'd', 'e']);
  assert.equal(store.stats().evictions, 2);
  assert.equal(store.size, 3);
});

test('capacity: FIFO keeps insertion order through reads and overwrites', () => {
  const { store } = mk({ capacity: 2, policy: 'fifo' });
  store.apply('a', rec('1', 1));
  store.apply('b', rec('2', 1));
  store.get('a');
  store.apply('a', rec('1b', 2)); // keeps its place: still the oldest
  store.apply('c', rec('3', 1));
  assert.equal(store.peek('a'), undefined);
  assert.equal(store.get('b')!.value, '2');
  assert.equal(store.get('c')!.value, '3');
});

test('capacity: LFU evicts the least read key, ties by least recently used', () => {
  const { store } = mk({ capacity: 3, policy: 'lfu' });
  store.apply('a', rec('1', 1));
  store.apply('b', rec('2', 1));
  store.apply('c', rec('3', 1));
  store.get('a');
  store.get('a');
  store.get('b');
  store.get('c');
  store.apply('d', rec('4', 1)); // b and c have 2 uses each, b's last use is older -> b
  assert.equal(store.peek('b'), undefined);
  store.apply('e', rec('5', 1)); // d has 1 use -> evicted
  assert.equal(store.peek('d'), undefined);
  assert.deepEqual([...store.entries()].map(([k]) => k).sort(), ['a', 'c', 'e']);
});

test('capacity: TTL evicts the soonest expiring key, keys without TTL last (oldest first)', () => {
  const { store, clock } = mk({ capacity: 4, policy: 'ttl' });
  store.apply('forever1', rec('1', 1));
  store.apply('late', rec('2', 1, { expiresAt: clock.t + 9_000 }));
  store.apply('soon', rec('3', 1, { expiresAt: clock.t + 1_000 }));
  store.apply('forever2', rec('4', 1));
  store.get('soon'); // reads do not matter
  store.apply('e', rec('5', 1, { expiresAt: clock.t + 5_000 }));
  assert.equal(store.peek('soon'), undefined);
  store.apply('f', rec('6', 1)); // e expires before late
  assert.equal(store.peek('e'), undefined);
  // late (its expiry changed by an overwrite) is the last key with a TTL: it goes next, then
  // the keys without TTL, oldest first
  store.apply('late', rec('2b', 2, { expiresAt: clock.t + 2_000 }));
  store.apply('g', rec('7', 1));
  assert.equal(store.peek('late'), undefined);
  store.apply('h', rec('8', 1));
  assert.equal(store.peek('forever1'), undefined);
  assert.deepEqual([...store.entries()].map(([k]) => k).sort(), ['f', 'forever2', 'g', 'h']);
  assert.equal(store.stats().evictions, 4);
  assert.equal(store.stats().expirations, 0);
});

test('capacity: random evicts some other key, never the one being written, and keeps the limits', () => {
  const { store } = mk({ capacity: 5, policy: 'random' });
  let notNewest = 0;
  for (let i = 0; i < 500; i++) {
    store.apply(`k${i}`, rec('v', 1));
    assert.equal(store.get(`k${i}`)!.value, 'v');
    assert.equal(store.size, Math.min(i + 1, 5));
    const keys = [...store.keys()].map((k) => Number(k.slice(1)));
    if (keys.some((n) => n < i - 4)) notNewest++;
  }
  assert.equal(store.stats().evictions, 495);
  // not FIFO or LRU (which would always keep the 5 newest here): older keys often survive
  // (with random victims the 5 newest are all that is left about 1 time in 10)
  assert.ok(notNewest > 200, `${notNewest}`);
});

test('capacity is split across shards: ceil(capacity / shards) entries each', () => {
  const { store } = mk({ shards: 4, capacity: 10 });
  for (let i = 0; i < 200; i++) store.apply(`key-${i}`, rec('v', 1));
  const perShard = [0, 0, 0, 0];
  for (const [k] of store.entries()) perShard[store.shardOf(k)]++;
  assert.deepEqual(perShard, [3, 3, 3, 3]);
  const st = store.stats();
  assert.equal(st.items, 12);
  assert.equal(st.evictions, 200 - 12);
});

test('shardOf is stable, in range, and spreads keys', () => {
  const { store } = mk({ shards: 8 });
  const counts = new Array(8).fill(0);
  for (let i = 0; i < 8000; i++) {
    const s = store.shardOf(`user:${i}`);
    assert.ok(s >= 0 && s < 8);
    counts[s]++;
  }
  assert.equal(store.shardOf('abc'), store.shardOf('abc'));
  for (const c of counts) assert.ok(c > 800 && c < 1200, `${counts}`);
});

test('expired entries are reclaimed before a live entry is evicted', () => {
  const { store, clock } = mk({ capacity: 2 });
  store.apply('ttl', rec('1', 1, { expiresAt: 1_500 }));
  store.apply('live', rec('2', 1));
  clock.t = 2_000;
  store.apply('new', rec('3', 1));
  assert.equal(store.get('live')!.value, '2');
  assert.equal(store.stats().evictions, 0);
  assert.equal(store.stats().expirations, 1);
});

test('memory budget: evicts until the new entry fits; stats().bytes is the sum of entry sizes', () => {
  const v = 'x'.repeat(100);
  const one = entryBytes('k0', v, false);
  const { store } = mk({ maxMemoryBytes: one * 3 + 10 });
  for (let i = 0; i < 3; i++) store.apply(`k${i}`, rec(v, 1));
  assert.equal(store.stats().bytes, one * 3);
  assert.equal(store.stats().evictions, 0);
  store.apply('k3', rec(v, 1));
  assert.equal(store.peek('k0'), undefined);
  assert.equal(store.stats().evictions, 1);
  assert.equal(store.stats().bytes, one * 3);
  // a bigger value needs two victims
  store.apply('big', rec('y'.repeat(150), 1));
  assert.equal(store.stats().evictions, 3);
  assert.ok(store.stats().bytes <= one * 3 + 10);
  assert.deepEqual([...store.entries()].map(([k]) => k).sort(), ['big', 'k3']);
});

test('memory budget: an overwrite that grows an entry evicts others, never itself', () => {
  const v = 'x'.repeat(100);
  const one = entryBytes('k0', v, false);
  const { store } = mk({ maxMemoryBytes: one * 3, policy: 'fifo' });
  for (let i = 0; i < 3; i++) store.apply(`k${i}`, rec(v, 1));
  // k0 is the FIFO victim, but it is the key being written
  store.apply('k0', rec('z'.repeat(180), 2));
  assert.equal(store.get('k0')!.value, 'z'.repeat(180));
  assert.equal(store.peek('k1'), undefined);
  assert.equal(store.get('k2')!.value, v);
  assert.ok(store.stats().bytes <= one * 3);
  // shrinking never evicts
  store.apply('k0', rec('s', 3));
  assert.equal(store.stats().evictions, 1);
});

test('memory budget is split across shards evenly', () => {
  const v = 'x'.repeat(100);
  const one = entryBytes('key-00', v, false);
  const { store } = mk({ shards: 4, maxMemoryBytes: one * 4 * 2 });
  for (let i = 0; i < 100; i++) store.apply(`key-${String(i).padStart(2, '0')}`, rec(v, 1));
  const perShard = [0, 0, 0, 0];
  for (const [k] of store.entries()) perShard[store.shardOf(k)]++;
  assert.deepEqual(perShard, [2, 2, 2, 2]);
});

test('EntryTooLargeError when the entry alone exceeds the per-shard budget', () => {
  const { store } = mk({ shards: 2, maxMemoryBytes: 2 * 1_000 });
  store.apply('small', rec('v', 1));
  const big = 'x'.repeat(1_000);
  assert.throws(
    () => store.apply('big', rec(big, 1)),
    (err: unknown) => {
      assert.ok(err instanceof EntryTooLargeError);
      assert.ok(err instanceof Error);
      assert.equal(err.name, 'EntryTooLargeError');
      assert.match(err.message, new RegExp(`${entryBytes('big', big, false)}.*1000`));
      return true;
    },
  );
  assert.equal(store.peek('big'), undefined);
  assert.equal(store.get('small')!.value, 'v');
  assert.equal(store.stats().evictions, 0);
});

test('drop removes outright without a tombstone', () => {
  const { store, clock } = mk();
  store.apply('a', rec('1', 5));
  store.apply('t', tomb(5));
  assert.equal(store.drop('a'), true);
  assert.equal(store.drop('a'), false);
  assert.equal(store.peek('a'), undefined);
  assert.equal(store.drop('t'), true);
  assert.equal(store.stats().tombstones, 0);
  // an older version is accepted after a drop (nothing remembers the key)
  assert.equal(store.apply('a', rec('older', 1)), true);
  store.apply('e', rec('1', 1, { expiresAt: 1_200 }));
  clock.t = 1_200;
  assert.equal(store.drop('e'), false);
  const st = store.stats();
  assert.equal(st.items, 1);
  assert.equal(st.bytes, entryBytes('a', 'older', false));
});

test('entries() yields live entries and tombstones, not expired ones', () => {
  const { store, clock } = mk({ shards: 3 });
  store.apply('live', rec('1', 1));
  store.apply('gone', tomb(1));
  store.apply('ttl', rec('2', 1, { expiresAt: 1_100 }));
  store.apply('ttl2', rec('3', 1, { expiresAt: 9_000 }));
  const got = new Map(store.entries());
  assert.deepEqual([...got.keys()].sort(), ['gone', 'live', 'ttl', 'ttl2']);
  assert.equal(got.get('gone')!.tombstone, true);
  clock.t = 1_100;
  assert.deepEqual([...store.entries()].map(([k]) => k).sort(), ['gone', 'live', 'ttl2']);
  // entries() does not count hits or misses
  assert.equal(store.stats().hits + store.stats().misses, 0);
});

test('entries() tolerates mutation during iteration', () => {
  const { store } = mk();
  for (let i = 0; i < 50; i++) store.apply(`k${i}`, rec('v', 1));
  const seen: string[] = [];
  for (const [k] of store.entries()) {
    seen.push(k);
    store.drop(k);
    if (seen.length === 1) store.drop('k49');
  }
  assert.equal(seen.length, 49);
  assert.equal(store.size, 0);
});

test('stats: hits, misses (incl. tombstones and expired), evictions', () => {
  const { store, clock } = mk({ capacity: 2 });
  store.apply('a', rec('1', 1));
  store.apply('t', tomb(1));
  store.get('a');
  store.get('a');
  store.get('t');
  store.get('zz');
  store.apply('x', rec('1', 1, { expiresAt: 1_001 })); // evicts the tombstone t (LRU: a was read)
  assert.equal(store.peek('t'), undefined);
  clock.t = 1_001;
  store.get('x');
  assert.deepEqual(store.stats(), {
    items: 1,
    tombstones: 0,
    bytes: entryBytes('a', '1', false),
    hits: 2,
    misses: 3,
    evictions: 1,
    expirations: 1,
    flushed: 0,
    compressedItems: 0,
    compressionSavedBytes: 0,
    compressionRatio: 1,
  });
});

test('peek counts nothing and does not touch the eviction order', () => {
  const { store } = mk({ capacity: 2 });
  store.apply('a', rec('1', 1));
  store.apply('b', rec('2', 1));
  store.peek('a');
  store.apply('c', rec('3', 1));
  assert.equal(store.peek('a'), undefined);
  assert.equal(store.stats().hits, 0);
  assert.equal(store.stats().misses, 0);
});

test('node ids survive interning across overwrites and removals', () => {
  const { store } = mk();
  for (let i = 0; i < 300; i++) store.apply(`k${i}`, rec('v', 1, { node: `node-${i % 7}` }));
  for (let i = 0; i < 300; i += 2) store.drop(`k${i}`);
  for (let i = 1; i < 300; i += 4) store.apply(`k${i}`, rec('w', 2, { node: `other-${i}` }));
  for (let i = 0; i < 300; i++) {
    const r = store.peek(`k${i}`);
    if (i % 2 === 0) assert.equal(r, undefined);
    else if (i % 4 === 1) assert.equal(r!.node, `other-${i}`);
    else assert.equal(r!.node, `node-${i % 7}`);
  }
});

test('rejects invalid options and out-of-range logical counters', () => {
  assert.throws(() => mk({ shards: 0 }), RangeError);
  assert.throws(() => mk({ capacity: -1 }), RangeError);
  assert.throws(() => mk({ policy: 'mru' as never }), RangeError);
  const { store } = mk();
  assert.throws(() => store.apply('k', rec('v', 1, { logical: 70_000 })), RangeError);
  assert.throws(() => store.apply('k', rec('v', 1, { logical: 1.5 })), RangeError);
});

test('randomised: the store agrees with a naive model (LWW, TTL, tombstones, drop, sweep, slot reuse)', () => {
  let seed = 99;
  const rnd = (n: number) => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return (seed >>> 8) % n;
  };
  const { store, clock } = mk({ shards: 3, tombstoneGraceMs: 50 });
  const model = new Map<string, EntryRecord>();
  const now = () => clock.t;
  const dead = (r: EntryRecord) => r.expiresAt !== 0 && r.expiresAt <= now();
  const nodes = ['a', 'b', 'c'];
  let expirations = 0;
  for (let i = 0; i < 30_000; i++) {
    const key = `k${rnd(60)}`;
    const op = rnd(20);
    if (op < 10) {
      const isTomb = rnd(4) === 0;
      const r: EntryRecord = {
        value: isTomb ? '' : `v${i}`,
        binary: false,
        wall: rnd(40),
        logical: rnd(3),
        node: nodes[rnd(3)],
        expiresAt: isTomb ? 0 : rnd(3) === 0 ? now() + rnd(100) : 0,
        tombstone: isTomb,
      };
      let cur = model.get(key);
      if (cur && dead(cur)) {
        if (!cur.tombstone) expirations++;
        model.delete(key);
        cur = undefined;
      }
      let expect: boolean;
      if (!isTomb && r.expiresAt !== 0 && r.expiresAt <= now()) expect = false;
      else if (!cur) expect = true;
      else {
        const c = cur;
        expect = r.wall !== c.wall ? r.wall > c.wall : r.logical !== c.logical ? r.logical > c.logical : r.node > c.node;
      }
      if (expect) model.set(key, isTomb ? { ...r, expiresAt: now() + 50 } : r);
      assert.equal(store.apply(key, r), expect, `apply at ${i}`);
      // apply may reclaim other dead entries; account for them lazily via the final check
    } else if (op < 14) {
      const cur = model.get(key);
      const live = cur && !dead(cur) ? cur : undefined;
      assert.deepEqual(store.peek(key), live, `peek at ${i}`);
      const g = store.get(key);
      assert.deepEqual(g, live && !live.tombstone ? live : undefined, `get at ${i}`);
    } else if (op < 16) {
      const cur = model.get(key);
      assert.equal(store.drop(key), !!cur && !dead(cur), `drop at ${i}`);
      if (cur && dead(cur) && !cur.tombstone) expirations++;
      model.delete(key);
    } else if (op < 19) {
      clock.t += rnd(20);
    } else {
      store.sweep(rnd(5));
    }
  }
  store.sweep(Infinity);
  for (const [k, r] of model)
    if (dead(r)) {
      if (!r.tombstone) expirations++;
      model.delete(k);
    }
  const got = new Map(store.entries());
  assert.deepEqual(got, model);
  const st = store.stats();
  assert.equal(st.items, [...model.values()].filter((r) => !r.tombstone).length);
  assert.equal(st.tombstones, [...model.values()].filter((r) => r.tombstone).length);
  assert.equal(st.expirations, expirations);
  let bytes = 0;
  for (const [k, r] of model) bytes += entryBytes(k, r.value, r.binary);
  assert.equal(st.bytes, bytes);
});

for (const policy of ['lru', 'lfu', 'fifo', 'ttl', 'random'] as const) {
  test(`randomised with limits (${policy}): capacity and memory respected, accounting exact, no stale reads`, () => {
    let seed = 7;
    const rnd = (n: number) => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return (seed >>> 8) % n;
    };
    const shards = 3;
    const maxMemoryBytes = shards * 6 * (ENTRY_OVERHEAD_BYTES + 40);
    const { store, clock } = mk({ shards, capacity: 20, maxMemoryBytes, policy, tombstoneGraceMs: 30 });
    const latest = new Map<string, EntryRecord>();
    for (let i = 0; i < 20_000; i++) {
      const key = `k${rnd(50)}`;
      const op = rnd(10);
      if (op < 5) {
        const r = rec('v'.repeat(rnd(60)), i, { tombstone: rnd(5) === 0, expiresAt: rnd(4) === 0 ? clock.t + 1 + rnd(50) : 0 });
        if (r.tombstone) r.value = '';
        if (store.apply(key, r)) latest.set(key, r);
      } else if (op < 8) {
        const g = store.get(key);
        if (g) assert.equal(g.value, latest.get(key)!.value, `get ${key} at ${i}`);
      } else if (op < 9) {
        clock.t += rnd(10);
      } else {
        store.sweep(rnd(3));
      }
      if (i % 97 === 0) {
        const perShard = new Array(shards).fill(0);
        const perShardBytes = new Array(shards).fill(0);
        for (const [k, r] of store.entries()) {
          perShard[store.shardOf(k)]++;
          perShardBytes[store.shardOf(k)] += entryBytes(k, r.value, r.binary);
        }
        for (let s = 0; s < shards; s++) {
          assert.ok(perShard[s] <= 7, `shard ${s} has ${perShard[s]} entries`);
          assert.ok(perShardBytes[s] <= maxMemoryBytes / shards, `shard ${s} has ${perShardBytes[s]} bytes`);
        }
        store.sweep(Infinity);
        const st = store.stats();
        assert.equal(
          st.bytes,
          perShardBytes.reduce((a, b) => a + b, 0),
        );
      }
    }
    assert.ok(store.stats().evictions > 0);
  });
}

test('keys and values survive as bytes: unicode, binary, empty, at and past the arena chunk limit', () => {
  const { store } = mk({ shards: 2 });
  const allBytes = String.fromCharCode(...Array.from({ length: 256 }, (_, i) => i));
  const cases: Array<[string, EntryRecord]> = [
    ['emoji-\u{1F600}', rec('caf\u00e9 \u65e5\u672c \u{1F680}', 1)],
    ['\u00fcber', rec('', 1)],
    ['bin', rec(allBytes.repeat(3), 1, { binary: true })],
    ['k'.repeat(2000), rec('long key', 1)],
    ['edge', rec('x'.repeat(64 * 1024 - 4), 1)], // key + value = 65536 bytes: in the arena
    ['past', rec('y'.repeat(64 * 1024 - 3), 1)], // 65537 bytes: kept outside
    ['huge', rec('z'.repeat(1 << 20), 1)],
    ['hugebin', rec(allBytes.repeat(1024), 1, { binary: true })],
  ];
  for (const [k, r] of cases) assert.equal(store.apply(k, r), true, k);
  for (const [k, r] of cases) assert.deepEqual(store.get(k), r, k);
  assert.deepEqual(new Map(store.entries()), new Map(cases));

  // overwrites that move between size classes, and in and out of the arena
  const sizes = [1, 200, 3, 70_000, 10, 65_000, 0, 5000];
  sizes.forEach((n, i) => {
    const r = rec('v'.repeat(n), 10 + i);
    assert.equal(store.apply('mover', r), true);
    assert.deepEqual(store.get('mover'), r, `size ${n}`);
    for (const [k, c] of cases) assert.deepEqual(store.peek(k), c, `${k} after mover=${n}`);
  });
  assert.equal(store.drop('huge'), true);
  assert.equal(store.drop('edge'), true);
  assert.equal(store.get('huge'), undefined);
  assert.equal(store.stats().items, cases.length - 2 + 1);
});

test('the index finds every key through growth, removals and reuse (one shard, 30k keys, model check)', () => {
  const { store } = mk();
  const model = new Map<string, string>();
  let seed = 11;
  const rnd = (n: number) => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return (seed >>> 8) % n;
  };
  for (let i = 0; i < 120_000; i++) {
    const key = `key-${rnd(30_000)}`;
    if (rnd(3) === 0) {
      assert.equal(store.drop(key), model.has(key), `drop ${key} at ${i}`);
      model.delete(key);
    } else {
      const v = `v${i}`;
      store.apply(key, rec(v, i));
      model.set(key, v);
    }
  }
  for (let k = 0; k < 30_000; k++) {
    const key = `key-${k}`;
    assert.equal(store.get(key)?.value, model.get(key), key);
  }
  assert.equal(store.stats().items, model.size);
  assert.deepEqual(new Map([...store.entries()].map(([k, r]) => [k, r.value])), model);
});

test('versions() and keys() visit what entries() visits, without the values', () => {
  const { store, clock } = mk({ shards: 3 });
  store.apply('a', rec('1', 5, { logical: 2, node: 'x' }));
  store.apply('b', rec('2', 6, { expiresAt: clock.t + 10 }));
  store.apply('c', tomb(7));
  store.apply('gone', rec('3', 8, { expiresAt: clock.t + 1 }));
  clock.t += 1; // 'gone' is dead now
  const all = [...store.entries()];
  assert.deepEqual(all.map(([k]) => k).sort(), ['a', 'b', 'c']);
  assert.deepEqual(
    [...store.versions()],
    all.map(([k, { value: _v, binary: _b, ...version }]) => [k, version]),
  );
  assert.deepEqual(
    [...store.keys()],
    all.map(([k]) => k),
  );
});
