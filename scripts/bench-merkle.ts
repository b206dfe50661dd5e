/**
 * What keeping anti-entropy's Merkle trees up to date costs the write path, and what it saves.
 *
 *   node --import tsx scripts/bench-merkle.ts [--entries 1000000] [--writes 1000000]
 *
 * In one process, no gRPC. Fills a Store (32 shards, 12-byte keys, 100-byte values), then
 * times overwrites of random keys (Store.apply) side by side: nobody observing the store, and
 * an AntiEntropy keeping its trees (3 and 6 nodes, rf 3: 2 to 5 peer trees); also the key's
 * placement alone (SharedPlacement.peersAt against HashRing.preferenceList). Then Stats'
 * merkle_root: by scanning in slices (as before) against the kept tree, and a rebuild of the
 * kept trees (a new ring) with the longest event-loop delay while it runs.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { AntiEntropy, TREE_DEPTH } from '../src/antientropy/antientropy.ts';
import { SharedPlacement } from '../src/antientropy/placement.ts';
import { addAll } from '../src/antientropy/trees.ts';
import type { Logger } from '../src/log/logger.ts';
import { MerkleTree } from '../src/merkle/merkle.ts';
import type { PeerPool } from '../src/peer/client.ts';
import { HashRing, keyPosition } from '../src/ring/ring.ts';
import { inSlices } from '../src/scan/slices.ts';
import type { EntryRecord } from '../src/store/store.ts';
import { Store } from '../src/store/store.ts';
import { seeded } from '../test/helpers/random.ts';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
}
const N = arg('--entries', 1_000_000);
const W = arg('--writes', 1_000_000);
const quiet = { debug() {}, info() {}, warn() {}, error() {} } as unknown as Logger;
const keyOf = (k: number) => `k${k.toString().padStart(11, '0')}`;
const v = 'v'.repeat(100);
const rec: EntryRecord = { value: v, binary: false, wall: 1, logical: 0, node: 'n1', expiresAt: 0, tombstone: false };

function ringOf(n: number): HashRing {
  const r = new HashRing(128);
  for (let i = 1; i <= n; i++) r.add(`n${i}`);
  return r;
}

function filled(): Store {
  const store = new Store({ shards: 32, capacity: 0, maxMemoryBytes: 0, policy: 'lru', tombstoneGraceMs: 60_000 });
  for (let k = 0; k < N; k++) store.apply(keyOf(k), rec);
  return store;
}

const keys = Array.from({ length: 65_536 }, (_, i) => keyOf(Math.floor(seeded(i + 1)() * N)));

/** ns per overwrite of a random key (versions rising), best of 3 runs of W writes. */
function writes(store: Store, wall: { n: number }): number {
  let best = Infinity;
  for (let run = 0; run < 3; run++) {
    const t = performance.now();
    for (let i = 0; i < W; i++) {
      rec.wall = ++wall.n;
      store.apply(keys[i & 65_535]!, rec);
    }
    best = Math.min(best, ((performance.now() - t) * 1e6) / W);
  }
  return best;
}

function untilRebuilt(ae: AntiEntropy, count: number): Promise<void> {
  return new Promise((resolve) => {
    const check = () => (ae.stats.rebuilds >= count ? resolve() : setTimeout(check, 5));
    check();
  });
}

console.log(`entries=${N} writes=${W} (best of 3)`);
const wall = { n: 1 };
const plain = filled();
const base = writes(plain, wall);
console.log(`Store.apply, nobody observing:              ${base.toFixed(0)} ns`);

for (const nodes of [3, 6]) {
  const store = filled();
  const ring = ringOf(nodes);
  const ae = new AntiEntropy(
    store,
    'n1',
    3,
    () => ring,
    undefined as unknown as PeerPool,
    () => true,
    quiet,
  );
  await untilRebuilt(ae, 1);
  const ns = writes(store, wall);
  console.log(`Store.apply, trees kept (${nodes} nodes, rf 3):     ${ns.toFixed(0)} ns (${(ns / base).toFixed(2)}x)`);
  if (nodes === 3) {
    // Stats' root: scanned in slices (before) and kept (now)
    let t = performance.now();
    const scanned = new MerkleTree(TREE_DEPTH);
    for await (const part of inSlices(store.versions())) addAll(scanned, part);
    const scanMs = performance.now() - t;
    t = performance.now();
    const kept = await ae.wholeRoot();
    const keptMs = performance.now() - t;
    console.log(
      `merkle_root: scanned in slices ${scanMs.toFixed(0)} ms, kept ${keptMs.toFixed(2)} ms (${scanned.root() === kept ? 'equal' : 'DIFFERENT'})`,
    );
    // a rebuild (new ring) and the event loop meanwhile
    const h = monitorEventLoopDelay({ resolution: 1 });
    h.enable();
    t = performance.now();
    const bigger = ringOf(4);
    const before = ae.stats.rebuilds;
    (ae as unknown as { ring: () => HashRing }).ring = () => bigger;
    store.apply(keyOf(0), { ...rec, wall: ++wall.n }); // a change notices the new ring
    await untilRebuilt(ae, before + 1);
    const rebuildMs = performance.now() - t;
    h.disable();
    console.log(`rebuild for a new ring: ${rebuildMs.toFixed(0)} ms, longest event-loop delay ${(h.max / 1e6).toFixed(0)} ms`);
  }
  ae.stop();
}

// the placement lookup alone
{
  const ring = ringOf(6);
  const p = new SharedPlacement(ring, 3, 'n1');
  let sink = 0;
  let t = performance.now();
  for (let i = 0; i < W; i++) sink += p.peersAt(keyPosition(keys[i & 65_535]!)).length;
  const placed = ((performance.now() - t) * 1e6) / W;
  t = performance.now();
  for (let i = 0; i < W; i++) sink += ring.preferenceList(keys[i & 65_535]!, 3).length;
  const listed = ((performance.now() - t) * 1e6) / W;
  console.log(
    `a key's sharing peers: SharedPlacement ${placed.toFixed(0)} ns, HashRing.preferenceList ${listed.toFixed(0)} ns (${sink > 0 ? 'ok' : ''})`,
  );
}
