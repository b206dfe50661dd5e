import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LiveTrees } from '../../src/antientropy/live.ts';
import { SharedPlacement } from '../../src/antientropy/placement.ts';
import { sharedTree, wholeTree } from '../../src/antientropy/trees.ts';
import type { MerkleTree } from '../../src/merkle/merkle.ts';
import { HashRing, keyPosition } from '../../src/ring/ring.ts';
import type { EvictionPolicyName } from '../../src/store/store.ts';
import { Store } from '../../src/store/store.ts';
import { seeded } from '../helpers/random.ts';

const DEPTH = 6;

function ringOf(nodes: string[], vnodes = 16): HashRing {
  const r = new HashRing(vnodes);
  for (const n of nodes) r.add(n);
  return r;
}

/** Every hash of two trees, level by level (not only the roots). */
function assertSameTree(a: MerkleTree, b: MerkleTree, what: string): void {
  for (let level = 0; level <= DEPTH; level++) {
    const idx = Array.from({ length: 1 << level }, (_, i) => i);
    assert.deepEqual(a.hashes(level, idx), b.hashes(level, idx), `${what}, level ${level}`);
  }
}

interface World {
  store: Store;
  live: LiveTrees;
  clock: { now: number };
}

function world(opts: { capacity?: number; grace?: number; policy?: EvictionPolicyName; shards?: number } = {}): World {
  const clock = { now: 1_000_000 };
  const store = new Store({
    shards: opts.shards ?? 4,
    capacity: opts.capacity ?? 0,
    maxMemoryBytes: 0,
    policy: opts.policy ?? 'lru',
    tombstoneGraceMs: opts.grace ?? 5_000,
    now: () => clock.now,
  });
  const marks = store.flushMarks();
  const live = new LiveTrees({
    depth: DEPTH,
    keepsTombstones: store.tombstoneGraceMs > 0,
    covered: (key, wall, logical, node) => marks.size !== 0 && marks.covers(key, wall, logical, node),
    partOf: (key, bits) => store.partOf(key, bits),
  });
  store.observe({
    applied: (key, rec, prev) => live.applied(key, rec, prev),
    removed: (_kind, key, wall, logical, node, tombstone) => live.removed(key, wall, logical, node, tombstone),
    flushed: () => {},
  });
  return { store, live, clock };
}

function startRebuild(w: World, ring: HashRing, rf: number, self: string, perPart = 4): void {
  const bits = w.store.partBits(perPart);
  w.live.rebuild(new SharedPlacement(ring, rf, self), bits, w.store.partCount(bits));
}

function scanOne(w: World): boolean {
  const part = w.live.nextPart;
  if (part === -1) return false;
  w.live.scanned(part, w.store.heldInPart(part, w.live.partBits));
  return true;
}

function finishRebuild(w: World): void {
  while (scanOne(w)) {}
}

/** The live trees equal the trees built by scanning (after every due entry is reclaimed). */
function assertAgrees(w: World, ring: HashRing, rf: number, self: string, what: string): void {
  w.store.sweep(Number.MAX_SAFE_INTEGER);
  const set = w.live.trees;
  assert.ok(set, `${what}: trees ready`);
  assertSameTree(set.whole.tree(), wholeTree(w.store.versions(), DEPTH), `${what}: whole tree`);
  const prefs = (k: string) => ring.preferenceList(k, rf);
  for (const peer of ring.nodes()) {
    if (peer === self) continue;
    const i = set.placement.indexOf(peer);
    const scanned = sharedTree(w.store.versions(), prefs, self, peer, DEPTH);
    if (i === -1) assert.equal(scanned.root(), '0000000000000000', `${what}: ${peer} shares nothing`);
    else assertSameTree(set.peers[i]!.tree(), scanned, `${what}: tree shared with ${peer}`);
  }
}

test('placement: the peers sharing a position are those of the preference list, for every key', () => {
  for (const [nodes, rf] of [
    [['a'], 3],
    [['a', 'b'], 3],
    [['a', 'b', 'c', 'd', 'e'], 3],
    [['a', 'b', 'c', 'd', 'e'], 1],
    [['b', 'c', 'd'], 2], // self not in the ring
  ] as [string[], number][]) {
    const ring = ringOf(nodes, 8);
    const p = new SharedPlacement(ring, rf, 'a');
    for (let i = 0; i < 5000; i++) {
      const key = `key-${i}`;
      const list = ring.preferenceList(key, rf);
      const want = list.includes('a') ? list.filter((n) => n !== 'a').sort() : [];
      const got = p.peersAt(keyPosition(key)).map((j) => p.peers[j]!);
      assert.deepEqual(got.sort(), want, `${nodes.join('')} rf=${rf} ${key}`);
    }
  }
});

