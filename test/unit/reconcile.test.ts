/** Anti-entropy decisions (src/antientropy/reconcile.ts). */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { reconcile, ServedTrees } from '../../src/antientropy/reconcile.ts';
import { MerkleTree } from '../../src/merkle/merkle.ts';
import type { EntryRecord } from '../../src/store/store.ts';

const rec = (wall: number, node = 'a', tombstone = false): EntryRecord => ({
  value: tombstone ? '' : `v${wall}`,
  binary: false,
  wall,
  logical: 0,
  node,
  expiresAt: 0,
  tombstone,
});

test('each side gets the newer version; equal versions move nowhere', () => {
  const ours = new Map([
    ['same', rec(5)],
    ['ours-newer', rec(9)],
    ['theirs-newer', rec(3)],
    ['only-ours', rec(1)],
    ['tie-node', rec(7, 'b')],
  ]);
  const theirs = new Map([
    ['same', rec(5)],
    ['ours-newer', rec(8)],
    ['theirs-newer', rec(4)],
    ['only-theirs', rec(2)],
    ['tie-node', rec(7, 'a')],
  ]);
  const { take, give } = reconcile(ours, theirs);
  assert.deepEqual(take, [
    ['theirs-newer', rec(4)],
    ['only-theirs', rec(2)],
  ]);
  assert.deepEqual(
    give,
    [
      ['ours-newer', rec(9)],
      ['only-ours', rec(1)],
      ['tie-node', rec(7, 'b')],
    ],
    'at equal time the node id decides',
  );
});

test('tombstones are versions like any other: a newer delete wins, an older one loses', () => {
  const { take, give } = reconcile(
    new Map([
      ['k', rec(5)],
      ['j', rec(9)],
    ]),
    new Map([
      ['k', rec(6, 'a', true)],
      ['j', rec(8, 'a', true)],
    ]),
  );
  assert.deepEqual(take, [['k', rec(6, 'a', true)]]);
  assert.deepEqual(give, [['j', rec(9)]]);
});

test('nothing to do when both sides hold the same', () => {
  const same = new Map([
    ['a', rec(1)],
    ['b', rec(2)],
  ]);
  assert.deepEqual(reconcile(same, new Map(same)), { take: [], give: [] });
});

test("ServedTrees: a round's tree serves its follow-up requests while young and on the same ring", () => {
  const s = new ServedTrees(100);
  const tree = new MerkleTree(4);
  assert.equal(s.get('p', 1, 'r1', 0), undefined);
  s.put('p', tree, 'r1', 0);
  assert.equal(s.get('p', 1, 'r1', 50), tree);
  assert.equal(s.get('p', 0, 'r1', 50), undefined, 'level 0 starts a new round');
  assert.equal(s.get('p', 2, 'r2', 50), undefined, 'the ring changed');
  assert.equal(s.get('p', 2, 'r1', 101), undefined, 'too old');
  assert.equal(s.get('q', 1, 'r1', 50), undefined, 'per requester');
  assert.equal(s.take('p'), tree);
  assert.equal(s.take('p'), undefined, 'taken');
});
