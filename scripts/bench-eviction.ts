/**
 * Hit ratios of the five eviction policies (EVICTION_POLICY) on two synthetic traces,
 * replayed in-process against a one-shard Store as a cache-aside application would use it:
 * get(key); on a miss, apply(key, value). Prints a markdown table.
 *
 *   node --import tsx scripts/bench-eviction.ts [--keys 100000] [--requests 1000000] [--seed 1]
 *
 * Traces (seeded, the same for every policy):
 *   zipf   requests over --keys keys, rank r drawn with probability proportional to 1/r (s = 1.0)
 *   scan   the same zipf stream, but after every 50,000 zipf requests a sequential scan of
 *          10,000 cold keys (keys outside the zipf set, continuing where the last scan
 *          stopped, over a cold range 4x --keys), i.e. one request in six belongs to a scan
 * Capacities: 1 %, 5 % and 20 % of --keys entries. Every value is written with a TTL drawn
 * uniformly from 1 to 2 hours of the store's clock, which advances 1 ms per request, so
 * nothing expires during a run: the TTL only decides the order of the `ttl` policy (for the
 * other policies it is inert). `random` draws from Math.random, so its figures vary slightly
 * between runs. Hit ratio = hits / requests over the whole trace (cold start included).
 */
import { parseArgs } from 'node:util';
import { type EntryRecord, type EvictionPolicyName, Store } from '../src/store/store.ts';
import { seeded, zipf } from '../test/helpers/random.ts';

const { values: args } = parseArgs({
  options: {
    keys: { type: 'string', default: '100000' },
    requests: { type: 'string', default: '1000000' },
    seed: { type: 'string', default: '1' },
  },
});
const KEYS = Number(args.keys);
const REQUESTS = Number(args.requests);
const SCAN_EVERY = 50_000;
const SCAN_LEN = 10_000;
const COLD = KEYS * 4;
const POLICIES: EvictionPolicyName[] = ['lru', 'lfu', 'fifo', 'ttl', 'random'];
const CAPACITIES = [0.01, 0.05, 0.2];

/** Key ids: 0..KEYS-1 are the zipf keys (rank = id), KEYS.. are the cold keys. */
function trace(kind: 'zipf' | 'scan', seed: number): Int32Array {
  const next = zipf(KEYS, 1, seeded(seed));
  const out = new Int32Array(REQUESTS);
  let cold = 0;
  let sinceScan = 0;
  for (let i = 0; i < REQUESTS; ) {
    if (kind === 'scan' && sinceScan === SCAN_EVERY) {
      for (let j = 0; j < SCAN_LEN && i < REQUESTS; j++) {
        out[i++] = KEYS + cold;
        cold = (cold + 1) % COLD;
      }
      sinceScan = 0;
      continue;
    }
    out[i++] = next();
    sinceScan++;
  }
  return out;
}

// keys spread over the id space by a multiplicative hash, so rank and key text do not correlate
const names = Array.from({ length: KEYS + COLD }, (_, i) => `obj:${(Math.imul(i, 0x9e3779b1) >>> 0).toString(36)}:${i}`);
const VALUE = 'v'.repeat(100);

function replay(ids: Int32Array, policy: EvictionPolicyName, capacity: number, seed: number): number {
  const clock = { t: 0 };
  const store = new Store({ shards: 1, capacity, maxMemoryBytes: 0, policy, tombstoneGraceMs: 0, now: () => clock.t });
  const ttl = seeded(seed ^ 0x5bd1e995);
  const rec: EntryRecord = { value: VALUE, binary: false, wall: 0, logical: 0, node: 'bench', expiresAt: 0, tombstone: false };
  let hits = 0;
  for (let i = 0; i < ids.length; i++) {
    clock.t = i + 1;
    const key = names[ids[i]];
    if (store.get(key) !== undefined) {
      hits++;
      continue;
    }
    rec.wall = i + 1;
    rec.expiresAt = clock.t + 3_600_000 * (1 + ttl());
    store.apply(key, rec);
  }
  return hits / ids.length;
}

const seed = Number(args.seed);
const t0 = Date.now();
const traces = { zipf: trace('zipf', seed), scan: trace('scan', seed) };
const lines = [`| trace | capacity | ${POLICIES.join(' | ')} |`, `|---|---|${POLICIES.map(() => '---:').join('|')}|`];
for (const [kind, ids] of Object.entries(traces)) {
  for (const c of CAPACITIES) {
    const capacity = Math.round(KEYS * c);
    const ratios = POLICIES.map((p) => replay(ids, p, capacity, seed));
    const best = Math.max(...ratios);
    const cells = ratios.map((r) => {
      const s = `${(r * 100).toFixed(1)} %`;
      return r === best ? `**${s}**` : s;
    });
    lines.push(`| ${kind} | ${c * 100} % (${capacity}) | ${cells.join(' | ')} |`);
  }
}
console.log(
  `keys ${KEYS}, requests ${REQUESTS} per trace, seed ${seed}; scan: ${SCAN_LEN} cold keys after every ${SCAN_EVERY} zipf requests`,
);
console.log('');
console.log(lines.join('\n'));
console.log('');
console.log(`(${((Date.now() - t0) / 1000).toFixed(1)} s)`);
