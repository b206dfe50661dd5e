import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sharedInBuckets, sharedTree, wholeTree } from '../../src/antientropy/trees.ts';
import { diffBuckets } from '../../src/merkle/merkle.ts';
import { HashRing } from '../../src/ring/ring.ts';
import type { EntryRecord } from '../../src/store/store.ts';

const rec = (wall: number, tombstone = false): EntryRecord => ({
  value: tombstone ? '' : `v${wall}`,
  binary: false,
  wall,
  logical: 0,
  node: 'a',
  expiresAt: 0,
  tombstone,
});

const ring = new HashRing(64);
for (const n of ['a', 'b', 'c', 'd']) ring.add(n);
const prefs = (k: string) => ring.preferenceList(k, 2);
const entries = Array.from({ length: 2000 }, (_, i) => [`k${i}`, rec(i + 1)] as [string, EntryRecord]);

test('a pair tree covers exactly the keys both nodes replicate', () => {
  const mine = entries.filter(([k]) => prefs(k).includes('a'));
  let covered = 0;
  for (const peer of ['b', 'c', 'd']) {
    const shared = mine.filter(([k]) => prefs(k).includes(peer));
    // the tree equals one built from exactly the shared keys
    assert.equal(sharedTree(mine, prefs, 'a', peer, 8).root(), wholeTree(shared, 8).root(), peer);
    covered += shared.length;
  }
  assert.equal(covered, mine.length, 'with N=2 each of our keys is shared with exactly one peer');
});

test('two replicas that differ in a few keys find exactly those keys, tombstones included', async () => {
  const shared = entries.filter(([k]) => prefs(k).includes('a') && prefs(k).includes('b'));
  const onA = new Map(shared);
  const onB = new Map(shared);
  const changed = [shared[3][0], shared[40][0], shared[41][0]];
  onB.set(changed[0], rec(99_999)); // newer value on b
  onB.set(changed[1], rec(99_999, true)); // deleted on b
  onA.delete(changed[2]); // missing on a
  const ta = sharedTree(onA, prefs, 'a', 'b', 10);
  const tb = sharedTree(onB, prefs, 'b', 'a', 10);
  assert.notEqual(ta.root(), tb.root());
  const buckets = await diffBuckets(ta, async (level, idx) => tb.hashes(level, idx));
  const found = new Set(sharedInBuckets(onB, prefs, 'b', 'a', tb, new Set(buckets)).map(([k]) => k));
  for (const k of changed) assert.ok(found.has(k), k);
  assert.ok(found.size < shared.length / 10, 'only a few buckets are exchanged');
});

test('whole-tree roots are equal for equal data whatever the order', () => {
  const r1 = wholeTree(entries, 10).root();
  const r2 = wholeTree([...entries].reverse(), 10).root();
  assert.equal(r1, r2);
  assert.notEqual(wholeTree(entries.slice(1), 10).root(), r1);
});
