import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { MemberRecord, MemberState } from '../../src/membership/table.ts';
import { compareRecords, MemberTable } from '../../src/membership/table.ts';

const OPTS = { directWindowMs: 1_000 };
const T0 = 1_700_000_000_000;

function table(id: string, incarnation = T0, now = T0): MemberTable {
  return new MemberTable({ id, address: `${id}:7000`, incarnation }, OPTS, now);
}

function rec(id: string, state: MemberState, incarnation: number, address = `${id}:7000`): MemberRecord {
  return { id, address, state, incarnation };
}

test('a new table knows only itself, alive', () => {
  const t = table('a');
  assert.equal(t.selfId, 'a');
  assert.deepEqual(t.records(), [rec('a', 'alive', T0)]);
  assert.deepEqual(t.ringMembers(), ['a']);
  assert.equal(t.addressOf('a'), 'a:7000');
  assert.equal(t.addressOf('zz'), undefined);
  assert.equal(t.get('zz'), undefined);
});

test('merging unknown members adds them (join, gossip, members list)', () => {
  const t = table('b');
  const c1 = t.merge(rec('a', 'alive', 5), T0 + 10);
  assert.deepEqual(c1, { id: 'a', from: undefined, to: 'alive', record: rec('a', 'alive', 5) });
  const cs = t.mergeAll([rec('c', 'alive', 7), rec('d', 'suspect', 9), rec('a', 'alive', 5)], T0 + 20);
  assert.deepEqual(
    cs.map((c) => [c.id, c.from, c.to]),
    [
      ['c', undefined, 'alive'],
      ['d', undefined, 'suspect'],
    ],
  );
  assert.deepEqual(
    t.list().map((v) => v.id),
    ['a', 'b', 'c', 'd'],
  );
  assert.deepEqual(
    t.records().map((r) => r.id),
    ['a', 'b', 'c', 'd'],
  );
  const a = t.get('a');
  assert.ok(a);
  assert.equal(a.lastHeard, T0 + 10);
  assert.equal(a.stateSince, T0 + 10);
});

test('invalid records are ignored', () => {
  const t = table('a');
  const bad = [
    { id: '', address: 'x', state: 'alive', incarnation: 1 },
    { id: 'x', address: 'x', state: 'zombie', incarnation: 1 },
    { id: 'x', address: 'x', state: 'alive', incarnation: -1 },
    { id: 'x', address: 'x', state: 'alive', incarnation: 1.5 },
    { id: 'x', address: 'x', state: 'alive', incarnation: Number.NaN },
    { id: 'x', address: 7, state: 'alive', incarnation: 1 },
  ] as unknown as MemberRecord[];
  assert.deepEqual(t.mergeAll(bad, T0), []);
  assert.deepEqual(t.records(), [rec('a', 'alive', T0)]);
});

test('higher incarnation wins, replacing state and address', () => {
  const t = table('a');
  t.merge(rec('b', 'dead', 10, 'old:1'), T0);
  const c = t.merge(rec('b', 'alive', 11, 'new:2'), T0 + 5);
  assert.deepEqual(c, { id: 'b', from: 'dead', to: 'alive', record: rec('b', 'alive', 11, 'new:2') });
  assert.equal(t.addressOf('b'), 'new:2');
  // lower incarnation is stale, whatever its state
  assert.equal(t.merge(rec('b', 'left', 10, 'old:1'), T0 + 6), undefined);
  assert.deepEqual(t.get('b')?.state, 'alive');
  // higher incarnation with the same state still changes the view (from === to)
  const same = t.merge(rec('b', 'alive', 12, 'new:2'), T0 + 7);
  assert.deepEqual(same, { id: 'b', from: 'alive', to: 'alive', record: rec('b', 'alive', 12, 'new:2') });
  assert.equal(t.get('b')?.stateSince, T0 + 5);
});

test('an address change at a higher incarnation is adopted (pod restarted with a new IP)', () => {
  const t = table('a');
  t.merge(rec('b', 'alive', 10, '10.0.0.1:7000'), T0);
  const c = t.merge(rec('b', 'alive', 20, '10.0.0.9:7000'), T0 + 1);
  assert.ok(c);
  assert.equal(c.from, 'alive');
  assert.equal(c.to, 'alive');
  assert.equal(c.record.address, '10.0.0.9:7000');
  assert.equal(t.addressOf('b'), '10.0.0.9:7000');
});

