/** Store.observe: observers (persistence, near caches, Watch) are told of every change the store applies, and of nothing else. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { StoreObserver } from '../../src/store/changes.ts';
import { CHANGE_DROP, CHANGE_EVICT, CHANGE_EXPIRE } from '../../src/store/changes.ts';
import type { FlushMark } from '../../src/store/flushes.ts';
import { Store } from '../../src/store/store.ts';
import { rec } from '../helpers/records.ts';

function observed(store: Store) {
  const seen: string[] = [];
  const o: StoreObserver = {
    applied: (key, r) => seen.push(`applied ${key}@${r.wall}${r.tombstone ? ' tombstone' : ''}`),
    removed: (kind, key, wall) =>
      seen.push(
        `${kind === CHANGE_DROP ? 'dropped' : kind === CHANGE_EVICT ? 'evicted' : kind === CHANGE_EXPIRE ? 'expired' : '?'} ${key}@${wall}`,
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
  store.sweep(100); // expiries and reclaimed tombstones
  const all = ['applied a@10', 'applied b@12', 'evicted a@10', 'applied c@13', 'applied c@14 tombstone', 'dropped b@12', 'flushed p@20'];
  assert.deepEqual(seen, all);
  assert.deepEqual(second.seen, all, 'every observer is told');
  stop();
  store.apply('d', rec(30));
  assert.equal(seen.length, all.length, 'a stopped observer is told nothing more');
  assert.equal(second.seen.length, all.length + 1, 'the others still are');
  second.stop();
});