test('random writes, deletes, expiries, evictions, drops and flushes: the live trees equal the scanned ones', () => {
  for (const [seed, opts] of [
    [1, {}],
    [2, { capacity: 60, policy: 'lru' as const }],
    [3, { capacity: 40, policy: 'random' as const, grace: 0 }],
    [4, { capacity: 80, policy: 'ttl' as const, shards: 1 }],
  ] as const) {
    const rand = seeded(seed);
    const w = world(opts);
    const self = 'a';
    let ring = ringOf(['a', 'b', 'c', 'd', 'e']);
    const rf = 3;
    startRebuild(w, ring, rf, self);
    const writers = ['a', 'b', 'c'];
    let wall = 2_000_000;
    let checks = 0;
    for (let step = 0; step < 6000; step++) {
      const key = `k${Math.floor(rand() * 150)}`;
      const r = rand();
      if (r < 0.45) {
        const ttl = rand() < 0.3 ? 1 + Math.floor(rand() * 3000) : 0;
        w.store.apply(key, {
          value: `v${step}`,
          binary: false,
          wall: wall + Math.floor(rand() * 50) - 25, // some writes lose (older than what is held)
          logical: Math.floor(rand() * 3),
          node: writers[Math.floor(rand() * writers.length)]!,
          expiresAt: ttl === 0 ? 0 : w.clock.now + ttl,
          tombstone: false,
        });
        wall++;
      } else if (r < 0.6) {
        w.store.apply(key, { value: '', binary: false, wall: wall++, logical: 0, node: 'b', expiresAt: 0, tombstone: true });
      } else if (r < 0.68) {
        w.store.drop(key);
      } else if (r < 0.76) {
        w.store.get(key); // may reclaim an expired or flushed entry
      } else if (r < 0.84) {
        w.clock.now += Math.floor(rand() * 800);
      } else if (r < 0.87) {
        w.store.sweep(1 + Math.floor(rand() * 5));
      } else if (r < 0.88) {
        // a flush of a prefix (or of everything) at the current version: a rebuild follows
        const prefix = rand() < 0.2 ? '' : `k${Math.floor(rand() * 10)}`;
        if (w.store.flush([{ prefix, wall: wall++, logical: 0, node: 'c' }])) startRebuild(w, ring, rf, self);
      } else if (r < 0.89) {
        w.store.reclaimFlushed(1 + Math.floor(rand() * 50));
      } else if (r < 0.895) {
        // the ring changes: a rebuild follows
        ring = rand() < 0.5 ? ringOf(['a', 'b', 'c', 'd']) : ringOf(['a', 'b', 'c', 'd', 'e', 'f']);
        startRebuild(w, ring, rf, self);
      } else if (r < 0.95) {
        scanOne(w); // rebuilds advance between changes
      } else if (r < 0.953) {
        finishRebuild(w);
        assertAgrees(w, ring, rf, self, `seed ${seed} step ${step}`);
        checks++;
      }
    }
    finishRebuild(w);
    assertAgrees(w, ring, rf, self, `seed ${seed} end`);
    assert.ok(checks > 5, 'checked along the way');
    assert.ok(w.store.stats().items > 0, 'the store holds something');
  }
});

test('loaded entries (before any peer is known) enter the trees; a rebuild with an empty store is ready at once', () => {
  const w = world();
  const ring1 = ringOf(['a']);
  startRebuild(w, ring1, 3, 'a');
  finishRebuild(w);
  for (let i = 0; i < 300; i++) {
    w.store.apply(`k${i}`, { value: 'x', binary: false, wall: 10 + i, logical: 0, node: 'a', expiresAt: 0, tombstone: false });
  }
  assertAgrees(w, ring1, 3, 'a', 'alone');
  const ring3 = ringOf(['a', 'b', 'c']);
  startRebuild(w, ring3, 3, 'a');
  assert.equal(w.live.trees, undefined, 'no trees while rebuilding');
  finishRebuild(w);
  assertAgrees(w, ring3, 3, 'a', 'three nodes');
  const set = w.live.trees!;
  assert.equal(set.peers.length, 2);
  // with rf = 3 on three nodes every key is shared with both peers
  assert.equal(set.peers[0]!.tree().root(), set.whole.tree().root());
  assert.equal(set.peers[1]!.tree().root(), set.whole.tree().root());
  assert.notEqual(set.whole.tree().root(), '0000000000000000');
});

test('a change of a key in a part not yet scanned is left to the scan; one in a scanned part goes in', () => {
  const w = world({ shards: 2 });
  const ring = ringOf(['a', 'b']);
  for (let i = 0; i < 100; i++) {
    w.store.apply(`k${i}`, { value: 'x', binary: false, wall: 10, logical: 0, node: 'a', expiresAt: 0, tombstone: false });
  }
  startRebuild(w, ring, 2, 'a', 10);
  assert.ok(w.store.partCount(w.live.partBits) > 4, 'several parts');
  let n = 0;
  while (w.live.nextPart !== -1) {
    // rewrite every key between two parts: both kinds are hit
    for (let i = 0; i < 100; i++) {
      w.store.apply(`k${i}`, { value: 'y', binary: false, wall: 11 + n, logical: 0, node: 'b', expiresAt: 0, tombstone: false });
    }
    n++;
    scanOne(w);
  }
  assertAgrees(w, ring, 2, 'a', 'after the rebuild');
});

test('store scans: every held key is in exactly the part partOf names; versionsInBuckets gives exactly the keys of the wanted buckets', () => {
  const w = world({ shards: 3 });
  for (let i = 0; i < 2000; i++) {
    w.store.apply(`key/${i}`, { value: 'x', binary: false, wall: 10, logical: 0, node: 'a', expiresAt: 0, tombstone: i % 7 === 0 });
  }
  const all = [...w.store.versions()].map(([k]) => k).sort();
  for (const bits of [0, 2, 5]) {
    const seen: string[] = [];
    for (let part = 0; part < w.store.partCount(bits); part++) {
      for (const [key] of w.store.heldInPart(part, bits)) {
        assert.equal(w.store.partOf(key, bits), part, key);
        seen.push(key);
      }
    }
    assert.deepEqual(seen.sort(), all, `bits ${bits}`);
  }
  assert.equal(w.store.partBits(2000), 0);
  assert.equal(w.store.partBits(100), 3, '~667 slots a shard in parts of at most 100');
  const depth = 6;
  const wanted = new Uint8Array(1 << depth);
  for (const b of [0, 5, 17, 63]) wanted[b] = 1;
  const got = [...w.store.versionsInBuckets(depth, wanted)].map(([k]) => k).sort();
  const want = all.filter((k) => wanted[keyPosition(k) >>> (32 - depth)] === 1);
  assert.ok(want.length > 50);
  assert.deepEqual(got, want);
});
