/**
 * Persistence (DATA_DIR), issue 16's targets, in one run:
 *  1. in process: a store of ENTRIES entries (12-byte keys, 100-byte values) written to a
 *     snapshot (time; event-loop delay during it, by perf_hooks.monitorEventLoopDelay, with a
 *     1 ms timer running as a request would), then loaded into a new store (time);
 *  2. Set throughput of two single nodes (dist/main.js), one with DATA_DIR and
 *     APPEND_FSYNC=everysec and one without persistence, driven by the project's client with
 *     CONCURRENCY sets in flight, in alternating rounds; medians and their ratio, and each
 *     node's CPU time per 1000 sets (from /proc: steadier than rates on a shared machine, and
 *     what counts when the load generator rather than the node is the limit).
 *
 *   npm run build && node --import tsx scripts/bench-persist.ts [--entries 1000000] [--concurrency 64] [--seconds 5] [--rounds 3]
 *
 * With --crc it only times the records' CRC-32 (src/persist/format.ts crc32: its own loop below
 * 128 bytes, zlib.crc32 on a view above) against zlib.crc32 on a view, by record size, and exits.
 *
 * Files go to a temporary directory (removed at the end); the nodes run on free loopback ports
 * and are stopped by their PIDs.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { crc32 as zlibCrc32 } from 'node:zlib';
import { pino } from 'pino';
import { HybridClock } from '../src/hlc/hlc.ts';
import { CacheClient } from '../src/index.ts';
import { Persistence } from '../src/persist/files.ts';
import { crc32 } from '../src/persist/format.ts';
import { Store } from '../src/store/store.ts';
import { type NodeProc, startNode } from '../test/helpers/procs.ts';
import { numberArg } from './bench/args.ts';
import { cpuSeconds } from './bench/proc.ts';

const ENTRIES = numberArg('entries', 1_000_000);
const CONCURRENCY = numberArg('concurrency', 64);
const SECONDS = numberArg('seconds', 5);
const ROUNDS = numberArg('rounds', 3);

const work = mkdtempSync(join(tmpdir(), 'tscache-bench-persist-'));
const children: NodeProc[] = [];
const cleanup = () => {
  for (const c of children) if (c.proc.exitCode === null) process.kill(c.pid, 'SIGKILL');
  rmSync(work, { recursive: true, force: true });
};
process.on('exit', cleanup);
const out = (s: string) => process.stdout.write(`${s}\n`);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const log = pino({ level: 'warn' });
const newStore = () => new Store({ shards: 32, capacity: 0, maxMemoryBytes: 0, policy: 'lru', tombstoneGraceMs: 600_000 });
const opts = (dir: string) => ({ dir, nodeId: 'bench', fsync: 'no' as const, snapshotIntervalMs: 0, tombstoneGraceMs: 600_000 });

if (process.argv.includes('--crc')) {
  out('| record bytes | crc32 (ns) | zlib.crc32 on a view (ns) | ratio |');
  out('|---:|---:|---:|---:|');
  let x = 0; // every result is summed and printed, so no call can be optimized away
  for (const size of [16, 32, 64, 96, 127, 128, 160, 512, 4096, 65536]) {
    const buf = Buffer.alloc(size + 16);
    for (let i = 0; i < buf.length; i++) buf[i] = (i * 131) & 255;
    if (crc32(buf, 8, 8 + size) !== zlibCrc32(buf.subarray(8, 8 + size))) throw new Error(`crc32 differs from zlib's at ${size} bytes`);
    const n = Math.max(2_000, Math.floor(1e7 / size));
    const ours: number[] = [];
    const theirs: number[] = [];
    for (let r = 0; r < 7; r++) {
      let t = performance.now();
      for (let i = 0; i < n; i++) x = (x + crc32(buf, 8, 8 + size)) >>> 0;
      ours.push(((performance.now() - t) * 1e6) / n);
      t = performance.now();
      for (let i = 0; i < n; i++) x = (x + zlibCrc32(buf.subarray(8, 8 + size))) >>> 0;
      theirs.push(((performance.now() - t) * 1e6) / n);
    }
    const a = median(ours);
    const b = median(theirs);
    out(`| ${size} | ${a.toFixed(0)} | ${b.toFixed(0)} | ${(b / a).toFixed(2)}x |`);
  }
  out(`(sum of every checksum, mod 2^32: ${x})`);
  process.exit(0);
}

// ---- 1. snapshot and load ----
{
  const dir = join(work, 'snap');
  const store = newStore();
  const value = 'v'.repeat(100);
  const now = Date.now();
  for (let i = 0; i < ENTRIES; i++) {
    store.apply(`key:${String(i).padStart(8, '0')}`, {
      value,
      binary: false,
      wall: now,
      logical: 0,
      node: 'bench',
      expiresAt: 0,
      tombstone: false,
    });
  }
  const p = new Persistence(store, new HybridClock('bench'), opts(dir), log);
  p.load();
  p.start();
  // A 1 ms interval stands in for requests: its lateness is what a request would wait.
  const tick = setInterval(() => {}, 1);
  const h = monitorEventLoopDelay({ resolution: 1 });
  await new Promise((r) => setTimeout(r, 200));
  h.enable();
  const t0 = performance.now();
  await p.snapshot();
  const writeMs = performance.now() - t0;
  h.disable();
  clearInterval(tick);
  await p.close(false);
  const bytes = statSync(join(dir, 'snapshot.tscd')).size;
  out(
    `snapshot of ${ENTRIES} entries (12-byte keys, 100-byte values): ${(bytes / 2 ** 20).toFixed(0)} MiB written in ${(writeMs / 1000).toFixed(2)} s; ` +
      `event-loop delay during it: p50 ${(h.percentile(50) / 1e6).toFixed(1)} ms, p99 ${(h.percentile(99) / 1e6).toFixed(1)} ms, max ${(h.max / 1e6).toFixed(1)} ms`,
  );
  const loaded = newStore();
  const q = new Persistence(loaded, new HybridClock('bench'), opts(dir), log);
  const t1 = performance.now();
  const report = q.load();
  const loadMs = performance.now() - t1;
  if (loaded.size !== ENTRIES) throw new Error(`loaded ${loaded.size} entries, wrote ${ENTRIES}`);
  out(`load: ${report.entries} entries in ${(loadMs / 1000).toFixed(2)} s`);
}

// ---- 2. Set throughput, everysec against no persistence ----
/** A node on a free loopback port (stopped by PID at exit), warmed up with one set. */
async function node(env: Record<string, string>): Promise<{ addr: string; pid: number }> {
  const n = await startNode({ LOG_LEVEL: 'info', ...env });
  children.push(n);
  const c = new CacheClient({ seeds: n.addr, retries: 50 });
  await c.set('warm', 'up');
  c.close();
  return { addr: n.addr, pid: n.pid };
}

