/**
 * Value compression (COMPRESSION_THRESHOLD): the codec choice, memory per entry and the
 * Get/Set cost, all in one run, side by side.
 *
 *   node --import tsx --expose-gc scripts/bench-compression.ts [--entries 50000] [--lz4 DIR] [--node]
 *
 * 1. Codecs on 4 KB JSON-like values (seeded, so every run sees the same values): raw
 *    deflate at levels 1 and 6, brotli at qualities 1 and 4, and lz4 (lz4-napi) when --lz4
 *    names a folder where it is installed (`npm install lz4-napi` there: it is not a
 *    dependency of the project). Ratio (plain / compressed bytes) and MB/s each way.
 * 2. Memory: the same N entries (12-byte keys, 4 KB JSON-like values) stored through
 *    Store.apply with compression off and at 1 KiB, each in a child process of its own
 *    (so one's garbage cannot count for the other): heap + array-buffer growth per entry
 *    after GC, and the store's own stats().bytes.
 * 3. Throughput: Store.apply (Set) and Store.get (Get) of 4 KB values, ns per operation, off
 *    and on, in alternating rounds; and of 100-byte values (below the threshold: nothing
 *    must change).
 * 4. With --node (after `npm run build`): two real nodes (dist/main.js, one with
 *    COMPRESSION_THRESHOLD=0, one with 1kb) filled over gRPC with the same N 4 KB values by
 *    CacheClient (64 calls in flight): Sets/s during the fill, node RSS growth per entry
 *    after 15 s idle (from /proc, as scripts/bench-node-memory.ts), then Gets/s in
 *    alternating rounds. Each node is stopped by its PID at the end (also on error).
 *
 * Results: docs/benchmarks/2026-12-02-compression.md.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { brotliCompressSync, brotliDecompressSync, constants, deflateRawSync, inflateRawSync } from 'node:zlib';
import { CacheClient } from '../src/client/index.ts';
import { pack, unpack } from '../src/store/compress.ts';
import { type EntryRecord, Store } from '../src/store/store.ts';
import { seeded } from '../test/helpers/random.ts';

const { values: opts } = parseArgs({
  options: {
    entries: { type: 'string', default: '50000' },
    lz4: { type: 'string' },
    node: { type: 'boolean', default: false },
    // internal: one memory measurement, in a child process
    child: { type: 'string' },
  },
});
const N = Number(opts.entries);

const WORDS = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel', 'india', 'juliet', 'kilo', 'lima'];
const STATUSES = ['active', 'pending', 'suspended', 'closed'];

/** A JSON document of `bytes` characters (ASCII): a user record with orders, as an API would cache it. */
function jsonValue(rand: () => number, bytes: number): string {
  const pick = <T>(a: readonly T[]) => a[Math.floor(rand() * a.length)] as T;
  const id = () => Math.floor(rand() * 1e9).toString(36);
  const doc = {
    id: id(),
    name: `${pick(WORDS)} ${pick(WORDS)}`,
    email: `${pick(WORDS)}.${id()}@example.com`,
    status: pick(STATUSES),
    createdAt: new Date(1.7e12 + Math.floor(rand() * 3e10)).toISOString(),
    score: Math.round(rand() * 10000) / 100,
    tags: [pick(WORDS), pick(WORDS), pick(WORDS)],
    orders: [] as unknown[],
  };
  let s = JSON.stringify(doc);
  while (s.length < bytes) {
    doc.orders.push({
      orderId: id(),
      sku: `SKU-${Math.floor(rand() * 100000)}`,
      quantity: 1 + Math.floor(rand() * 5),
      price: Math.round(rand() * 50000) / 100,
      currency: 'EUR',
      shipped: rand() < 0.5,
      note: `${pick(WORDS)} ${pick(WORDS)} ${pick(WORDS)}`,
    });
    s = JSON.stringify(doc);
  }
  return s.slice(0, bytes);
}

const ms = (t: bigint) => Number(t) / 1e6;
const KEY = (i: number) => `k${String(i).padStart(11, '0')}`;

function record(value: string, i: number): EntryRecord {
  return { value, binary: false, wall: 1_000 + (i >>> 16), logical: i & 0xffff, node: 'node-1', expiresAt: 0, tombstone: false };
}