test('equal incarnation: the worse state wins (alive < suspect < dead < left)', () => {
  const order: MemberState[] = ['alive', 'suspect', 'dead', 'left'];
  for (let i = 0; i < order.length; i++) {
    for (let j = 0; j < order.length; j++) {
      const t = table('a');
      t.merge(rec('b', order[i]!, 10), T0);
      const c = t.merge(rec('b', order[j]!, 10), T0 + 1);
      const expected = order[Math.max(i, j)]!;
      assert.equal(t.get('b')?.state, expected, `${order[i]} then ${order[j]}`);
      assert.equal(c === undefined, j <= i, `${order[i]} then ${order[j]}`);
    }
  }
});

test("'left' is final for its incarnation; only a strictly higher incarnation revives it", () => {
  const t = table('a');
  t.merge(rec('b', 'alive', 10), T0);
  assert.equal(t.markLeft('b', T0 + 1)?.to, 'left');
  assert.equal(t.markLeft('b', T0 + 2), undefined);
  assert.equal(t.merge(rec('b', 'alive', 10), T0 + 2), undefined);
  assert.equal(t.merge(rec('b', 'dead', 10), T0 + 2), undefined);
  assert.equal(t.heard('b', T0 + 3), undefined);
  assert.equal(t.get('b')?.state, 'left');
  const c = t.merge(rec('b', 'alive', 11), T0 + 4);
  assert.deepEqual(c, { id: 'b', from: 'left', to: 'alive', record: rec('b', 'alive', 11) });
});

test('markLeft of an unknown member does nothing; markLeft of self is leave()', () => {
  const t = table('a');
  assert.equal(t.markLeft('zz', T0), undefined);
  assert.deepEqual(t.markLeft('a', T0 + 1), { id: 'a', from: 'alive', to: 'left', record: rec('a', 'left', T0) });
  assert.equal(t.markLeft('a', T0 + 2), undefined);
});

test('self-refutation: a suspect/dead/left rumour about us bumps our incarnation above it', () => {
  for (const state of ['suspect', 'dead', 'left'] as const) {
    const t = table('a', 100);
    const c = t.merge(rec('a', state, 100), T0 + 1);
    assert.deepEqual(c, { id: 'a', from: 'alive', to: 'alive', record: rec('a', 'alive', 101) }, state);
    // a rumour at an even higher incarnation: we go above that one too
    const c2 = t.merge(rec('a', state, 500), T0 + 2);
    assert.deepEqual(c2?.record, rec('a', 'alive', 501), state);
    // stale rumours (below our incarnation) are ignored
    assert.equal(t.merge(rec('a', state, 500), T0 + 3), undefined, state);
    assert.equal(t.get('a')?.state, 'alive');
  }
});

test('self-refutation: an alive record of us at a higher incarnation or with another address is outranked', () => {
  const t = table('a', 100);
  assert.equal(t.merge(rec('a', 'alive', 100), T0), undefined);
  assert.equal(t.merge(rec('a', 'alive', 50, 'old:1'), T0), undefined);
  // an old life of ours with a higher incarnation (clock went back across a restart)
  assert.deepEqual(t.merge(rec('a', 'alive', 300, 'old:1'), T0)?.record, rec('a', 'alive', 301));
  assert.deepEqual(t.merge(rec('a', 'alive', 301, 'weird:1'), T0)?.record, rec('a', 'alive', 302));
  assert.equal(t.addressOf('a'), 'a:7000');
});

test('a leaving node stays left; it only bumps its incarnation to outrank a newer record of itself', () => {
  const t = table('a', 100);
  assert.deepEqual(t.leave(T0 + 1), { id: 'a', from: 'alive', to: 'left', record: rec('a', 'left', 100) });
  assert.equal(t.merge(rec('a', 'alive', 100), T0 + 2), undefined);
  assert.equal(t.merge(rec('a', 'dead', 100), T0 + 2), undefined);
  assert.deepEqual(t.merge(rec('a', 'alive', 200), T0 + 3)?.record, rec('a', 'left', 201));
  assert.deepEqual(t.ringMembers(), []);
  assert.equal(t.leave(T0 + 4).from, 'left');
});

test('heard(): a suspect or dead member is alive again here at the incarnation we know; self and unknown members are not', () => {
  const t = table('a');
  t.merge(rec('b', 'dead', 10), T0);
  const h = t.heard('b', T0 + 200_001);
  assert.deepEqual(h, { id: 'b', from: 'dead', to: 'alive', record: rec('b', 'alive', 10) });
  assert.equal(t.get('b')?.lastHeard, T0 + 200_001);
  assert.equal(t.heard('b', T0 + 200_002), undefined); // already alive: only lastHeard moves
  assert.equal(t.get('b')?.lastHeard, T0 + 200_002);
  assert.equal(t.heard('zz', T0), undefined);
  assert.equal(t.heard('a', T0), undefined);
});

