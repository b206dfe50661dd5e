/**
 * What keeping anti-entropy's Merkle trees up to date costs the write path, and what it saves.
 *
 *   node --import tsx scripts/bench-merkle.ts [--entries 1000000] [--writes 1000000]
 *
 * In one process, no gRPC. Fills two Stores (32 shards, 12-byte keys, 100-byte values), one
 * observed by an AntiEntropy keeping its trees (3 nodes, rf 3: a whole tree and 2 peer
 * trees), then compares, each pair alternated 3 times and the best of each kept:
 *  - overwrites of random keys (Store.apply) without and with the kept trees;
 *  - a key's sharing peers: SharedPlacement.peersAt against HashRing.preferenceList;
 *  - Stats' merkle_root: by scanning in slices (before) against the kept tree;
 *  - the local work of one round with a peer that differs in 64 buckets (its tree and the
 *    entries of those buckets): before (tree and buckets by scanning the store in slices)
 *    against now (kept tree, buckets through the position column), with the longest
 *    event-loop delay meanwhile;
 * and times one rebuild of the kept trees (a new ring).
 *
 *   node --import tsx scripts/bench-merkle.ts --write-path [--against DIR] [--rounds 9] [--keys 100000]
 *
 * runs only the write path with its observers on: Store.apply overwriting random keys (of
 * --keys for 100-byte values: few keys keep the store in the CPU caches, which shows the
 * write's own work; 20,000 for 4 KB ones) of a store (32 shards, COMPRESSION_THRESHOLD 1 KiB) observed by an AntiEntropy keeping its trees
 * (3 nodes, rf 3), with 100-byte values (not compressed) and 4 KB JSON-like ones (compressed),
 * CPU ns per write (user + system time of the process: less sensitive than wall time to other
 * load on a shared machine). With --against DIR (the src/ folder of another commit, e.g. from `git archive
 * <commit> src`, with src/protos/generated copied in), DIR's Store and AntiEntropy run too, in
 * the same process, the two alternated round by round: medians of each and of the per-round
 * ratios.
 *
 *   node --import tsx scripts/bench-merkle.ts --bucket-entries [--against DIR] [--rounds 9] [--entries 200000]
 *
 * times AntiEntropy.bucketEntries (the entries of 64 leaf buckets a peer asks for, for each of
 * the 4 peers of a 5-node ring, rf 3) on a store of --entries entries, CPU ms per call, with
 * --against as above.
 */
import { resolve } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { AntiEntropy, TREE_DEPTH } from '../src/antientropy/antientropy.ts';
import { SharedPlacement } from '../src/antientropy/placement.ts';
import { addAll, addShared, sharedInBuckets } from '../src/antientropy/trees.ts';
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
const wall = { n: 1 };

/** ns per overwrite of a random key (versions rising). */
function writes(store: Store): number {
  const t = performance.now();
  for (let i = 0; i < W; i++) {
    rec.wall = ++wall.n;
    store.apply(keys[i & 65_535]!, rec);
  }
  return ((performance.now() - t) * 1e6) / W;
}

interface Timing {
  ms: number;
  delayMs: number;
  out: string;
}

/** Runs fn, timing it and the longest event-loop delay meanwhile. */
async function timed(fn: () => Promise<string> | string): Promise<Timing> {
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  await new Promise((r) => setTimeout(r, 5));
  const t = performance.now();
  const out = await fn();
  const ms = performance.now() - t;
  await new Promise((r) => setTimeout(r, 5));
  h.disable();
  return { ms, delayMs: h.max / 1e6, out };
}

/** a and b alternated 3 times; the best time of each (and its event-loop delay). */
async function pairOf(a: () => Promise<string> | string, b: () => Promise<string> | string): Promise<[Timing, Timing]> {
  let ba: Timing | undefined;
  let bb: Timing | undefined;
  for (let run = 0; run < 3; run++) {
    const x = await timed(a);
    if (!ba || x.ms < ba.ms) ba = x;
    const y = await timed(b);
    if (!bb || y.ms < bb.ms) bb = y;
  }
  return [ba!, bb!];
}