/** Sets through the node for SECONDS: sets/s, and the node's CPU ms per 1000 sets. */
async function sets({ addr, pid }: { addr: string; pid: number }): Promise<{ rate: number; cpu: number }> {
  const cpu0 = cpuSeconds(pid) * 1000;
  const c = new CacheClient({ seeds: addr, autoBatch: false });
  const value = 'v'.repeat(100);
  let done = 0;
  const end = Date.now() + SECONDS * 1000;
  const worker = async (w: number) => {
    for (let i = w; Date.now() < end; i += CONCURRENCY) {
      await c.set(`bench:${i % 100_000}`, value);
      done++;
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, (_, w) => worker(w)));
  const rate = done / ((performance.now() - t0) / 1000);
  c.close();
  return { rate, cpu: ((cpuSeconds(pid) * 1000 - cpu0) / done) * 1000 };
}

try {
  const plain = await node({});
  const persisted = await node({ DATA_DIR: join(work, 'node'), APPEND_FSYNC: 'everysec' });
  await sets(plain); // warm-up
  await sets(persisted);
  const a: { rate: number; cpu: number }[] = [];
  const b: { rate: number; cpu: number }[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    a.push(await sets(plain));
    b.push(await sets(persisted));
    out(
      `round ${r + 1}: no persistence ${a[r]!.rate.toFixed(0)} sets/s (${a[r]!.cpu.toFixed(0)} CPU ms per 1000), ` +
        `everysec ${b[r]!.rate.toFixed(0)} sets/s (${b[r]!.cpu.toFixed(0)}), ratio ${(b[r]!.rate / a[r]!.rate).toFixed(2)}x`,
    );
  }
  const ratios = a.map((x, i) => b[i]!.rate / x.rate);
  const [ra, rb] = [median(a.map((x) => x.rate)), median(b.map((x) => x.rate))];
  const [ca, cb] = [median(a.map((x) => x.cpu)), median(b.map((x) => x.cpu))];
  out(
    `median (${CONCURRENCY} sets in flight, ${SECONDS} s rounds): no persistence ${ra.toFixed(0)} sets/s, everysec ${rb.toFixed(0)} sets/s, ` +
      `ratio ${(rb / ra).toFixed(2)}x (median of per-round ratios ${median(ratios).toFixed(2)}x); ` +
      `node CPU per 1000 sets ${ca.toFixed(0)} ms against ${cb.toFixed(0)} ms (${(cb / ca).toFixed(2)}x)`,
  );
} finally {
  cleanup();
  process.exit(0);
}