// ---- 2. one memory measurement (child process) ----
if (opts.child !== undefined) {
  const threshold = Number(opts.child);
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with --expose-gc');
  const settle = () => {
    for (let i = 0; i < 4; i++) gc();
    return process.memoryUsage();
  };
  const rand = seeded(7);
  // 64 distinct documents, each made distinct per entry by its id prefix: building 200k
  // fresh 4 KB documents would take longer than the measurement itself
  const docs = Array.from({ length: 64 }, () => jsonValue(rand, 4096 - 12));
  const store = benchStore(threshold);
  const before = settle();
  for (let i = 0; i < N; i++) store.apply(KEY(i), record(`${KEY(i)}${docs[i & 63] as string}`, i));
  const after = settle();
  const st = store.stats();
  const grown = after.heapUsed - before.heapUsed + (after.arrayBuffers - before.arrayBuffers);
  console.log(
    JSON.stringify({
      perEntry: grown / N,
      rssPerEntry: (after.rss - before.rss) / N,
      estimate: st.bytes / N,
      ratio: st.compressionRatio,
      saved: st.compressionSavedBytes,
    }),
  );
  process.exit(0);
}

// ---- 1. codecs ----
// Each way starts or ends at the value's string, as in the store: Set hands it a string,
// Get answers one.
const rand = seeded(1);
const samples = Array.from({ length: 200 }, () => jsonValue(rand, 4096));
const plainBytes = samples.reduce((n, s) => n + s.length, 0);

type Codec = { name: string; pack: (s: string) => Buffer; unpack: (b: Buffer) => string };
const viaBuffer = (name: string, p: (b: Buffer) => Buffer, u: (b: Buffer) => Buffer): Codec => ({
  name,
  pack: (s) => p(Buffer.from(s, 'utf8')),
  unpack: (b) => u(b).toString('utf8'),
});
const brotli = (q: number) => ({
  params: { [constants.BROTLI_PARAM_QUALITY]: q, [constants.BROTLI_PARAM_SIZE_HINT]: 4096, [constants.BROTLI_PARAM_LGWIN]: 16 },
});
const codecs: Codec[] = [
  viaBuffer(
    'deflate-raw level 1',
    (b) => deflateRawSync(b, { level: 1 }),
    (b) => inflateRawSync(b),
  ),
  viaBuffer(
    'deflate-raw level 6',
    (b) => deflateRawSync(b, { level: 6 }),
    (b) => inflateRawSync(b),
  ),
  viaBuffer(
    'brotli quality 1',
    (b) => brotliCompressSync(b, brotli(1)),
    (b) => brotliDecompressSync(b),
  ),
  viaBuffer(
    'brotli quality 4',
    (b) => brotliCompressSync(b, brotli(4)),
    (b) => brotliDecompressSync(b),
  ),
  {
    name: "the store's (src/store/compress.ts): deflate-raw level 1, window ≤ value, 4-byte header",
    pack: (s) => pack(s, false, s.length) as Buffer,
    unpack: (b) => unpack(b, 0, b.length, false),
  },
];
if (opts.lz4 !== undefined) {
  const lz4 = createRequire(join(opts.lz4, 'package.json'))('lz4-napi') as {
    compressSync: (b: Buffer) => Buffer;
    uncompressSync: (b: Buffer) => Buffer;
  };
  codecs.push(
    viaBuffer(
      'lz4 (lz4-napi)',
      (b) => lz4.compressSync(b),
      (b) => lz4.uncompressSync(b),
    ),
  );
}

const ROUNDS = 20;
console.log(`## 1. codecs: ${samples.length} JSON-like values of 4096 bytes, ${ROUNDS} rounds each way\n`);
console.log('| codec | ratio | compress MB/s | decompress MB/s | compress µs/value | decompress µs/value |');
console.log('|---|---|---|---|---|---|');
for (const c of codecs) {
  const packed = samples.map((s) => c.pack(s));
  for (let i = 0; i < samples.length; i++)
    if (c.unpack(packed[i] as Buffer) !== samples[i]) throw new Error(`${c.name}: round trip differs`);
  const packedBytes = packed.reduce((n, b) => n + b.length, 0);
  let t = process.hrtime.bigint();
  for (let r = 0; r < ROUNDS; r++) for (const s of samples) c.pack(s);
  const tc = ms(process.hrtime.bigint() - t);
  t = process.hrtime.bigint();
  for (let r = 0; r < ROUNDS; r++) for (const b of packed) c.unpack(b);
  const td = ms(process.hrtime.bigint() - t);
  const total = plainBytes * ROUNDS;
  const ops = samples.length * ROUNDS;
  console.log(
    `| ${c.name} | ${(plainBytes / packedBytes).toFixed(2)} | ${(total / 1e3 / tc).toFixed(0)} | ${(total / 1e3 / td).toFixed(0)} | ${((tc * 1e3) / ops).toFixed(1)} | ${((td * 1e3) / ops).toFixed(1)} |`,
  );
}
if (opts.lz4 === undefined) console.log('\n(lz4 left out: pass --lz4 DIR, a folder where lz4-napi is installed)');