const show = (t: Timing) => `${t.ms.toFixed(1)} ms (longest event-loop delay ${t.delayMs.toFixed(0)} ms)`;

function untilRebuilt(ae: AntiEntropy, count: number): Promise<void> {
  return new Promise((resolve) => {
    const check = () => (ae.stats.rebuilds >= count ? resolve() : setTimeout(check, 5));
    check();
  });
}

if (process.argv.includes('--write-path') || process.argv.includes('--bucket-entries')) {
  const i = process.argv.indexOf('--against');
  const sides = await sidesOf(i > 0 ? process.argv[i + 1] : undefined);
  if (process.argv.includes('--write-path')) await writePath(sides, arg('--rounds', 9));
  if (process.argv.includes('--bucket-entries')) await bucketEntries(sides, arg('--rounds', 9), arg('--entries', 200_000));
  process.exit(0);
}

console.log(`entries=${N} writes=${W}; pairs alternated 3 times, best of each`);
const plain = filled();
const store = filled();
let ring = ringOf(3);
const ae = await keptTrees(AntiEntropy, store, () => ring);

const [w0, w1] = await pairOf(
  () => `${writes(plain)}`,
  () => `${writes(store)}`,
);
const ns0 = (w0.ms * 1e6) / W;
const ns1 = (w1.ms * 1e6) / W;
console.log(
  `Store.apply: nobody observing ${ns0.toFixed(0)} ns, trees kept ${ns1.toFixed(0)} ns (${(ns1 / ns0).toFixed(2)}x; +${(ns1 - ns0).toFixed(0)} ns a write)`,
);

const placement = new SharedPlacement(ring, 3, 'n1');
const [p0, p1] = await pairOf(
  () => {
    let n = 0;
    for (let i = 0; i < W; i++) n += ring.preferenceList(keys[i & 65_535]!, 3).length;
    return `${n}`;
  },
  () => {
    let n = 0;
    for (let i = 0; i < W; i++) n += placement.peersAt(keyPosition(keys[i & 65_535]!)).length;
    return `${n}`;
  },
);
console.log(
  `a key's sharing peers: HashRing.preferenceList ${((p0.ms * 1e6) / W).toFixed(0)} ns, SharedPlacement ${((p1.ms * 1e6) / W).toFixed(0)} ns (position included)`,
);

const [r0, r1] = await pairOf(
  async () => {
    const t = new MerkleTree(TREE_DEPTH);
    for await (const part of inSlices(store.versions())) addAll(t, part);
    return t.root();
  },
  () => ae.wholeRoot(),
);
console.log(`merkle_root: scanned in slices ${show(r0)}, kept ${show(r1)} (${r0.out === r1.out ? 'equal' : 'DIFFERENT'})`);

// one round's local work with peer n2, 64 differing buckets: before and now
const buckets = Array.from({ length: 64 }, (_, i) => (i * 61) % (1 << TREE_DEPTH));
const prefs = (key: string) => ring.preferenceList(key, 3);
const [b0, b1] = await pairOf(
  async () => {
    const t = new MerkleTree(TREE_DEPTH);
    for await (const part of inSlices(store.versions())) addShared(t, part, prefs, 'n1', 'n2');
    const wanted = new Set(buckets);
    let n = 0;
    for await (const part of inSlices(store.versions())) {
      for (const [key] of sharedInBuckets(part, prefs, 'n1', 'n2', t, wanted)) if (store.peek(key)) n++;
    }
    return `${t.root()}, ${n} entries`;
  },
  async () => {
    const root = (await ae.treeHashes('n2', 0, [0]))[0];
    const n = (await ae.bucketEntries('n2', buckets)).length;
    return `${root}, ${n} entries`;
  },
);
console.log(
  `a round's local work, 64 differing buckets: scanned ${show(b0)}, kept ${show(b1)}: ${(b1.ms / b0.ms).toFixed(3)}x the time (${b0.out === b1.out ? 'same tree and entries' : `DIFFERENT: ${b0.out} / ${b1.out}`})`,
);

