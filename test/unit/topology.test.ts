/** The topology's rules (src/topology/topology.ts), one by one, with changes and time passed in. */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { MemberChange, MemberRecord } from '../../src/membership/table.ts';
import { Topology, type TopologyAction } from '../../src/topology/topology.ts';

const T0 = 1_000_000;

function change(id: string, from: MemberChange['from'], to: MemberChange['to'], incarnation = 1): MemberChange {
  const record: MemberRecord = { id, address: `${id}:1`, state: to, incarnation };
  return { id, from, to, record };
}

const types = (actions: TopologyAction[]) => actions.map((a) => a.type);
const topo = (members = ['a'], opts: { transitionMs?: number } = {}) =>
  new Topology({ selfId: 'a', vnodes: 16, replicationFactor: 2, ...opts }, members);

test('rule 1: the ring holds every member not left, suspect and dead ones included', () => {
  const t = topo();
  t.apply([change('b', undefined, 'alive'), change('c', undefined, 'alive')], ['a', 'b', 'c'], T0);
  const v = t.ring.version;
  const acts = t.apply([change('c', 'alive', 'suspect'), change('c', 'suspect', 'dead')], ['a', 'b', 'c'], T0 + 1);
  assert.equal(t.ring.version, v, 'a crash moves no keys');
  assert.ok(!types(acts).includes('rebalance'));
  t.apply([change('c', 'dead', 'left')], ['a', 'b'], T0 + 2);
  assert.deepEqual(t.ring.nodes(), ['a', 'b']);
});

test('rule 2: after a change reads also ask the previous replicas until the transition ends and no pass runs', () => {
  const t = topo(['a', 'b'], { transitionMs: 100 });
  assert.equal(t.previousReplicas('k', T0, false), undefined, 'no transition at the start');
  const acts = t.apply([change('c', undefined, 'alive')], ['a', 'b', 'c'], T0);
  const rebalance = acts.find((a) => a.type === 'rebalance');
  assert.ok(rebalance && rebalance.type === 'rebalance' && rebalance.ring === t.ring && rebalance.restarted.length === 0);
  assert.deepEqual(
    t
      .previousReplicas('k', T0 + 50, false)
      ?.slice()
      .sort(),
    ['a', 'b'],
  );
  assert.ok(t.previousReplicas('k', T0 + 500, true), 'kept while a rebalance pass runs');
  assert.ok(t.previousReplicas('k', T0 + 100, false), 'kept until the time is up');
  assert.equal(t.previousReplicas('k', T0 + 101, false), undefined, 'over');
  assert.equal(t.previousReplicas('k', T0 + 50, false), undefined, 'and stays over');
});

test('rule 2: a slow last pass stretches the transition to 3x its length', () => {
  const t = topo(['a', 'b'], { transitionMs: 100 });
  t.apply([change('c', undefined, 'alive')], ['a', 'b', 'c'], T0, 1_000);
  assert.ok(t.previousReplicas('k', T0 + 2_999, false));
  assert.equal(t.previousReplicas('k', T0 + 3_001, false), undefined);
});

test('rule 2: a change during a transition keeps the older previous ring', () => {
  const t = topo(['a', 'b']);
  const first = t.ring;
  t.apply([change('c', undefined, 'alive')], ['a', 'b', 'c'], T0);
  t.apply([change('d', undefined, 'alive')], ['a', 'b', 'c', 'd'], T0 + 1);
  for (const k of ['k1', 'k2', 'k3', 'k4', 'k5']) assert.deepEqual(t.previousReplicas(k, T0 + 2, false), first.preferenceList(k, 2));
});

test("rule 2: a ring of this node alone is never a previous ring (it held no one else's data)", () => {
  const t = topo(['a']);
  t.apply([change('b', undefined, 'alive')], ['a', 'b'], T0);
  assert.equal(t.previousReplicas('k', T0 + 1, false), undefined);
});

test('rule 3: an incarnation jump over restartJump is a restart: its share is pushed to it, anti-entropy soon', () => {
  const t = topo();
  t.apply([change('b', undefined, 'alive', 5_000)], ['a', 'b'], T0);
  const refute = t.apply([change('b', 'alive', 'alive', 5_001)], ['a', 'b'], T0 + 1);
  assert.deepEqual(types(refute), ['deliver-hints'], 'a refutation (+1) is not a restart');
  const acts = t.apply([change('b', 'dead', 'alive', 90_000)], ['a', 'b'], T0 + 2);
  assert.deepEqual(
    acts.find((a) => a.type === 'rebalance'),
    { type: 'rebalance', ring: t.ring, restarted: ['b'] },
  );
  assert.ok(types(acts).includes('anti-entropy'));
});

test('rule 4: alive -> hints now; back from suspect or dead -> anti-entropy too', () => {
  const t = topo(['a', 'b']);
  t.apply([change('b', undefined, 'alive')], ['a', 'b'], T0);
  assert.deepEqual(types(t.apply([change('b', 'alive', 'suspect')], ['a', 'b'], T0 + 1)), []);
  assert.deepEqual(types(t.apply([change('b', 'suspect', 'alive')], ['a', 'b'], T0 + 2)), [
    'reconnect-peer',
    'deliver-hints',
    'anti-entropy',
  ]);
  assert.deepEqual(types(t.apply([change('b', 'alive', 'dead')], ['a', 'b'], T0 + 3)), []);
  assert.deepEqual(types(t.apply([change('b', 'dead', 'alive')], ['a', 'b'], T0 + 4)), ['reconnect-peer', 'deliver-hints', 'anti-entropy']);
});