// ---- 2. memory per entry, off and on, each in a child process ----
const self = fileURLToPath(import.meta.url);
type Mem = { perEntry: number; rssPerEntry: number; estimate: number; ratio: number; saved: number };
const measure = (threshold: number): Mem =>
  JSON.parse(
    execFileSync(process.execPath, ['--import', 'tsx', '--expose-gc', self, '--child', String(threshold), '--entries', String(N)], {
      encoding: 'utf8',
      maxBuffer: 1 << 20,
    }),
  ) as Mem;
const off = measure(0);
const on = measure(1024);
console.log(`\n## 2. memory: ${N} entries, 12-byte keys, 4096-byte JSON-like values (store only, 16 shards)\n`);
console.log('| COMPRESSION_THRESHOLD | heap + array buffers per entry | RSS growth per entry | stats().bytes per entry | ratio (stats) |');
console.log('|---|---|---|---|---|');
for (const [name, m] of [
  ['0 (off)', off],
  ['1kb', on],
] as const)
  console.log(
    `| ${name} | ${m.perEntry.toFixed(0)} B | ${m.rssPerEntry.toFixed(0)} B | ${m.estimate.toFixed(0)} B | ${m.ratio.toFixed(2)} |`,
  );
console.log(
  `\non / off: heap + array buffers ${(on.perEntry / off.perEntry).toFixed(3)}, RSS ${(on.rssPerEntry / off.rssPerEntry).toFixed(3)}`,
);

// ---- 3. throughput of Store.apply (Set) and Store.get (Get), off and on ----
// One store per setting, filled first; then rounds that alternate the two settings, each
// round a Set pass (every key overwritten by a newer version) and a Get pass (every key
// read, in a scattered order). Medians over the rounds, and the median of the per-round
// on/off ratios (steadier on a shared machine).
const TN = Math.min(N, 20_000);
const ROUNDS3 = 7;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1] as number;
console.log(
  `\n## 3. Store throughput: ${TN} keys, ns per operation, medians of ${ROUNDS3} alternating rounds (Set = overwrite, Get = scattered reads)\n`,
);
console.log('| values | Set off | Set 1kb | Set on/off | Get off | Get 1kb | Get on/off |');
console.log('|---|---|---|---|---|---|---|');
for (const bytes of [100, 4096]) {
  const r = seeded(3);
  const docs = Array.from({ length: 64 }, () => jsonValue(r, bytes - 12));
  const values = Array.from({ length: TN }, (_, i) => `${KEY(i)}${docs[i & 63] as string}`);
  const keys = Array.from({ length: TN }, (_, i) => KEY(i));
  const stores = [0, 1024].map((threshold) => {
    const s = benchStore(threshold);
    for (let i = 0; i < TN; i++) s.apply(keys[i] as string, record(values[i] as string, i));
    return s;
  });
  const res = stores.map(() => ({ set: [] as number[], get: [] as number[] }));
  let version = TN;
  let sink = 0;
  for (let round = 0; round < ROUNDS3; round++) {
    stores.forEach((s, k) => {
      let t = process.hrtime.bigint();
      for (let i = 0; i < TN; i++) s.apply(keys[i] as string, record(values[(i + round + 1) % TN] as string, version + i));
      res[k]!.set.push(Number(process.hrtime.bigint() - t) / TN);
      t = process.hrtime.bigint();
      for (let i = 0; i < TN; i++) sink += (s.get(keys[(i * 7919) % TN] as string) as EntryRecord).value.length;
      res[k]!.get.push(Number(process.hrtime.bigint() - t) / TN);
    });
    version += TN;
  }
  if (sink === 0) throw new Error('nothing read');
  const [a, c] = res as [{ set: number[]; get: number[] }, { set: number[]; get: number[] }];
  const ratio = (x: number[], y: number[]) => median(x.map((v, i) => v / (y[i] as number)));
  console.log(
    `| ${bytes} B | ${median(a.set).toFixed(0)} | ${median(c.set).toFixed(0)} | ${ratio(c.set, a.set).toFixed(2)} | ${median(a.get).toFixed(0)} | ${median(c.get).toFixed(0)} | ${ratio(c.get, a.get).toFixed(2)} |`,
  );
}

