/**
 * Coordinator logic with in-process replicas: each "peer" is a real Store behind the real
 * replica executor (src/replication/replica.ts), reached through an in-memory PeerTransport
 * that only replaces the network (which the integration tests cover).
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HybridClock } from '../../src/hlc/hlc.ts';
import { OpKind } from '../../src/protos/generated/peer/cache/peer/v1/OpKind.ts';
import { Level } from '../../src/quorum/quorum.ts';
import { Coordinator, type PeerTransport, type Placement } from '../../src/replication/coordinator.ts';
import { HintStore } from '../../src/replication/hints.ts';
import { Replica, readAnswer } from '../../src/replication/replica.ts';
import { type EntryRecord, Store } from '../../src/store/store.ts';

const newStore = () => new Store({ shards: 2, capacity: 0, maxMemoryBytes: 0, policy: 'lru', tombstoneGraceMs: 60_000 });

function cluster(
  opts: {
    down?: string[];
    replicas?: string[];
    previous?: string[];
    /** replicas that never answer (a peer cut off without an error) */
    silent?: string[];
    speculativeReadMs?: number;
    schedule?: (ms: number, fn: () => void) => () => void;
    /** The coordinator's physical clock (ms). */
    clock?: () => number;
    /** Runs when a write reaches a remote replica, before the replica executes it. */
    onWrite?: (node: string, key: string, rec: EntryRecord) => void;
  } = {},
) {
  const ids = ['a', 'b', 'c', 'd', 'e'];
  const stores = new Map(ids.map((id) => [id, newStore()]));
  const down = new Set(opts.down ?? []);
  const calls: string[] = [];
  const replicas = new Map(ids.map((id) => [id, new Replica(stores.get(id)!)]));
  const transport: PeerTransport = {
    write(node, key, rec, cb) {
      calls.push(`write ${node}`);
      queueMicrotask(() => {
        if (down.has(node)) return cb(new Error(`${node} down`));
        opts.onWrite?.(node, key, rec);
        const res = replicas.get(node)!.execute({ kind: OpKind.OP_KIND_WRITE, key, rec });
        if (res.error) cb(new Error(res.error));
        else cb(null, res.existed === true, res.newer ? res.rec : undefined);
      });
    },
    read(node, key, have, cb) {
      calls.push(`read ${node}`);
      if (opts.silent?.includes(node)) return;
      queueMicrotask(() => {
        if (down.has(node)) return cb(new Error(`${node} down`));
        const res = replicas.get(node)!.execute({ kind: OpKind.OP_KIND_READ, key, have });
        if (res.same) calls.push(`same ${node}`);
        cb(null, readAnswer(res, have));
      });
    },
  };
  const placement: Placement = {
    replicas: () => opts.replicas ?? ['a', 'b', 'c'],
    previousReplicas: () => opts.previous,
    isReachable: (n) => !down.has(n),
  };
  const hints = new HintStore(100);
  const coord = new Coordinator(stores.get('a')!, new HybridClock('a', opts.clock), placement, transport, hints, {
    selfId: 'a',
    writeQuorum: 2,
    readQuorum: 2,
    defaultTtlMs: 0,
    speculativeReadMs: opts.speculativeReadMs,
    schedule: opts.schedule,
  });
  return { coord, stores, hints, calls, down };
}

const call = <T>(fn: (cb: (err: Error | null, r?: T) => void) => void) =>
  new Promise<{ err: Error | null; r?: T }>((resolve) => fn((err, r) => resolve({ err, r })));

test('a write is acknowledged at W=2 and reaches every replica', async () => {
  const { coord, stores } = cluster();
  const { err } = await call((cb) => coord.set('k', 'v', false, 0, Level.Default, cb));
  assert.equal(err, null);
  await new Promise((r) => setTimeout(r, 5));
  for (const id of ['a', 'b', 'c']) assert.equal(stores.get(id)!.peek('k')?.value, 'v', id);
});