// a rebuild (new ring), alone
const rebuilt = await timed(async () => {
  const before = ae.stats.rebuilds;
  ring = ringOf(4);
  store.apply(keyOf(0), { ...rec, wall: ++wall.n }); // a change notices the new ring
  await untilRebuilt(ae, before + 1);
  return '';
});
console.log(`rebuild of the kept trees for a new ring: ${show(rebuilt)}`);
ae.stop();

// ---- --write-path ----

interface Side {
  name: string;
  Store: typeof Store;
  AntiEntropy: typeof AntiEntropy;
}

/** A JSON-like document of `bytes` ASCII characters (compresses about 3-4x with deflate level 1). */
function jsonDoc(rand: () => number, bytes: number): string {
  const words = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel', 'india', 'juliet'];
  const pick = () => words[Math.floor(rand() * words.length)]!;
  let s = `{"id":"${Math.floor(rand() * 1e9).toString(36)}","orders":[`;
  while (s.length < bytes) {
    s += `{"sku":"SKU-${Math.floor(rand() * 1e5)}","qty":${1 + Math.floor(rand() * 5)},"price":${(rand() * 500).toFixed(2)},"note":"${pick()} ${pick()}"},`;
  }
  return s.slice(0, bytes);
}

/** This tree's Store and AntiEntropy, and those of the src/ folder `against` names. */
async function sidesOf(against: string | undefined): Promise<Side[]> {
  const sides: Side[] = [{ name: 'this tree', Store, AntiEntropy }];
  if (against !== undefined) {
    const dir = resolve(against);
    const st = (await import(pathToFileURL(`${dir}/store/store.ts`).href)) as { Store: typeof Store };
    const ae = (await import(pathToFileURL(`${dir}/antientropy/antientropy.ts`).href)) as { AntiEntropy: typeof AntiEntropy };
    sides.push({ name: against, Store: st.Store, AntiEntropy: ae.AntiEntropy });
  }
  return sides;
}

function median(xs: number[]): number {
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
}

/** An anti-entropy (AE: this tree's class or another commit's) of node n1 (rf 3) over store on ring(), its kept trees built (the store observed). */
async function keptTrees(
  AE: Side['AntiEntropy'],
  store: InstanceType<Side['Store']>,
  ring: () => HashRing,
): Promise<InstanceType<Side['AntiEntropy']>> {
  const ae = new AE(store, 'n1', 3, ring, undefined as unknown as PeerPool, () => true, quiet);
  await untilRebuilt(ae, 1);
  return ae;
}

/** "; A / B: r (median of per-round ratios)" for two sides' per-round figures, '' for one side. */
function pairedRatio(sides: Side[], perRound: number[][]): string {
  if (sides.length !== 2) return '';
  return `; ${sides[0]!.name} / ${sides[1]!.name}: ${median(perRound[0]!.map((x, i) => x / perRound[1]![i]!)).toFixed(3)} (median of per-round ratios)`;
}

