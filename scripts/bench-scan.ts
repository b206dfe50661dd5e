/**
 * How long a whole-store scan holds up the event loop.
 *
 *   node --import tsx scripts/bench-scan.ts [--entries 1000000]
 *
 * Fills a Store (32 shards, 12-byte keys, 100-byte values), then builds the Merkle tree over
 * every entry twice, measuring the longest event-loop delay (perf_hooks.monitorEventLoopDelay)
 * while each runs: in one piece (trees.ts wholeTree, what anti-entropy did before) and in
 * slices (src/scan/slices.ts, how anti-entropy builds a tree while its kept trees are
 * rebuilt). Also times listing every key (a
 * rebalance pass) in one piece. In-process, no gRPC.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { TREE_DEPTH } from '../src/antientropy/antientropy.ts';
import { addAll, wholeTree } from '../src/antientropy/trees.ts';
import { MerkleTree } from '../src/merkle/merkle.ts';
import { inSlices } from '../src/scan/slices.ts';
import { Store } from '../src/store/store.ts';

const i = process.argv.indexOf('--entries');
const N = i > 0 ? Number(process.argv[i + 1]) : 1_000_000;
const store = new Store({ shards: 32, capacity: 0, maxMemoryBytes: 0, policy: 'lru', tombstoneGraceMs: 1000 });
const v = 'v'.repeat(92);
for (let k = 0; k < N; k++) {
  store.apply(`k${k.toString().padStart(11, '0')}`, {
    value: v + k.toString(36).padStart(8, '0'),
    binary: false,
    wall: 1,
    logical: 0,
    node: 'n',
    expiresAt: 0,
    tombstone: false,
  });
}
async function inParts(): Promise<string> {
  const t = new MerkleTree(TREE_DEPTH);
  for await (const part of inSlices(store.versions())) addAll(t, part);
  return t.root();
}
const tick = () => new Promise((r) => setTimeout(r, 5));

async function measure(name: string, run: () => Promise<string> | string): Promise<void> {
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  await tick();
  const t = performance.now();
  const out = await run();
  const ms = performance.now() - t;
  await tick();
  h.disable();
  console.log(`${name}: ${ms.toFixed(0)} ms, longest event-loop delay ${(h.max / 1e6).toFixed(0)} ms (${out})`);
}

console.log(`entries=${N}`);
await measure('Merkle tree in one piece', () => `root ${wholeTree(store.versions(), TREE_DEPTH).root()}`);
await measure('Merkle tree in slices   ', async () => `root ${await inParts()}`);
await measure('key list in one piece   ', () => `${[...store.keys()].length} keys`);
