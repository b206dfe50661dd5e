/** Store.observe: observers (persistence, near caches, Watch) are told of every change the store applies, and of nothing else. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { keyPosition } from '../../src/ring/ring.ts';
import type { StoreObserver } from '../../src/store/changes.ts';
import { CHANGE_DELETE, CHANGE_DROP, CHANGE_EVICT, CHANGE_EXPIRE, CHANGE_SET, changesTo } from '../../src/store/changes.ts';
import type { FlushMark } from '../../src/store/flushes.ts';
import { Store } from '../../src/store/store.ts';
import { rec } from '../helpers/records.ts';

function observed(store: Store) {
  const seen: string[] = [];
  const o: StoreObserver = {
    applied: (key, r) => seen.push(`applied ${key}@${r.wall}${r.tombstone ? ' tombstone' : ''}`),
    removed: (kind, key, wall, _logical, _node, tombstone) =>
      seen.push(
        `${kind === CHANGE_DROP ? 'dropped' : kind === CHANGE_EVICT ? 'evicted' : kind === CHANGE_EXPIRE ? 'expired' : '?'} ${key}@${wall}${tombstone ? ' tombstone' : ''}`,
      ),
    flushed: (marks: readonly FlushMark[]) => seen.push(`flushed ${marks.map((m) => `${m.prefix}@${m.wall}`).join(',')}`),
  };
  const stop = store.observe(o);
  return { seen, stop };
}

test('applied writes, tombstones, evictions, drops, expiries and new flush marks are told; refused writes and no-op flushes are not', () => {
  let now = 1_000;
  const store = new Store({ shards: 1, capacity: 2, maxMemoryBytes: 0, policy: 'lru', tombstoneGraceMs: 10, now: () => now });
  const { seen, stop } = observed(store);
  const second = observed(store);
  assert.ok(store.apply('a', rec(10)));
  assert.ok(!store.apply('a', rec(5)), 'older: refused');
  assert.ok(!store.apply('x', rec(11, 'v', { expiresAt: 900 })), 'already expired: refused');
  assert.ok(store.apply('b', rec(12, 'v', { expiresAt: 1_005 })));
  assert.ok(store.apply('c', rec(13)), 'evicts a (capacity 2)');
  assert.ok(store.apply('c', rec(14, '', { tombstone: true })));
  assert.ok(store.drop('b'));
  assert.ok(!store.drop('nothing'));
  assert.ok(store.flush([{ prefix: 'p', wall: 20, logical: 0, node: 'n' }]));
  assert.ok(!store.flush([{ prefix: 'p', wall: 20, logical: 0, node: 'n' }]), 'the same mark again: nothing new');
  assert.ok(!store.apply('p1', rec(15)), 'covered by the flush: refused');
  now = 2_000;
  store.sweep(100); // expiries and reclaimed tombstones (a tombstone's grace ending is told as an expiry of a tombstone)
  const all = [
    'applied a@10',
    'applied b@12',
    'evicted a@10',
    'applied c@13',
    'applied c@14 tombstone',
    'dropped b@12',
    'flushed p@20',
    'expired c@14 tombstone',
  ];
  assert.deepEqual(seen, all);
  assert.deepEqual(second.seen, all, 'every observer is told');
  stop();
  store.apply('d', rec(30));
  assert.equal(seen.length, all.length, 'a stopped observer is told nothing more');
  assert.equal(second.seen.length, all.length + 1, 'the others still are');
  second.stop();
});

test('applied says which version a write replaced: none, a live one, a tombstone; not a dead one', () => {
  let now = 1_000;
  const store = new Store({ shards: 1, capacity: 0, maxMemoryBytes: 0, policy: 'lru', tombstoneGraceMs: 10, now: () => now });
  const prevs: string[] = [];
  store.observe({
    applied: (key, r, prev) =>
      prevs.push(`${key}@${r.wall}<${prev ? `${prev.wall}.${prev.logical}.${prev.node}${prev.tombstone ? ' tombstone' : ''}` : 'none'}`),
    removed: () => {},
    flushed: () => {},
  });
  store.apply('a', rec(10));
  store.apply('a', rec(11, '', { tombstone: true }));
  store.apply('a', rec(12));
  store.apply('b', rec(13, 'v', { expiresAt: 1_005 }));
  now = 1_010;
  store.apply('b', rec(14)); // the held one is dead: reclaimed first, nothing replaced
  assert.deepEqual(prevs, ['a@10<none', 'a@11<10.0.n', 'a@12<11.0.n tombstone', 'b@13<none', 'b@14<none']);
});

test('near caches and Watch (changesTo) are not told of a tombstone whose grace ended', () => {
  let now = 1_000;
  const store = new Store({ shards: 1, capacity: 0, maxMemoryBytes: 0, policy: 'lru', tombstoneGraceMs: 10, now: () => now });
  const kinds: number[] = [];
  store.observe(changesTo((kind) => kinds.push(kind)));
  store.apply('a', rec(10, 'v', { expiresAt: 1_005 }));
  store.apply('b', rec(11, '', { tombstone: true }));
  now = 2_000;
  store.sweep(100);
  assert.deepEqual(kinds, [CHANGE_SET, CHANGE_DELETE, CHANGE_EXPIRE]);
});

test('observers are handed the key position keyPosition gives, for every kind of change', () => {
  for (const grace of [10, 0]) {
    let now = 1_000;
    const store = new Store({
      shards: 1,
      capacity: 4,
      maxMemoryBytes: 0,
      policy: 'lru',
      tombstoneGraceMs: grace,
      compressionThreshold: 64,
      now: () => now,
    });
    const told: string[] = [];
    const check = (what: string, key: string, position: number) => {
      told.push(`${what} ${key}`);
      assert.equal(position, keyPosition(key), `${what} ${key} (grace ${grace})`);
    };
    store.observe({
      applied: (key, r, _prev, position) => check(r.tombstone ? 'deleted' : 'applied', key, position),
      removed: (kind, key, _wall, _logical, _node, _tombstone, position) =>
        check(kind === CHANGE_DROP ? 'dropped' : kind === CHANGE_EVICT ? 'evicted' : 'expired', key, position),
      flushed: () => {},
    });
    const keys = ['a', 'bé', 'ключ', '😀 key', `long ${'x'.repeat(300)}`];
    let wall = 10;
    const four = keys.slice(0, 4);
    for (const key of four) store.apply(key, rec(wall++)); // new keys
    for (const key of four) store.apply(key, rec(wall++, 'y'.repeat(200))); // overwrites, compressed
    store.apply(keys[4]!, rec(wall++)); // a new key evicts one
    store.drop(keys[4]!);
    store.apply(keys[1]!, rec(wall++, '', { tombstone: true })); // a delete of a held key
    store.apply('gone', rec(wall++, '', { tombstone: true })); // a delete of a key never held
    store.apply('ttl', rec(wall++, 'v', { expiresAt: 1_005 }));
    now = 2_000;
    store.sweep(100);
    for (const kind of ['applied', 'deleted', 'evicted', 'dropped', 'expired'])
      assert.ok(
        told.some((t) => t.startsWith(kind)),
        `some change told as ${kind} (grace ${grace}): ${told.join(', ')}`,
      );
  }
});