test('with two replicas down a QUORUM write fails with UNAVAILABLE and leaves hints', async () => {
  const { coord, hints } = cluster({ down: ['b', 'c'] });
  const { err } = await call((cb) => coord.set('k', 'v', false, 0, Level.Quorum, cb));
  assert.match(
    err!.message,
    /write quorum not reached: 1 of 3 replicas acknowledged, 2 required \(replica b is down\); the write may still reach some replicas/,
  );
  assert.equal((err as { kind?: string }).kind, 'unavailable');
  assert.deepEqual(hints.targets().sort(), ['b', 'c']);
});

test('ONE succeeds with the local replica alone; ALL needs everyone', async () => {
  const { coord } = cluster({ down: ['c'] });
  assert.equal((await call((cb) => coord.set('k', 'v', false, 0, Level.One, cb))).err, null);
  assert.match((await call((cb) => coord.set('k', 'v', false, 0, Level.All, cb))).err!.message, /3 required/);
});

test('a read returns the newest version and repairs the stale replica', async () => {
  const { coord, stores } = cluster();
  const old: EntryRecord = { value: 'old', binary: false, wall: 1, logical: 0, node: 'x', expiresAt: 0, tombstone: false };
  const fresh: EntryRecord = { ...old, value: 'new', wall: 2 };
  stores.get('a')!.apply('k', old);
  stores.get('b')!.apply('k', fresh);
  stores.get('c')!.apply('k', fresh);
  const { r } = await call<EntryRecord | undefined>((cb) => coord.get('k', Level.Quorum, cb));
  assert.equal(r?.value, 'new');
  assert.equal(stores.get('a')!.peek('k')?.value, 'new', 'read repair of the local replica');
});

test('a replica that holds the local version answers "same"; one with a newer version sends it', async () => {
  const { coord, stores, calls } = cluster();
  await call((cb) => coord.set('k', 'v1', false, 0, Level.All, cb));
  const { r } = await call<EntryRecord | undefined>((cb) => coord.get('k', Level.Quorum, cb));
  assert.equal(r?.value, 'v1');
  assert.ok(calls.includes('same b'), `calls: ${calls.join(', ')}`);
  const newer: EntryRecord = { ...stores.get('b')!.peek('k')!, value: 'v2', wall: Date.now() + 1000 };
  stores.get('b')!.apply('k', newer);
  const second = await call<EntryRecord | undefined>((cb) => coord.get('k', Level.Quorum, cb));
  assert.equal(second.r?.value, 'v2');
  assert.equal(stores.get('a')!.peek('k')?.value, 'v2', 'the local replica was repaired');
});

test('a read falls back to another replica when one fails, and a tombstone reads as not found', async () => {
  const { coord, stores, calls } = cluster({ down: ['b'] });
  const t: EntryRecord = { value: '', binary: false, wall: 5, logical: 0, node: 'x', expiresAt: 0, tombstone: true };
  stores.get('c')!.apply('k', t);
  const { err, r } = await call<EntryRecord | undefined>((cb) => coord.get('k', Level.Quorum, cb));
  assert.equal(err, null);
  assert.equal(r, undefined);
  assert.ok(calls.includes('read c'));
});

test('during a ring change a read also needs R answers from the previous replicas', async () => {
  // The key moved from {a,b,c} to {a,d,e}; it was acknowledged by b and c before the change
  // and has not been streamed to d and e yet.
  const { coord, stores, calls } = cluster({ replicas: ['a', 'd', 'e'], previous: ['a', 'b', 'c'] });
  const rec: EntryRecord = { value: 'v', binary: false, wall: 9, logical: 0, node: 'x', expiresAt: 0, tombstone: false };
  stores.get('b')!.apply('k', rec);
  stores.get('c')!.apply('k', rec);
  const { r } = await call<EntryRecord | undefined>((cb) => coord.get('k', Level.Quorum, cb));
  assert.equal(r?.value, 'v');
  assert.ok(calls.includes('read d') || calls.includes('read e'), 'the new replicas are asked too');
  // Without the previous ring, R=2 of the new replicas alone would have missed it.
  const alone = cluster({ replicas: ['a', 'd', 'e'] });
  alone.stores.get('b')!.apply('k', rec);
  alone.stores.get('c')!.apply('k', rec);
  assert.equal((await call<EntryRecord | undefined>((cb) => alone.coord.get('k', Level.Quorum, cb))).r, undefined);
});