test('a rumour that a member we just heard from directly is suspect or dead is ignored', () => {
  const t = table('a');
  t.merge(rec('b', 'suspect', 10), T0 + 1_000);
  assert.equal(t.heard('b', T0 + 1_100)?.to, 'alive');
  // e.g. a healed node repeating its stale view: our direct evidence is fresher
  assert.equal(t.merge(rec('b', 'suspect', 10), T0 + 1_200), undefined);
  assert.equal(t.merge(rec('b', 'dead', 10), T0 + 1_300), undefined);
  assert.equal(t.get('b')?.state, 'alive');
});

test('gossip suspicion at the same incarnation wins once our direct evidence is old; the refutation settles it', () => {
  const t = table('a');
  t.merge(rec('b', 'alive', 10), T0);
  t.heard('b', T0 + 100);
  assert.equal(t.merge(rec('b', 'suspect', 10), T0 + 100 + 1_000)?.to, 'suspect');
  assert.equal(t.merge(rec('b', 'alive', 11), T0 + 1_300)?.to, 'alive');
  // the new alive incarnation restarts the failure-detection clock
  assert.equal(t.get('b')?.lastHeard, T0 + 1_300);
});

test('a restarted node (higher incarnation) replaces a dead record and is alive', () => {
  const t = table('a');
  t.merge(rec('b', 'dead', T0 - 5_000, '10.0.0.1:7000'), T0);
  assert.equal(t.get('b')?.state, 'dead');
  const c = t.merge(rec('b', 'alive', T0 + 10_000, '10.0.0.2:7000'), T0 + 10_500);
  assert.deepEqual(c, { id: 'b', from: 'dead', to: 'alive', record: rec('b', 'alive', T0 + 10_000, '10.0.0.2:7000') });
  assert.equal(t.get('b')?.stateSince, T0 + 10_500);
});

test('ringMembers excludes left but keeps dead and suspect', () => {
  const t = table('c');
  t.mergeAll([rec('a', 'alive', 1), rec('b', 'suspect', 1), rec('d', 'dead', 1), rec('e', 'left', 1)], T0);
  assert.deepEqual(t.ringMembers(), ['a', 'b', 'c', 'd']);
  t.leave(T0);
  assert.deepEqual(t.ringMembers(), ['a', 'b', 'd']);
});

test('prune forgets long-left members only', () => {
  const t = table('a');
  t.mergeAll([rec('b', 'left', 1), rec('c', 'dead', 1)], T0);
  assert.deepEqual(t.prune(T0 + 10, 100), []);
  assert.deepEqual(t.prune(T0 + 100, 100), ['b']);
  assert.deepEqual(
    t.records().map((r) => r.id),
    ['a', 'c'],
  );
});

test('views returned by get/list/records are copies', () => {
  const t = table('a');
  const v = t.get('a');
  assert.ok(v);
  v.state = 'dead';
  t.records()[0]!.incarnation = 0;
  assert.equal(t.get('a')?.state, 'alive');
  assert.equal(t.get('a')?.incarnation, T0);
});

test('compareRecords orders by incarnation, then state, then address', () => {
  assert.ok(compareRecords(rec('b', 'alive', 2), rec('b', 'left', 1)) > 0);
  assert.ok(compareRecords(rec('b', 'suspect', 1), rec('b', 'alive', 1)) > 0);
  assert.ok(compareRecords(rec('b', 'alive', 1, 'x:2'), rec('b', 'alive', 1, 'x:1')) > 0);
  assert.equal(compareRecords(rec('b', 'dead', 1), rec('b', 'dead', 1)), 0);
});

/** A table's view as one comparable string: its records, sorted by id (records() sorts). */
const view = (t: MemberTable) => JSON.stringify(t.records());

test('records() is independent of insertion order', () => {
  const x = table('a');
  const y = table('a');
  x.mergeAll([rec('b', 'alive', 1), rec('c', 'dead', 2)], T0);
  y.mergeAll([rec('c', 'dead', 2), rec('b', 'alive', 1)], T0 + 99);
  assert.equal(view(x), view(y));
  y.merge(rec('b', 'suspect', 1), T0);
  assert.notEqual(view(x), view(y));
});

