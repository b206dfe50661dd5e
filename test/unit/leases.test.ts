/**
 * Leases: the pure lease table (src/replication/leases.ts), the owner's LEASE / LEASE_WRITE
 * operations (src/replication/replica.ts) and the coordinator's GetOrLease and Set-with-token
 * paths (src/replication/coordinator.ts) with in-process replicas behind an in-memory transport.
 */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { HybridClock } from '../../src/hlc/hlc.ts';
import { OpKind } from '../../src/protos/generated/peer/cache/peer/v1/OpKind.ts';
import { Level } from '../../src/quorum/quorum.ts';
import { Coordinator, type LeaseAnswer, type PeerTransport, type WriteResult } from '../../src/replication/coordinator.ts';
import { HintStore } from '../../src/replication/hints.ts';
import { LeaseTable } from '../../src/replication/leases.ts';
import { Replica, readAnswer } from '../../src/replication/replica.ts';
import { type EntryRecord, Store } from '../../src/store/store.ts';
import type { PeerResult } from '../../src/wire/codec.ts';
import { rec } from '../helpers/records.ts';

const v = (wall: number, node = 'n') => ({ wall, logical: 0, node });
const counter = () => {
  let i = 0;
  return () => `t${++i}`;
};

describe('LeaseTable', () => {
  test('one live lease per key; others wait for what it has left; an expired one is replaced', () => {
    const t = new LeaseTable(10, counter());
    assert.deepEqual(t.grant('k', 1000, 500, undefined), { token: 't1' });
    assert.deepEqual(t.grant('k', 1200, 500, undefined), { waitMs: 300 });
    assert.deepEqual(t.grant('k', 1499, 500, undefined), { waitMs: 1 });
    assert.deepEqual(t.grant('other', 1200, 500, undefined), { token: 't2' }, 'keys are independent');
    assert.deepEqual(t.grant('k', 1500, 500, undefined), { token: 't3' }, 'at expiry the next caller gets a new lease');
    assert.equal(t.size, 2);
  });

  test('check: the live token, no write since the grant, used up once', () => {
    const t = new LeaseTable(10, counter());
    t.grant('k', 1000, 500, undefined);
    assert.match(t.check('k', 'nope', 1100, undefined)!, /not the key's current lease/);
    assert.equal(t.check('k', 't1', 1100, undefined), undefined, 'accepted');
    assert.match(t.check('k', 't1', 1100, undefined)!, /not the key's current lease/, 'a token serves one write');
    assert.deepEqual(t.grant('k', 1100, 500, undefined), { token: 't2' }, 'and the key can be leased again');
  });

  test('check: refused after the lease expired, or when the key changed since the grant', () => {
    const t = new LeaseTable(10, counter());
    t.grant('a', 1000, 500, undefined);
    assert.match(t.check('a', 't1', 1500, undefined)!, /expired/);
    t.grant('b', 1000, 500, undefined);
    assert.match(t.check('b', 't2', 1100, v(1050))!, /written or deleted after the lease was granted/, 'written since');
    assert.deepEqual(t.grant('b', 1100, 500, v(1050)), { token: 't3' }, 'the losing lease is gone');
    assert.match(t.check('b', 't3', 1100, v(1060))!, /written or deleted/, 'a newer version than the grant saw');
    t.grant('c', 1000, 500, v(900));
    assert.match(t.check('c', 't4', 1100, undefined)!, /written or deleted/, 'the version seen at the grant is gone');
    t.grant('d', 1000, 500, v(900, 'x'));
    assert.equal(t.check('d', 't5', 1100, v(900, 'x')), undefined, 'same version (a tombstone, say): accepted');
    t.grant('e', 1000, 500, v(900, 'x'));
    assert.match(t.check('e', 't6', 1100, v(900, 'y'))!, /written or deleted/, 'versions compare by node too');
  });

  test('release: only by its own token', () => {
    const t = new LeaseTable(10, counter());
    t.grant('k', 1000, 500, undefined);
    assert.equal(t.release('k', 'other'), false);
    assert.equal(t.release('k', 't1'), true);
    assert.equal(t.release('k', 't1'), false);
    assert.deepEqual(t.grant('k', 1001, 500, undefined), { token: 't2' });
  });

  test('bounded: the oldest grant goes, with the expired ones behind it', () => {
    const t = new LeaseTable(3, counter());
    t.grant('a', 1000, 100, undefined); // expires 1100
    t.grant('b', 1000, 150, undefined); // 1150
    t.grant('c', 1000, 5000, undefined); // 6000
    t.grant('d', 1200, 1000, undefined); // a and b had expired: both dropped
    assert.equal(t.size, 2);
    t.grant('e', 1200, 1000, undefined);
    assert.equal(t.size, 3);
    t.grant('f', 1300, 1000, undefined); // full, nothing expired: the oldest grant (c) goes
    assert.equal(t.size, 3);
    assert.match(t.check('c', 't3', 1300, undefined)!, /not the key's current lease/);
    assert.equal(t.check('d', 't4', 1300, undefined), undefined);
    assert.deepEqual(t.grant('c', 1300, 1000, undefined), { token: 't7' }, 'its key is simply leased again');
    assert.throws(() => new LeaseTable(0), /maxLeases/);
  });

  test('default tokens are random, opaque and distinct', () => {
    const t = new LeaseTable();
    const a = t.grant('a', 0, 10, undefined) as { token: string };
    const b = t.grant('b', 0, 10, undefined) as { token: string };
    assert.match(a.token, /^[A-Za-z0-9_-]{22}$/);
    assert.notEqual(a.token, b.token);
  });
});

// ---------------------------------------------------------------- the owner's operations

let now = 1_000_000;
const newStore = () => new Store({ shards: 1, capacity: 0, maxMemoryBytes: 0, policy: 'lru', tombstoneGraceMs: 60_000, now: () => now });

describe('Replica: LEASE and LEASE_WRITE', () => {
  test('a live value is answered; a miss gets one lease; the others wait, with a recently expired value as stale', () => {
    const s = newStore();
    const r = new Replica(s, () => now, new LeaseTable(10, counter()));
    s.apply('live', rec(1));
    assert.deepEqual(r.execute({ kind: OpKind.OP_KIND_LEASE, key: 'live', leaseMs: 1000 }), { found: true, rec: s.peek('live') });
    assert.deepEqual(r.execute({ kind: OpKind.OP_KIND_LEASE, key: 'k', leaseMs: 1000 }), { leaseToken: 't1' });
    assert.deepEqual(r.execute({ kind: OpKind.OP_KIND_LEASE, key: 'k', leaseMs: 1000 }), { waitMs: 1000 });
    s.apply('old', rec(2, 'old value', { expiresAt: now + 10 }));
    now += 20;
    assert.deepEqual(r.lease('old', 1000), { leaseToken: 't2' });
    const waiting = r.lease('old', 1000);
    assert.deepEqual([waiting.waitMs, waiting.stale, waiting.rec?.value], [1000, true, 'old value']);
  });

  test('LEASE_WRITE: applied with the good token, refused (nothing written) with a stale one', () => {
    const s = newStore();
    const r = new Replica(s, () => now, new LeaseTable(10, counter()));
    r.lease('k', 1000);
    assert.deepEqual(r.execute({ kind: OpKind.OP_KIND_LEASE_WRITE, key: 'k', rec: rec(now), leaseToken: 't1' }), {});
    assert.equal(s.peek('k')?.value, `v${now}`);
    const again = r.execute({ kind: OpKind.OP_KIND_LEASE_WRITE, key: 'k', rec: rec(now + 1, 'late'), leaseToken: 't1' });
    assert.match(again.refused!, /not the key's current lease/);
    assert.equal(s.peek('k')?.value, `v${now}`, 'nothing written');
    // a plain write after the grant supersedes the lease
    r.lease('m', 1000);
    r.execute({ kind: OpKind.OP_KIND_WRITE, key: 'm', rec: rec(now, 'fresh') });
    s.apply('m', rec(now, 'fresh'));
    const late = r.leasedWrite('m', rec(now + 5, 'slow loader'), 't2');
    assert.match(late.refused!, /written or deleted after/);
    assert.equal(s.peek('m')?.value, 'fresh');
    r.accepting = false;
    assert.equal(r.leasedWrite('x', rec(now), 'any').error, 'node is leaving the cluster');
  });
});

// ---------------------------------------------------------------- the coordinator's paths

function cluster(opts: { down?: string[]; replicas?: string[] } = {}) {
  const ids = ['a', 'b', 'c'];
  const stores = new Map(ids.map((id) => [id, newStore()]));
  const down = new Set(opts.down ?? []);
  const replicas = new Map(ids.map((id) => [id, new Replica(stores.get(id)!, () => now, new LeaseTable(100, counter()))]));
  const sent: string[] = [];
  const op = (node: string, o: Parameters<Replica['execute']>[0], cb: (err: Error | null, res?: PeerResult) => void) => {
    sent.push(`${o.kind} ${node}`);
    queueMicrotask(() => (down.has(node) ? cb(new Error(`${node} down`)) : cb(null, replicas.get(node)!.execute(o))));
  };
  const transport: PeerTransport = {
    write: (node, key, r, cb) =>
      op(node, { kind: OpKind.OP_KIND_WRITE, key, rec: r }, (err, res) => cb(err, res?.existed, res?.newer ? res.rec : undefined)),
    read: (node, key, have, cb) => op(node, { kind: OpKind.OP_KIND_READ, key, have }, (err, res) => cb(err, res && readAnswer(res, have))),
  };
  const coordinator = (self: string) =>
    new Coordinator(
      stores.get(self)!,
      new HybridClock(self, () => now),
      { replicas: () => opts.replicas ?? ids, previousReplicas: () => undefined, isReachable: (n) => !down.has(n) },
      transport,
      new HintStore(100),
      {
        selfId: self,
        writeQuorum: 2,
        readQuorum: 2,
        defaultTtlMs: 0,
        leases: {
          local: replicas.get(self)!,
          peers: {
            lease: (node, key, leaseMs, cb) => op(node, { kind: OpKind.OP_KIND_LEASE, key, leaseMs }, cb),
            leasedWrite: (node, key, r, token, cb) => op(node, { kind: OpKind.OP_KIND_LEASE_WRITE, key, rec: r, leaseToken: token }, cb),
            release: (node, key, token, cb) => op(node, { kind: OpKind.OP_KIND_LEASE_RELEASE, key, leaseToken: token }, cb),
          },
        },
      },
    );
  return { coordinator, stores, replicas, sent, down };
}

const call = <T>(fn: (cb: (err: Error | null, r?: T) => void) => void) =>
  new Promise<{ err: Error | null; r?: T }>((resolve) => fn((err, r) => resolve({ err, r })));

describe('Coordinator: GetOrLease and Set with a lease token', () => {
  test('the lease lives on the first replica whichever node coordinates; a leased Set lands on a quorum', async () => {
    const c = cluster();
    const fromB = c.coordinator('b');
    const fromC = c.coordinator('c');
    const first = await call<LeaseAnswer>((cb) => fromB.getOrLease('k', 1000, Level.Quorum, cb));
    assert.deepEqual(first.r, { kind: 'lease', token: 't1' });
    assert.ok(c.sent.includes(`${OpKind.OP_KIND_LEASE} a`), 'asked a, the first replica');
    assert.equal(c.replicas.get('a')!.leases.size, 1);
    const second = await call<LeaseAnswer>((cb) => fromC.getOrLease('k', 1000, Level.Quorum, cb));
    assert.deepEqual(second.r, { kind: 'wait', waitMs: 1000, stale: undefined });
    const set = await call<WriteResult>((cb) => fromC.setLeased('k', 'loaded', false, 0, Level.Quorum, 't1', cb));
    assert.equal(set.err, null);
    assert.equal(c.stores.get('a')!.peek('k')?.value, 'loaded');
    await new Promise((r) => setImmediate(r));
    assert.equal(c.stores.get('b')!.peek('k')?.value, 'loaded');
    const hit = await call<LeaseAnswer>((cb) => fromB.getOrLease('k', 1000, Level.Quorum, cb));
    assert.equal(hit.r?.kind, 'value');
    assert.equal((hit.r as { rec: EntryRecord }).rec.value, 'loaded');
  });

  test('a superseded token is FAILED_PRECONDITION and nothing is written; the newer value stays', async () => {
    const c = cluster();
    const coord = c.coordinator('a');
    const lease = await call<LeaseAnswer>((cb) => coord.getOrLease('k', 1000, Level.Quorum, cb));
    assert.equal(lease.r?.kind, 'lease');
    now += 1;
    assert.equal((await call<WriteResult>((cb) => c.coordinator('b').set('k', 'newer', false, 0, Level.All, cb))).err, null);
    now += 1;
    const late = await call<WriteResult>((cb) => coord.setLeased('k', 'slow', false, 0, Level.Quorum, 't1', cb));
    assert.equal((late.err as { kind?: string }).kind, 'precondition');
    assert.match(late.err!.message, /written or deleted after the lease was granted/);
    for (const s of c.stores.values()) assert.equal(s.peek('k')?.value, 'newer');
  });

  test('ReleaseLease gives the lease back on its owner: the next caller gets one at once', async () => {
    const c = cluster();
    const coord = c.coordinator('c');
    const lease = await call<LeaseAnswer>((cb) => coord.getOrLease('k', 60_000, Level.Quorum, cb));
    assert.deepEqual(lease.r, { kind: 'lease', token: 't1' });
    assert.deepEqual((await call<boolean>((cb) => coord.releaseLease('k', 'wrong', cb))).r, false);
    assert.equal((await call<LeaseAnswer>((cb) => coord.getOrLease('k', 60_000, Level.Quorum, cb))).r?.kind, 'wait');
    assert.deepEqual((await call<boolean>((cb) => coord.releaseLease('k', 't1', cb))).r, true);
    assert.ok(c.sent.includes(`${OpKind.OP_KIND_LEASE_RELEASE} a`));
    assert.deepEqual((await call<LeaseAnswer>((cb) => c.coordinator('a').getOrLease('k', 60_000, Level.Quorum, cb))).r, {
      kind: 'lease',
      token: 't2',
    });
    assert.deepEqual((await call<boolean>((cb) => coord.releaseLease('k', 't1', cb))).r, false, 'a released token is nothing');
  });

  test('the first replica down: the next one holds leases (the old lease is simply lost)', async () => {
    const c = cluster({ down: ['a'] });
    const coord = c.coordinator('b');
    const got = await call<LeaseAnswer>((cb) => coord.getOrLease('k', 1000, Level.Quorum, cb));
    assert.deepEqual(got.r, { kind: 'lease', token: 't1' });
    assert.equal(c.replicas.get('b')!.leases.size, 1, 'b, the first reachable replica, holds it');
    const set = await call<WriteResult>((cb) => c.coordinator('c').setLeased('k', 'x', false, 0, Level.Quorum, 't1', cb));
    assert.equal(set.err, null);
  });

  test('without lease owners configured: UNAVAILABLE', async () => {
    const s = newStore();
    const coord = new Coordinator(
      s,
      new HybridClock('a', () => now),
      { replicas: () => ['a'], previousReplicas: () => undefined, isReachable: () => true },
      { write: () => undefined, read: () => undefined },
      new HintStore(1),
      { selfId: 'a', writeQuorum: 1, readQuorum: 1, defaultTtlMs: 0 },
    );
    const r = await call<LeaseAnswer>((cb) => coord.getOrLease('k', 1000, Level.One, cb));
    assert.equal((r.err as { kind?: string }).kind, 'unavailable');
  });
});
