/** Rebalance planning (src/replication/moves.ts): rings and keys in, moves out. */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mayDrop, type PlanContext, planMove } from '../../src/replication/moves.ts';
import { HashRing } from '../../src/ring/ring.ts';

const ring = (...ids: string[]) => {
  const r = new HashRing(32);
  for (const id of ids) r.add(id);
  return r;
};
const KEYS = Array.from({ length: 400 }, (_, i) => `key-${i}`);
const ctx = (p: Partial<PlanContext>): PlanContext => ({
  selfId: 'a',
  replicationFactor: 2,
  before: ring('a', 'b', 'c'),
  after: ring('a', 'b', 'c'),
  restarted: new Set(),
  handoff: false,
  ...p,
});

test('an unchanged ring moves only keys this node does not replicate (left-overs go to their replicas)', () => {
  const c = ctx({});
  for (const k of KEYS) {
    const replicas = c.after.preferenceList(k, 2);
    assert.deepEqual(planMove(k, c), replicas.includes('a') ? undefined : { targets: replicas, dropAfter: true }, k);
  }
});

test('a node joins: each key still ours goes to the replicas that are new, and stays here', () => {
  const c = ctx({ after: ring('a', 'b', 'c', 'd') });
  let moved = 0;
  for (const k of KEYS) {
    const before = c.before!.preferenceList(k, 2);
    const after = c.after.preferenceList(k, 2);
    const m = planMove(k, c);
    if (!after.includes('a')) continue; // checked below
    const fresh = after.filter((n) => n !== 'a' && !before.includes(n));
    if (fresh.length === 0) assert.equal(m, undefined, k);
    else {
      moved++;
      assert.deepEqual(m, { targets: fresh, dropAfter: false }, k);
    }
  }
  assert.ok(moved > 0, 'some keys gain d as a replica');
});

test('a key this node no longer replicates goes to every new replica and is dropped afterwards', () => {
  const c = ctx({ after: ring('a', 'b', 'c', 'd') });
  const lost = KEYS.filter((k) => c.before!.preferenceList(k, 2).includes('a') && !c.after.preferenceList(k, 2).includes('a'));
  assert.ok(lost.length > 0);
  for (const k of lost) assert.deepEqual(planMove(k, c), { targets: c.after.preferenceList(k, 2), dropAfter: true });
});

test('a restarted member gets its whole share back, even with an unchanged ring', () => {
  const c = ctx({ restarted: new Set(['b']) });
  for (const k of KEYS) {
    const after = c.after.preferenceList(k, 2);
    const m = planMove(k, c);
    if (after.includes('a') && after.includes('b')) assert.deepEqual(m, { targets: ['b'], dropAfter: false }, k);
    else if (after.includes('a')) assert.equal(m, undefined, k);
  }
});

test('hand-off: every key goes to every replica on the ring without this node; nothing is dropped', () => {
  const c = ctx({ before: undefined, after: ring('b', 'c', 'd'), handoff: true });
  for (const k of KEYS) assert.deepEqual(planMove(k, c), { targets: c.after.preferenceList(k, 2), dropAfter: false });
  assert.equal(planMove('k', ctx({ after: ring('a'), handoff: true })), undefined, 'no one to hand it to');
});

test('a warm start (its first ring after loading DATA_DIR is that of the cluster): a key still ours goes only to members that restarted; others are still sent on and dropped', () => {
  // the node's baseline is itself alone, as when it starts; RF 3 so that keys have two other replicas
  const c = ctx({ before: ring('a'), after: ring('a', 'b', 'c', 'd'), replicationFactor: 3, warm: true, restarted: new Set(['c']) });
  const cold = { ...c, warm: false };
  let mine = 0;
  let lost = 0;
  for (const k of KEYS) {
    const after = c.after.preferenceList(k, 3);
    const m = planMove(k, c);
    if (after.includes('a')) {
      mine++;
      assert.deepEqual(m, after.includes('c') ? { targets: ['c'], dropAfter: false } : undefined, k);
      // the same pass without the warm start pushes the key to every other replica
      assert.deepEqual(planMove(k, cold), { targets: after.filter((n) => n !== 'a'), dropAfter: false }, k);
    } else {
      lost++;
      assert.deepEqual(m, { targets: after, dropAfter: true }, k);
    }
  }
  assert.ok(mine > 0 && lost > 0, `both kinds of key occur (${mine} ours, ${lost} not)`);
});

test('without an old ring every other replica of the new ring is new', () => {
  const c = ctx({ before: undefined });
  for (const k of KEYS) {
    const others = c.after.preferenceList(k, 2).filter((n) => n !== 'a');
    const m = planMove(k, c);
    if (c.after.preferenceList(k, 2).includes('a')) assert.deepEqual(m, { targets: others, dropAfter: false });
    else assert.deepEqual(m, { targets: c.after.preferenceList(k, 2), dropAfter: true });
  }
});

test('mayDrop: only the version that was sent (a newer write that arrived meanwhile stays)', () => {
  const sent = { wall: 10, logical: 1, node: 'a', expiresAt: 0, tombstone: false };
  assert.equal(mayDrop(sent, { ...sent }), true);
  assert.equal(mayDrop(sent, { ...sent, logical: 2 }), false);
  assert.equal(mayDrop(sent, { ...sent, wall: 11 }), false);
  assert.equal(mayDrop(sent, { ...sent, node: 'b' }), false);
  assert.equal(mayDrop(sent, undefined), false, 'already gone');
});