/** AntiEntropy.bucketEntries (a peer's round, 64 leaf buckets) on a store of n entries, 5 nodes, rf 3: CPU ms per call. */
async function bucketEntries(sides: Side[], rounds: number, n: number): Promise<void> {
  const ring = ringOf(5);
  const buckets = Array.from({ length: 64 }, (_, i) => (i * 61) % (1 << TREE_DEPTH));
  const nodes = await Promise.all(
    sides.map(async (side) => {
      const store = new side.Store({ shards: 32, capacity: 0, maxMemoryBytes: 0, policy: 'lru', tombstoneGraceMs: 60_000 });
      for (let k = 0; k < n; k++) store.apply(keyOf(k), rec);
      return keptTrees(side.AntiEntropy, store, () => ring);
    }),
  );
  const ms: number[][] = sides.map(() => []);
  const counts = sides.map(() => 0);
  for (let round = 0; round < rounds; round++) {
    for (let j = 0; j < sides.length; j++) {
      const s = round % 2 === 0 ? j : sides.length - 1 - j;
      let found = 0;
      const t = process.cpuUsage();
      for (const peer of ['n2', 'n3', 'n4', 'n5']) found += (await nodes[s]!.bucketEntries(peer, buckets)).length;
      const used = process.cpuUsage(t);
      ms[s]!.push((used.user + used.system) / 1e3 / 4);
      counts[s] = found;
    }
  }
  for (const ae of nodes) ae.stop();
  const line = sides.map((side, s) => `${side.name} ${median(ms[s]!).toFixed(2)} ms`).join(', ');
  const ratio = pairedRatio(sides, ms);
  console.log(
    `bucketEntries, ${n} entries, 5 nodes rf 3, 64 buckets: ${line} a call (CPU time, medians over ${rounds} rounds)${ratio}; entries found (4 peers): ${counts.join(' / ')}`,
  );
  console.log(`  rounds: ${sides.map((side, s) => `${side.name} [${ms[s]!.map((x) => x.toFixed(2)).join(' ')}]`).join('; ')}`);
}

async function writePath(sides: Side[], rounds: number): Promise<void> {
  const ring = ringOf(3);
  const rand = seeded(3);
  const cases = [
    { name: '100 B values', keys: arg('--keys', 100_000), writes: 300_000, values: [v] },
    { name: '4 KB JSON values (compressed)', keys: 20_000, writes: 20_000, values: Array.from({ length: 64 }, () => jsonDoc(rand, 4096)) },
  ];
  console.log(
    `write path, observers on (kept trees), COMPRESSION_THRESHOLD 1 KiB; ${rounds} rounds alternating ${sides.map((s) => s.name).join(' / ')}`,
  );
  for (const c of cases) {
    const r: EntryRecord = { ...rec };
    let version = 1;
    const stores = await Promise.all(
      sides.map(async (side) => {
        const store = new side.Store({
          shards: 32,
          capacity: 0,
          maxMemoryBytes: 0,
          policy: 'lru',
          tombstoneGraceMs: 60_000,
          compressionThreshold: 1024,
        });
        for (let k = 0; k < c.keys; k++) {
          r.value = c.values[k % c.values.length]!;
          store.apply(keyOf(k), r);
        }
        return { store, ae: await keptTrees(side.AntiEntropy, store, () => ring) };
      }),
    );
    const order = Array.from({ length: c.writes }, (_, i) => keyOf(Math.floor(seeded(i + 7)() * c.keys)));
    const ns: number[][] = sides.map(() => []);
    for (let round = 0; round < rounds; round++) {
      for (let j = 0; j < sides.length; j++) {
        const s = round % 2 === 0 ? j : sides.length - 1 - j; // who goes first alternates too
        const { store } = stores[s]!;
        const base = ++version * 1_000_000;
        const t = process.cpuUsage();
        for (let i = 0; i < c.writes; i++) {
          r.wall = base + i;
          r.value = c.values[(i + round) % c.values.length]!;
          store.apply(order[i]!, r);
        }
        const used = process.cpuUsage(t);
        ns[s]!.push(((used.user + used.system) * 1e3) / c.writes);
      }
    }
    for (const { ae } of stores) ae.stop();
    const line = sides.map((side, s) => `${side.name} ${median(ns[s]!).toFixed(0)} ns`).join(', ');
    const ratio = pairedRatio(sides, ns);
    console.log(`${c.name}: Store.apply ${line} a write (CPU time, medians)${ratio}`);
    console.log(`  rounds: ${sides.map((side, s) => `${side.name} [${ns[s]!.map((x) => x.toFixed(0)).join(' ')}]`).join('; ')}`);
  }
}