test('Delete reports whether a live value existed on an acknowledging replica', async () => {
  const { coord } = cluster();
  await call((cb) => coord.set('k', 'v', false, 0, Level.All, cb));
  const d1 = await call<{ deleted?: boolean }>((cb) => coord.delete('k', Level.All, cb));
  assert.equal(d1.r?.deleted, true);
  const d2 = await call<{ deleted?: boolean }>((cb) => coord.delete('k', Level.All, cb));
  assert.equal(d2.r?.deleted, false);
});

/** A hand-driven timer for speculative reads: fire() runs what is due. */
function manualTimers() {
  const due: { ms: number; fn: () => void }[] = [];
  return {
    due,
    schedule: (ms: number, fn: () => void) => {
      const t = { ms, fn };
      due.push(t);
      return () => {
        const i = due.indexOf(t);
        if (i >= 0) due.splice(i, 1);
      };
    },
    fire: () => {
      const t = due.shift();
      assert.ok(t, 'no timer pending');
      t.fn();
    },
  };
}

test('speculative read: a replica that never answers costs the delay, not the RPC timeout', async () => {
  const timers = manualTimers();
  const { coord, stores, calls } = cluster({ silent: ['b'], speculativeReadMs: 50, schedule: timers.schedule });
  const r: EntryRecord = { value: 'v', binary: false, wall: 10, logical: 0, node: 'c', expiresAt: 0, tombstone: false };
  stores.get('c')!.apply('k', r);
  let answered = false;
  const p = call<EntryRecord | undefined>((cb) =>
    coord.get('k', Level.Quorum, (err, rec) => {
      answered = true;
      cb(err, rec);
    }),
  );
  await new Promise((res) => setImmediate(res));
  assert.deepEqual(calls, ['read b'], 'R=2: the local copy and one peer');
  assert.equal(answered, false, 'b is silent: no quorum yet');
  assert.deepEqual(
    timers.due.map((t) => t.ms),
    [50],
  );
  timers.fire(); // 50 ms pass
  const { err, r: got } = await p;
  assert.equal(err, null);
  assert.equal(got?.value, 'v');
  assert.deepEqual(calls, ['read b', 'read c']);
  assert.equal(timers.due.length, 0, 'no replica left to ask: no further timer');
});

test('speculative read: replicas answering in time cancel the timer and nobody else is asked', async () => {
  const timers = manualTimers();
  const { coord, calls } = cluster({ speculativeReadMs: 50, schedule: timers.schedule });
  assert.equal((await call((cb) => coord.set('k', 'v', false, 0, Level.All, cb))).err, null);
  calls.length = 0;
  const { err, r } = await call<EntryRecord | undefined>((cb) => coord.get('k', Level.Quorum, cb));
  assert.equal(err, null);
  assert.equal(r?.value, 'v');
  assert.deepEqual(calls, ['read b', 'same b']);
  assert.equal(timers.due.length, 0, 'the timer was cancelled when the quorum was reached');
});

test('during a ring change a previous replica that never answers delays the read by the speculative delay, no more', async () => {
  const timers = manualTimers();
  // b and c were replicas and no longer are; c is gone (silent). The new replicas hold the value.
  const { coord, stores, calls } = cluster({
    replicas: ['a', 'd', 'e'],
    previous: ['a', 'b', 'c'],
    silent: ['c'],
    speculativeReadMs: 50,
    schedule: timers.schedule,
  });
  const rec: EntryRecord = { value: 'v', binary: false, wall: 9, logical: 0, node: 'x', expiresAt: 0, tombstone: false };
  stores.get('d')!.apply('k', rec);
  let answered = false;
  const p = call<EntryRecord | undefined>((cb) =>
    coord.get('k', Level.Quorum, (err, r) => {
      answered = true;
      cb(err, r);
    }),
  );
  await new Promise((res) => setImmediate(res));
  assert.ok(calls.includes('read b') && calls.includes('read c'), 'the previous replicas are asked');
  assert.equal(answered, false, 'R answered, c has not: the read waits for it ...');
  while (timers.due.length > 0 && !answered) {
    timers.fire();
    await new Promise((res) => setImmediate(res));
  }
  const { err, r } = await p;
  assert.equal(err, null);
  assert.equal(r?.value, 'v', '... for the speculative delay, then answers without it');
});

