/** AntiEntropy with kept trees, two nodes in one process (no gRPC): Stats' root, rebuilds, rounds. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AntiEntropy, TREE_DEPTH } from '../../src/antientropy/antientropy.ts';
import { sharedTree, wholeTree } from '../../src/antientropy/trees.ts';
import type { Logger } from '../../src/log/logger.ts';
import type { PeerPool } from '../../src/peer/client.ts';
import { entryToWire } from '../../src/peer/service.ts';
import type { Entry__Output } from '../../src/protos/generated/peer/cache/peer/v1/Entry.ts';
import { HashRing } from '../../src/ring/ring.ts';
import type { EntryRecord } from '../../src/store/store.ts';
import { Store } from '../../src/store/store.ts';
import { eventually } from '../helpers/procs.ts';

const quiet = { debug() {}, info() {}, warn() {}, error() {} } as unknown as Logger;

function ringOf(nodes: string[]): HashRing {
  const r = new HashRing(16);
  for (const n of nodes) r.add(n);
  return r;
}

const rec = (wall: number, value = `v${wall}`, tombstone = false): EntryRecord => ({
  value,
  binary: false,
  wall,
  logical: 0,
  node: 'w',
  expiresAt: 0,
  tombstone,
});

function newStore(): Store {
  return new Store({ shards: 4, capacity: 0, maxMemoryBytes: 0, policy: 'lru', tombstoneGraceMs: 60_000 });
}

/** Nodes a and b whose PeerPool calls go straight to the other's AntiEntropy and store. */
function pair(ring: { current: HashRing }) {
  const stores = { a: newStore(), b: newStore() };
  const aes: Record<string, AntiEntropy> = {};
  const pool = (self: 'a' | 'b'): PeerPool =>
    ({
      treeHashes: (peer: string, level: number, indexes: number[]) => aes[peer]!.treeHashes(self, level, indexes),
      bucketEntries: async (peer: string, buckets: number[]) =>
        (await aes[peer]!.bucketEntries(self, buckets)).map(
          ([k, r]) => ({ ...entryToWire(k, r), payload: 'text', expires_at: r.expiresAt, tombstone: r.tombstone }) as Entry__Output,
        ),
      write: (peer: 'a' | 'b', key: string, r: EntryRecord, cb: (err: Error | null) => void) => {
        stores[peer].apply(key, r);
        cb(null);
      },
    }) as unknown as PeerPool;
  for (const id of ['a', 'b'] as const) {
    aes[id] = new AntiEntropy(
      stores[id],
      id,
      2,
      () => ring.current,
      pool(id),
      () => true,
      quiet,
    );
  }
  return { stores, a: aes.a!, b: aes.b! };
}

test('Stats root: the kept whole tree equals the scanned one, through writes, a flush and while rebuilding', async () => {
  const ring = { current: ringOf(['a', 'b']) };
  const { stores, a, b } = pair(ring);
  try {
    for (let i = 0; i < 3000; i++) stores.a.apply(`k${i}`, rec(10 + i));
    for (let i = 0; i < 100; i++) stores.a.apply(`k${i}`, rec(5000 + i, '', true));
    const scanned = () => wholeTree(stores.a.versions(), TREE_DEPTH).root();
    await eventually(() => a.stats.rebuilds >= 1, 5_000);
    assert.equal(await a.wholeRoot(), scanned());
    const before = a.stats.rebuilds;
    assert.ok(stores.a.flush([{ prefix: 'k1', wall: 100_000, logical: 0, node: 'w' }]));
    await eventually(() => a.stats.rebuilds > before, 5_000);
    stores.a.apply('k10', rec(200_000));
    assert.equal(await a.wholeRoot(), scanned(), 'after the rebuild and one more write');
  } finally {
    a.stop();
    b.stop();
  }
});