// ---- 4. whole nodes over gRPC (--node) ----
if (opts.node) {
  const freePort = () =>
    new Promise<number>((resolve) => {
      const srv = createServer().listen(0, '127.0.0.1', () => {
        const p = (srv.address() as { port: number }).port;
        srv.close(() => resolve(p));
      });
    });
  const main = fileURLToPath(new URL('../dist/main.js', import.meta.url));
  const children: ChildProcess[] = [];
  const killAll = () => {
    for (const c of children)
      if (c.exitCode === null && c.pid !== undefined)
        try {
          process.kill(c.pid, 'SIGKILL');
        } catch {
          /* gone */
        }
  };
  process.on('exit', killAll);
  process.on('SIGINT', () => process.exit(130));
  const sleep = (t: number) => new Promise((r) => setTimeout(r, t));
  const rss = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) * 1024;
  const nodes = await Promise.all(
    [0, 1024].map(async (threshold) => {
      const addr = `127.0.0.1:${await freePort()}`;
      const child = spawn(process.execPath, [main], {
        env: { PATH: process.env.PATH ?? '', ADDR: addr, MAX_MEMORY: '0', COMPRESSION_THRESHOLD: String(threshold), LOG_LEVEL: 'warn' },
        stdio: ['ignore', 'inherit', 'inherit'],
      });
      children.push(child);
      const client = new CacheClient({ seeds: addr, routing: false, retries: 0, autoBatch: false, timeoutMs: 10_000 });
      for (let i = 0; ; i++) {
        try {
          await client.set('warmup', 'x');
          break;
        } catch (e) {
          if (i > 100) throw e;
          await sleep(100);
        }
      }
      return { threshold, pid: child.pid as number, client };
    }),
  );
  const r = seeded(4);
  const docs = Array.from({ length: 64 }, () => jsonValue(r, 4096 - 12));
  const value = (i: number) => `${KEY(i)}${docs[i & 63] as string}`;
  /** `count` calls of `op(i)`, 64 in flight; calls per second. */
  const drive = async (count: number, op: (i: number) => Promise<unknown>) => {
    let next = 0;
    const t = process.hrtime.bigint();
    await Promise.all(
      Array.from({ length: 64 }, async () => {
        for (let i = next++; i < count; i = next++) await op(i);
      }),
    );
    return count / (Number(process.hrtime.bigint() - t) / 1e9);
  };
  await sleep(1000);
  const fill: number[] = [];
  const grown: number[] = [];
  for (const n of nodes) {
    const before = rss(n.pid);
    fill.push(await drive(N, (i) => n.client.set(KEY(i), value(i))));
    await sleep(15_000);
    grown.push((rss(n.pid) - before) / N);
  }
  const gets: number[][] = [[], []];
  const sets: number[][] = [[], []];
  const G = Math.min(N, 20_000);
  for (let round = 0; round < 5; round++)
    for (const [k, n] of nodes.entries()) {
      gets[k]?.push(await drive(G, (i) => n.client.get(KEY((i * 7919) % N))));
      sets[k]?.push(await drive(G, (i) => n.client.set(KEY((i * 7919) % N), value(i + round))));
    }
  const [off1, on1] = nodes.map((n) => n.client.stats());
  const [offStats, onStats] = [await off1, await on1];
  for (const n of nodes) n.client.close();
  killAll();
  const ratio = (x: number[], y: number[]) => median(x.map((v, i) => v / (y[i] as number)));
  console.log(
    `\n## 4. whole nodes over gRPC: ${N} entries of 4096 bytes, one client process, 64 calls in flight; Get/Set: medians of 5 alternating rounds of ${G} calls\n`,
  );
  console.log('| COMPRESSION_THRESHOLD | fill Sets/s | RSS growth per entry (15 s idle) | Stats bytes per entry | Gets/s | Sets/s |');
  console.log('|---|---|---|---|---|---|');
  const row = (name: string, k: number, st: { bytes: number; items: number }) =>
    console.log(
      `| ${name} | ${(fill[k] as number).toFixed(0)} | ${(grown[k] as number).toFixed(0)} B | ${(st.bytes / st.items).toFixed(0)} B | ${median(gets[k] as number[]).toFixed(0)} | ${median(sets[k] as number[]).toFixed(0)} |`,
    );
  row('0 (off)', 0, offStats);
  row('1kb', 1, onStats);
  console.log(
    `\non / off: fill ${((fill[1] as number) / (fill[0] as number)).toFixed(2)}, RSS per entry ${((grown[1] as number) / (grown[0] as number)).toFixed(2)}, Gets/s ${ratio(gets[1] as number[], gets[0] as number[]).toFixed(2)} (median of per-round ratios), Sets/s ${ratio(sets[1] as number[], sets[0] as number[]).toFixed(2)}; compression ratio ${onStats.compressionRatio.toFixed(2)}`,
  );
}

/** The store the measurements use: 16 shards, no limits, COMPRESSION_THRESHOLD = threshold (0 = off). */
function benchStore(threshold: number): Store {
  return new Store({
    shards: 16,
    capacity: 0,
    maxMemoryBytes: 0,
    policy: 'lru',
    tombstoneGraceMs: 60_000,
    now: () => 1_000,
    compressionThreshold: threshold,
  });
}
