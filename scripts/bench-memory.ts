/**
 * Memory benchmark for src/store.
 *
 *   node --import tsx --expose-gc scripts/bench-memory.ts [--entries 1000000] [--policy lru] [--shards 16]
 *
 * Inserts N entries (12-byte keys, 100-byte distinct ASCII values, no TTL) through
 * Store.apply, forces GC, and prints RSS / heap / array-buffer growth, bytes per entry,
 * and the store's own stats().bytes estimate against the measured growth.
 *
 * Results: docs/benchmarks/ (e.g. 2026-11-23.md, "memory with the slab store").
 */

import type { EvictionPolicyName } from '../src/store/store.ts';
import { ENTRY_OVERHEAD_BYTES, Store } from '../src/store/store.ts';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : def;
}

const N = Number(arg('entries', '1000000'));
const policy = arg('policy', 'lru') as EvictionPolicyName;
const shards = Number(arg('shards', '16'));
const KEY_LEN = 12;
const VALUE_LEN = 100;

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) {
  console.error('run with --expose-gc');
  process.exit(1);
}

function settle(): NodeJS.MemoryUsage {
  for (let i = 0; i < 4; i++) gc!();
  return process.memoryUsage();
}

const mb = (b: number) => `${(b / (1024 * 1024)).toFixed(1)} MB`;

const store = new Store({ shards, capacity: 0, maxMemoryBytes: 0, policy, tombstoneGraceMs: 60_000, now: () => 1_000 });
const before = settle();

// Values are built in a scratch buffer and decoded with toString('latin1'), which yields a
// fresh flat one-byte string per entry, like values decoded off the wire.
const scratch = Buffer.alloc(VALUE_LEN);
for (let i = 0; i < VALUE_LEN; i++) scratch[i] = 97 + (i % 26);
const t0 = process.hrtime.bigint();
for (let i = 0; i < N; i++) {
  const key = `k${String(i).padStart(KEY_LEN - 1, '0')}`; // 12 chars: short concat => flat string
  let x = i;
  for (let j = 0; j < 8; j++) {
    scratch[j] = 48 + (x % 10);
    x = Math.floor(x / 10);
  }
  store.apply(key, {
    value: scratch.toString('latin1', 0, VALUE_LEN),
    binary: false,
    wall: 1_000 + (i >>> 16),
    logical: i & 0xffff,
    node: 'node-1',
    expiresAt: 0,
    tombstone: false,
  });
}
const t1 = process.hrtime.bigint();
const after = settle();

// a quick read pass (timing only)
const t2 = process.hrtime.bigint();
let found = 0;
for (let i = 0; i < N; i++) if (store.get(`k${String(i).padStart(KEY_LEN - 1, '0')}`) !== undefined) found++;
const t3 = process.hrtime.bigint();

const st = store.stats();
const heapGrowth = after.heapUsed - before.heapUsed;
const abGrowth = after.arrayBuffers - before.arrayBuffers;
const measured = heapGrowth + abGrowth;
console.log(`policy=${policy} shards=${shards} entries=${N} (key ${KEY_LEN} B, value ${VALUE_LEN} B)`);
console.log(`RSS        before ${mb(before.rss)}  after ${mb(after.rss)}  growth ${mb(after.rss - before.rss)}`);
console.log(`heapUsed   before ${mb(before.heapUsed)}  after ${mb(after.heapUsed)}  growth ${mb(heapGrowth)}`);
console.log(`arrayBuf   before ${mb(before.arrayBuffers)}  after ${mb(after.arrayBuffers)}  growth ${mb(abGrowth)}`);
console.log(
  `bytes/entry: RSS growth ${((after.rss - before.rss) / N).toFixed(1)}, heap+arrayBuffers growth ${(measured / N).toFixed(1)}, payload ${KEY_LEN + VALUE_LEN}`,
);
console.log(
  `store estimate stats().bytes ${mb(st.bytes)} (${(st.bytes / N).toFixed(1)} B/entry, overhead constant ${ENTRY_OVERHEAD_BYTES}) vs measured ${mb(measured)}: ratio ${(st.bytes / measured).toFixed(3)}`,
);
console.log(
  `insert ${(Number(t1 - t0) / N).toFixed(0)} ns/op, get ${(Number(t3 - t2) / N).toFixed(0)} ns/op (incl. key building), found ${found}, items ${st.items}`,
);