test('rule 5: a member that left: its hints are rerouted and its channel closed (once)', () => {
  const t = topo(['a', 'b', 'c']);
  t.apply([change('b', undefined, 'alive'), change('c', undefined, 'alive')], ['a', 'b', 'c'], T0);
  const acts = t.apply([change('c', 'alive', 'left')], ['a', 'b'], T0 + 1);
  assert.deepEqual(
    acts.filter((a) => a.type !== 'rebalance'),
    [
      { type: 'reroute-hints', node: 'c' },
      { type: 'close-peer', node: 'c' },
    ],
  );
  assert.deepEqual(t.apply([change('c', 'left', 'left')], ['a', 'b'], T0 + 2), []);
});

test('rule 6: joined the first time another member is seen in any state but left', () => {
  const t = topo();
  assert.deepEqual(t.apply([change('a', 'alive', 'alive', 2)], ['a'], T0), [], 'news about ourselves is not a join');
  assert.ok(!types(t.apply([change('x', undefined, 'left')], ['a'], T0)).includes('joined'), 'a member that left is not a cluster to join');
  assert.ok(types(t.apply([change('b', undefined, 'dead')], ['a', 'b'], T0)).includes('joined'));
  assert.ok(!types(t.apply([change('c', undefined, 'alive')], ['a', 'b', 'c'], T0)).includes('joined'), 'once');
});

test('rule 7: after leave() only hint rerouting and reconnecting still happen; the hand-off ring excludes this node', () => {
  const t = topo(['a', 'b', 'c']);
  t.apply([change('b', undefined, 'alive'), change('c', undefined, 'alive')], ['a', 'b', 'c'], T0);
  const ring = t.leave(['a', 'b', 'c']);
  assert.deepEqual(ring?.nodes(), ['b', 'c']);
  assert.equal(t.ring, ring);
  assert.deepEqual(
    t.apply([change('d', undefined, 'alive'), change('b', 'suspect', 'alive')], ['a', 'b', 'c', 'd'], T0 + 1),
    [{ type: 'reconnect-peer', node: 'b' }],
    'only the channel of the member back (rule 8): the hand-off may need it',
  );
  assert.deepEqual(t.ring.nodes(), ['b', 'c'], 'ring changes are no longer applied');
  assert.deepEqual(types(t.apply([change('c', 'alive', 'left')], ['a', 'b', 'd'], T0 + 2)), ['reroute-hints', 'close-peer']);
  assert.equal(topo(['a']).leave(['a']), undefined, 'alone: no one to hand keys to');
});

test('rule 8: a member that restarted or comes back alive has its channel reconnected, before the other actions', () => {
  const t = topo(['a', 'b', 'c']);
  t.apply([change('b', undefined, 'alive', 5_000), change('c', undefined, 'alive', 5_000)], ['a', 'b', 'c'], T0);
  assert.ok(
    !types(t.apply([change('b', 'alive', 'alive', 5_001)], ['a', 'b', 'c'], T0 + 1)).includes('reconnect-peer'),
    'a refutation while alive: no',
  );
  // A rolling restart: c leaves (its channel closed), the same c starts again (a new
  // incarnation) and is seen alive: reconnect first, so the push of its share reaches it.
  t.apply([change('c', 'alive', 'left', 5_000)], ['a', 'b'], T0 + 2);
  const back = t.apply([change('c', 'left', 'alive', 90_000)], ['a', 'b', 'c'], T0 + 3);
  assert.deepEqual(back[0], { type: 'reconnect-peer', node: 'c' });
  assert.deepEqual(types(back), ['reconnect-peer', 'rebalance', 'deliver-hints', 'anti-entropy']);
  // A restart seen while it was still alive here (it came back faster than failure detection).
  const again = t.apply([change('c', 'alive', 'alive', 200_000)], ['a', 'b', 'c'], T0 + 4);
  assert.deepEqual(again[0], { type: 'reconnect-peer', node: 'c' });
  // Back from suspect or dead (a crash and restart, a healed partition).
  assert.deepEqual(types(t.apply([change('b', 'alive', 'dead', 5_001)], ['a', 'b', 'c'], T0 + 5)), []);
  assert.deepEqual(t.apply([change('b', 'dead', 'alive', 5_002)], ['a', 'b', 'c'], T0 + 6)[0], { type: 'reconnect-peer', node: 'b' });
  assert.ok(
    !types(t.apply([change('d', undefined, 'alive')], ['a', 'b', 'c', 'd'], T0 + 7)).includes('reconnect-peer'),
    'a new member: no',
  );
});

test('replicas() follow the current ring', () => {
  const t = topo(['a', 'b', 'c']);
  for (const k of ['x', 'y', 'z']) assert.deepEqual(t.replicas(k), t.ring.preferenceList(k, 2));
});