test('a round repairs both sides from the kept trees; a new ring rebuilds them and rounds skip meanwhile', async () => {
  const ring = { current: ringOf(['a', 'b']) };
  const { stores, a, b } = pair(ring);
  try {
    for (let i = 0; i < 2000; i++) {
      stores.a.apply(`k${i}`, rec(10));
      stores.b.apply(`k${i}`, rec(10));
    }
    stores.a.apply('only-a', rec(20));
    stores.b.apply('k7', rec(30)); // newer on b
    stores.b.apply('k8', rec(30, '', true)); // deleted on b
    await eventually(() => a.stats.rebuilds >= 1 && b.stats.rebuilds >= 1, 5_000);
    assert.equal(await a.round(), 3, 'one given, two taken');
    assert.equal(await a.wholeRoot(), await b.wholeRoot());
    assert.equal(stores.b.peek('only-a')?.wall, 20);
    assert.equal(stores.a.peek('k8')?.tombstone, true);
    assert.equal(await a.round(), 0, 'nothing left to repair');

    // Three nodes, rf 2: a shares some keys with b and some with c (which is unknown here)
    ring.current = ringOf(['a', 'b', 'c']);
    const skipped = a.stats.skipped;
    assert.equal(await a.round(), 0);
    assert.ok(a.stats.skipped > skipped, 'the round skips while the trees are rebuilt');
    await eventually(() => a.stats.rebuilds >= 2, 5_000);
    const prefs = (k: string) => ring.current.preferenceList(k, 2);
    const want = sharedTree(stores.a.versions(), prefs, 'a', 'b', TREE_DEPTH);
    const idx = Array.from({ length: 1 << TREE_DEPTH }, (_, i) => i);
    assert.deepEqual(await a.treeHashes('b', TREE_DEPTH, idx), want.hashes(TREE_DEPTH, idx), 'the tree served to b is the shared one');
    assert.notEqual(want.root(), wholeTree(stores.a.versions(), TREE_DEPTH).root(), 'not everything is shared with b any more');
  } finally {
    a.stop();
    b.stop();
  }
});

test('with rounds off (keep = false) the store is not observed for trees; Stats root is the scanned one', async () => {
  const store = newStore();
  const ae = new AntiEntropy(
    store,
    'a',
    2,
    () => ringOf(['a', 'b']),
    {} as PeerPool,
    () => true,
    quiet,
    false,
  );
  try {
    for (let i = 0; i < 500; i++) store.apply(`k${i}`, rec(10 + i));
    // nothing to wait for: no rebuild ever starts
    await new Promise((r) => setImmediate(r));
    assert.equal(ae.stats.rebuilds, 0);
    assert.equal(await ae.wholeRoot(), wholeTree(store.versions(), TREE_DEPTH).root());
    store.apply('k1', rec(99_999));
    assert.equal(await ae.wholeRoot(), wholeTree(store.versions(), TREE_DEPTH).root());
    assert.equal(ae.stats.rebuilds, 0);
  } finally {
    ae.stop();
  }
});

test("bucketEntries answers exactly the held entries both replicate in the asked buckets (the preference lists' rule), for each peer and after a new ring", async () => {
  let now = 1_000_000;
  const store = new Store({ shards: 4, capacity: 0, maxMemoryBytes: 0, policy: 'lru', tombstoneGraceMs: 60_000, now: () => now });
  const ring = { current: ringOf(['a', 'b', 'c', 'd', 'e']) };
  const ae = new AntiEntropy(
    store,
    'a',
    3,
    () => ring.current,
    {} as PeerPool,
    () => true,
    quiet,
  );
  try {
    for (let i = 0; i < 3000; i++) {
      const r = rec(10 + i, `v${i}`, i % 11 === 0);
      if (i % 13 === 0) r.expiresAt = now + 500; // dead by the time they are asked for
      store.apply(`k${i}`, r);
    }
    store.flush([{ prefix: 'k12', wall: 5_000, logical: 0, node: 'w' }]); // covers k12, k120..k129, k1200.. (held at walls below)
    now += 1_000;
    const buckets = Array.from({ length: 300 }, (_, i) => (i * 13) % (1 << TREE_DEPTH));
    buckets.push(-1, 1 << TREE_DEPTH); // not buckets: ignored
    /** The rule: ring.preferenceList holds both, the key's bucket asked for, what peek gives. */
    const expected = (peer: string) => {
      const tree = sharedTree([], (k) => ring.current.preferenceList(k, 3), 'a', peer, TREE_DEPTH);
      const asked = new Set(buckets);
      const out: [string, EntryRecord][] = [];
      for (const [key] of store.versions()) {
        const prefs = ring.current.preferenceList(key, 3);
        const held = store.peek(key);
        if (held && asked.has(tree.bucketOf(key)) && prefs.includes('a') && prefs.includes(peer)) out.push([key, held]);
      }
      return out.sort(([x], [y]) => (x < y ? -1 : 1));
    };
    for (const round of [0, 1]) {
      let some = 0;
      for (const peer of ['b', 'c', 'd', 'e', 'f']) {
        const got = (await ae.bucketEntries(peer, buckets)).sort(([x], [y]) => (x < y ? -1 : 1));
        const want = expected(peer);
        assert.deepEqual(got, want, `peer ${peer}, round ${round}`);
        some += want.length;
      }
      assert.ok(some > 100, `round ${round}: ${some} entries compared`);
      ring.current = ringOf(['a', 'b', 'c', 'd', 'e', 'f']); // a new ring: the next asks use its placement
    }
  } finally {
    ae.stop();
  }
});