test('speculative reads off (0): a silent replica keeps the read waiting (until the transport times out)', async () => {
  const timers = manualTimers();
  const { coord, calls } = cluster({ silent: ['b'], speculativeReadMs: 0, schedule: timers.schedule });
  let answered = false;
  coord.get('k', Level.Quorum, () => {
    answered = true;
  });
  await new Promise((res) => setImmediate(res));
  assert.deepEqual(calls, ['read b']);
  assert.equal(timers.due.length, 0);
  assert.equal(answered, false);
});

// ---- re-stamping: a later acknowledged write wins whatever the clocks say ----

const versionOf = (s: Store, key: string) => {
  const r = s.peek(key);
  return r && `${r.wall}.${r.logical}.${r.node}=${r.value}`;
};
const written = (wall: number, value: string, node = 'z', logical = 0): EntryRecord => ({
  value,
  binary: false,
  wall,
  logical,
  node,
  expiresAt: 0,
  tombstone: false,
});

test('clocks in step: no replica holds anything newer, nothing is re-stamped (no extra round trip)', async () => {
  const { coord, calls } = cluster({ clock: () => 1_000 });
  const { err, r } = await call<{ wall: number; logical: number }>((cb) => coord.set('k', 'v', false, 0, Level.Quorum, cb));
  assert.equal(err, null);
  assert.deepEqual([r!.wall, r!.logical], [1_000, 0]);
  await new Promise((res) => setTimeout(res, 5));
  assert.deepEqual(calls, ['write b', 'write c']);
});

test('a replica holding a newer version (written through a node whose clock is ahead): the write is re-stamped above it everywhere', async () => {
  const { coord, stores, calls } = cluster({ clock: () => 1_000 });
  stores.get('b')!.apply('k', written(5_000, 'earlier, from a fast clock'));
  const { err, r } = await call<{ wall: number; logical: number }>((cb) => coord.set('k', 'later', false, 0, Level.Quorum, cb));
  assert.equal(err, null);
  assert.deepEqual([r!.wall, r!.logical], [5_000, 1], 'the clock moved past the newer version (within its drift bound)');
  await new Promise((res) => setTimeout(res, 5));
  for (const id of ['a', 'b', 'c']) assert.equal(versionOf(stores.get(id)!, 'k'), '5000.1.a=later', id);
  assert.equal(calls.filter((c) => c.startsWith('write')).length, 4, 'one more round to every remote replica');
  const after = await call<{ wall: number }>((cb) => coord.set('k2', 'x', false, 0, Level.Quorum, cb));
  assert.ok(after.r!.wall >= 5_000, 'later writes of this coordinator follow the adopted clock');
});

test('round 1 waits for W answers and re-stamps above the newest of them, not the first', async () => {
  const { coord, stores, calls } = cluster({ clock: () => 1_000 });
  stores.get('b')!.apply('k', written(5_000, 'older of the two'));
  stores.get('c')!.apply('k', written(7_000, 'newest'));
  const { err, r } = await call<{ wall: number; logical: number }>((cb) => coord.set('k', 'mine', false, 0, Level.All, cb));
  assert.equal(err, null);
  assert.deepEqual([r!.wall, r!.logical], [7_000, 1], 'above the newest answer, in one re-stamp');
  await new Promise((res) => setTimeout(res, 5));
  for (const id of ['a', 'b', 'c']) assert.equal(versionOf(stores.get(id)!, 'k'), '7000.1.a=mine', id);
  assert.equal(calls.filter((c) => c.startsWith('write')).length, 4, 'two rounds, no more');
});