test('constructor rejects bad options', () => {
  assert.throws(() => new MemberTable({ id: 'a', address: 'a', incarnation: 1 }, { directWindowMs: 0 }, 0), RangeError);
  assert.throws(() => new MemberTable({ id: '', address: 'a', incarnation: 1 }, OPTS, 0), TypeError);
});

test('two tables exchanging records() in both directions converge', () => {
  const a = table('a', 100);
  const b = table('b', 200);
  a.mergeAll([rec('c', 'alive', 5), rec('d', 'dead', 3), rec('b', 'suspect', 200)], T0);
  b.mergeAll([rec('c', 'suspect', 5), rec('d', 'alive', 4), rec('e', 'left', 1), rec('a', 'dead', 100)], T0);
  for (let i = 0; i < 3; i++) {
    b.mergeAll(a.records(), T0 + 1);
    a.mergeAll(b.records(), T0 + 1);
  }
  assert.deepEqual(a.records(), b.records());
  assert.deepEqual(a.get('a')?.state, 'alive');
  assert.deepEqual(a.get('b')?.state, 'alive');
  assert.ok((a.get('a')?.incarnation ?? 0) > 100);
  assert.ok((b.get('b')?.incarnation ?? 0) > 200);
  assert.equal(a.get('c')?.state, 'suspect');
  assert.deepEqual(
    a.records().find((r) => r.id === 'd'),
    rec('d', 'alive', 4),
  );
});

/** Small deterministic PRNG (mulberry32) so a failure can be replayed from its seed. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

function shuffle<T>(xs: T[], rnd: () => number): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [xs[i], xs[j]] = [xs[j]!, xs[i]!];
  }
  return xs;
}

test('5 tables receiving shuffled gossip in random order converge to the same view', () => {
  const STATES: MemberState[] = ['alive', 'suspect', 'dead', 'left'];
  const ids = ['n0', 'n1', 'n2', 'n3', 'n4'];
  const outsiders = ['x0', 'x1', 'x2', 'x3'];
  let diverged = 0;
  for (let seed = 1; seed <= 50; seed++) {
    const rnd = prng(seed);
    const pick = <T>(xs: T[]): T => xs[Math.floor(rnd() * xs.length)]!;
    const tables = ids.map((id, i) => table(id, 1_000 + i * 10));
    let now = T0;

    // Every table starts with its own, conflicting rumours (about peers, outsiders and itself).
    for (const t of tables) {
      for (let k = 0; k < 12; k++) {
        const id = pick([...ids, ...outsiders]);
        t.merge(rec(id, pick(STATES), 990 + Math.floor(rnd() * 60), `${id}:${Math.floor(rnd() * 3)}`), now);
      }
      // and some local failure detection: a peer it knows made suspect or dead at the incarnation it knows
      for (const m of t.list()) {
        if (m.id === t.selfId || m.state !== 'alive' || rnd() >= 0.3) continue;
        t.merge({ ...m, state: rnd() < 0.5 ? 'suspect' : 'dead' }, now + 2_000);
      }
    }

    // Random gossip: a random sender pushes a shuffled subset of its records to a random receiver.
    for (let round = 0; round < 15; round++) {
      now += 1;
      const from = pick(tables);
      const to = pick(tables);
      if (from === to) continue;
      const batch = shuffle(from.records(), rnd).filter(() => rnd() < 0.7);
      to.mergeAll(batch, now);
    }
    // Then keep gossiping shuffled full views in random order until everyone agrees.
    let rounds = 0;
    if (new Set(tables.map(view)).size > 1) diverged++;
    while (new Set(tables.map(view)).size > 1) {
      assert.ok(++rounds < 500, `seed ${seed}: no convergence`);
      now += 1;
      const order = shuffle([...tables], rnd);
      for (let i = 0; i < order.length; i++) {
        order[(i + 1) % order.length]!.mergeAll(shuffle(order[i]!.records(), rnd), now);
      }
    }

    const reference = tables[0]!.records();
    for (const t of tables) assert.deepEqual(t.records(), reference, `seed ${seed}`);
    // every running node is alive in the agreed view, at an incarnation above any rumour about it
    for (const id of ids) {
      const r = reference.find((x) => x.id === id);
      assert.equal(r?.state, 'alive', `seed ${seed}: ${id}`);
      assert.equal(r?.address, `${id}:7000`, `seed ${seed}: ${id}`);
    }
  }
  assert.ok(diverged > 0, 'the random phase should leave some views disagreeing');
});