test('a concurrent writer overtaking the re-stamped write in round 2: acknowledged as superseded, the newer value stays', async () => {
  let bumps = 0;
  const { coord, stores } = cluster({
    clock: () => 1_000,
    onWrite: (node, key) => {
      // a concurrent writer with a fast clock gets to b first, in both rounds
      if (node === 'b' && bumps < 2) stores.get('b')!.apply(key, written(5_000 + 1_000 * bumps++, `concurrent ${bumps}`));
    },
  });
  const { err, r } = await call<{ wall: number; logical: number }>((cb) => coord.set('k', 'mine', false, 0, Level.All, cb));
  assert.equal(err, null);
  assert.deepEqual([r!.wall, r!.logical], [5_000, 1], 're-stamped once, above what round 1 saw');
  await new Promise((res) => setTimeout(res, 5));
  assert.equal(versionOf(stores.get('b')!, 'k'), '6000.0.z=concurrent 2', 'the concurrent, newer write stays where it landed');
  for (const id of ['a', 'c']) assert.equal(versionOf(stores.get(id)!, 'k'), '5000.1.a=mine', id);
});

test('writers racing on one hot key never give up: a replica that is always ahead costs one re-stamp, no error', async () => {
  let t = 5_000;
  const { coord, stores, calls } = cluster({
    clock: () => 1_000,
    onWrite: (node, key) => {
      if (node === 'b') stores.get('b')!.apply(key, written((t += 1_000), 'always first'));
    },
  });
  for (let i = 0; i < 20; i++) {
    calls.length = 0;
    const { err } = await call((cb) => coord.set('k', `mine ${i}`, false, 0, Level.Quorum, cb));
    assert.equal(err, null, `write ${i}`);
    assert.ok(calls.filter((c) => c.startsWith('write')).length <= 4, 'at most two rounds');
  }
});

test('a newer version further ahead than the clock may follow: the write goes just above it, the clock stays', async () => {
  const ahead = 1_000 + 120_000; // beyond HybridClock's 60 s drift bound
  const { coord, stores } = cluster({ clock: () => 1_000 });
  stores.get('c')!.apply('k', written(ahead, 'from a clock two minutes fast', 'z', 7));
  const { err, r } = await call<{ wall: number; logical: number }>((cb) => coord.set('k', 'later', false, 0, Level.All, cb));
  assert.equal(err, null);
  assert.deepEqual([r!.wall, r!.logical], [ahead, 8]);
  await new Promise((res) => setTimeout(res, 5));
  for (const id of ['a', 'b', 'c']) assert.equal(versionOf(stores.get(id)!, 'k'), `${ahead}.8.a=later`, id);
  const other = await call<{ wall: number }>((cb) => coord.set('k2', 'x', false, 0, Level.Quorum, cb));
  assert.ok(other.r!.wall < ahead, 'the clock was not dragged two minutes ahead');
});

test('a delete behind a newer value is re-stamped too; a write a flush covers is re-stamped above the flush', async () => {
  const { coord, stores } = cluster({ clock: () => 1_000 });
  stores.get('b')!.apply('k', written(5_000, 'v'));
  const del = await call<{ wall: number; deleted?: boolean }>((cb) => coord.delete('k', Level.Quorum, cb));
  assert.equal(del.err, null);
  assert.equal(del.r!.deleted, true);
  await new Promise((res) => setTimeout(res, 5));
  for (const id of ['a', 'b', 'c']) assert.equal(stores.get(id)!.peek('k')?.tombstone, true, id);
  // a flush made through a node whose clock is ahead; this coordinator has not heard of it, its replicas have
  for (const id of ['b', 'c']) stores.get(id)!.flush([{ prefix: 'f:', wall: 3_000, logical: 0, node: 'z' }]);
  const w = await call<{ wall: number; logical: number }>((cb) => coord.set('f:1', 'after the flush', false, 0, Level.Quorum, cb));
  assert.equal(w.err, null);
  assert.ok(w.r!.wall >= 5_000, 'above the flush (and the clock already adopted 5000)');
  await new Promise((res) => setTimeout(res, 5));
  for (const id of ['b', 'c']) assert.equal(stores.get(id)!.peek('f:1')?.value, 'after the flush', id);
});
