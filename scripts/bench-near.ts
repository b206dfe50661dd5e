/**
 * The client's near cache (issue 15) against a 3-node loopback cluster (dist/main.js, default
 * settings: REPLICATION_FACTOR 3, quorum reads and writes), three figures in one run:
 *
 *  1. hits: one client process, sequential gets of 1,000 keys it holds (target >= 1,000,000/s);
 *  2. zipf: CONCURRENCY workers in one process, 90 % gets / 10 % sets over 100,000 keys drawn
 *     Zipf(s = 1.0) (test/helpers/random.ts, fixed seed), with the near cache and without it
 *     (auto-batching on in both), alternating rounds, ops/s and their ratio (target >= 5x);
 *  3. invalidation delay, measured during the zipf rounds with the near cache: another client
 *     holds probe keys in its near cache, a third writes one, and the delay is from that write's
 *     acknowledgement to the invalidation reaching the holder (0 if it came first); p50 / p99
 *     (target p99 <= 10 ms).
 *
 *   npm run build && node --import tsx scripts/bench-near.ts [--concurrency 64] [--seconds 5] [--rounds 3]
 *
 * The nodes are stopped by their PIDs (also when the script fails).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { CacheClient } from '../src/index.ts';
import { freePort } from '../test/helpers/procs.ts';
import { seeded, zipf } from '../test/helpers/random.ts';
import { numberArg } from './bench/args.ts';

const CONCURRENCY = numberArg('concurrency', 64);
const SECONDS = numberArg('seconds', 5);
const ROUNDS = numberArg('rounds', 3);
const KEYS = 100_000;
const HIT_KEYS = 1_000;
const HIT_GETS = 3_000_000;
const VALUE = 'v'.repeat(100);
const near = { maxEntries: 200_000, maxTtlMs: 60_000 };

const addrs: string[] = [];
for (let i = 0; i < 3; i++) addrs.push(`127.0.0.1:${await freePort()}`);
const procs: ChildProcess[] = addrs.map((addr) =>
  spawn(process.execPath, [new URL('../dist/main.js', import.meta.url).pathname], {
    env: { PATH: process.env.PATH ?? '', ADDR: addr, PEERS: addrs.filter((a) => a !== addr).join(','), LOG_LEVEL: 'warn' },
    stdio: 'ignore',
  }),
);
let stopped = false;
const stop = () => {
  if (stopped) return;
  stopped = true;
  for (const p of procs) if (p.exitCode === null && p.pid) process.kill(p.pid, 'SIGKILL');
};
process.on('exit', stop);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))]!;
const key = (i: number) => `near:${i}`;

/** Reads key until the client answers it from its near cache (the first misses open the streams). */
async function cache(c: CacheClient, k: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    await c.get(k);
    const h = c.nearCacheStats()!.hits;
    await c.get(k);
    if (c.nearCacheStats()!.hits === h + 1) return;
    await sleep(5);
  }
  throw new Error(`${k} never got into the near cache`);
}

async function hits(): Promise<number> {
  const c = new CacheClient({ seeds: addrs, nearCache: near });
  for (let i = 0; i < HIT_KEYS; i++) await cache(c, key(i));
  const before = c.nearCacheStats()!.hits;
  const t0 = performance.now();
  for (let i = 0; i < HIT_GETS; i++) await c.get(key(i % HIT_KEYS));
  const rate = HIT_GETS / ((performance.now() - t0) / 1000);
  const served = c.nearCacheStats()!.hits - before;
  c.close();
  if (served < HIT_GETS * 0.99) throw new Error(`only ${served} of ${HIT_GETS} gets were near-cache hits`);
  return rate;
}

/** One zipf round through client c; with the near cache, also probes the invalidation delay into `delays`. */
async function zipfRound(
  c: CacheClient,
  seed: number,
  delays: number[] | undefined,
  fromSend: number[] = [],
): Promise<{ rate: number; hitRatio: number }> {
  const next = zipf(KEYS, 1.0, seeded(seed));
  const coin = seeded(seed + 1);
  const s0 = c.nearCacheStats();
  let done = 0;
  const end = Date.now() + SECONDS * 1000;
  const worker = async () => {
    while (Date.now() < end) {
      const k = key(next());
      if (coin() < 0.9) await c.get(k);
      else await c.set(k, VALUE);
      done++;
    }
  };
  const t0 = performance.now();
  const probing = delays ? probe(end, delays, fromSend) : Promise.resolve();
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const rate = done / ((performance.now() - t0) / 1000);
  await probing;
  const s1 = c.nearCacheStats();
  const hitRatio = s0 && s1 ? (s1.hits - s0.hits) / Math.max(1, s1.hits - s0.hits + s1.misses - s0.misses) : 0;
  return { rate, hitRatio };
}

/** Reads every key once, 1,000 at a time (the near-cache client then holds them all: steady state). */
async function readAll(c: CacheClient): Promise<void> {
  for (let i = 0; i < KEYS; i += 1_000) await Promise.all(Array.from({ length: 1_000 }, (_, j) => c.get(key(i + j))));
}

/** Until `end`: a holder caches a probe key, a writer writes it, the delay from ack to invalidation is recorded. */
async function probe(end: number, delays: number[], fromSend: number[]): Promise<void> {
  const holder = new CacheClient({ seeds: addrs, nearCache: near });
  const writer = new CacheClient({ seeds: addrs });
  const arrived = new Map<string, number>();
  const nc = (holder as unknown as { near: { message: (a: string, s: number, keys: readonly string[], all: boolean) => void } }).near;
  const message = nc.message.bind(nc);
  nc.message = (a, s, keys, all) => {
    const t = performance.now();
    for (const k of keys) if (!arrived.has(k)) arrived.set(k, t);
    message(a, s, keys, all);
  };
  try {
    for (let i = 0; Date.now() < end - 200; i++) {
      const k = `probe:${i}`;
      await writer.set(k, 'before');
      await cache(holder, k);
      arrived.delete(k);
      const sent = performance.now();
      await writer.set(k, 'after');
      const acked = performance.now();
      const deadline = acked + 2_000;
      while (!arrived.has(k) && performance.now() < deadline) await sleep(0);
      const at = arrived.get(k);
      delays.push(at === undefined ? Infinity : Math.max(0, at - acked));
      fromSend.push(at === undefined ? Infinity : at - sent);
      await sleep(20);
    }
  } finally {
    holder.close();
    writer.close();
  }
}

try {
  const loader = new CacheClient({ seeds: addrs, retries: 20, timeoutMs: 10_000 });
  for (let tries = 0; ; tries++) {
    try {
      const m = await loader.members();
      if (m.members.filter((x) => x.state === 'alive').length === 3) break;
    } catch (e) {
      if (tries > 100) throw e;
    }
    await sleep(200);
  }
  for (let i = 0; i < KEYS; i += 500) {
    await loader.mset(Array.from({ length: 500 }, (_, j) => ({ key: key(i + j), value: VALUE })));
  }
  loader.close();

  const hitRates: number[] = [];
  for (let r = 0; r < ROUNDS; r++) hitRates.push(await hits());
  process.stdout.write(`near-cache hits: ${hitRates.map((x) => x.toFixed(0)).join(', ')} gets/s (median ${median(hitRates).toFixed(0)})\n`);

  // One client of each kind for every round: the near cache is measured warm (steady state).
  const withNear = new CacheClient({ seeds: addrs, nearCache: near });
  const without = new CacheClient({ seeds: addrs });
  await readAll(withNear);
  await readAll(withNear); // the first pass opened the streams: this one fills the near cache
  await readAll(without);
  process.stdout.write(`near cache after warm-up: ${JSON.stringify(withNear.nearCacheStats())}\n`);
  const delays: number[] = [];
  const fromSend: number[] = [];
  await zipfRound(withNear, 1, undefined); // warm-up rounds
  await zipfRound(without, 1, undefined);
  const on: number[] = [];
  const off: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const a = await zipfRound(withNear, 10 + r, delays, fromSend);
    const b = await zipfRound(without, 10 + r, undefined);
    on.push(a.rate);
    off.push(b.rate);
    process.stdout.write(
      `zipf round ${r + 1}: near cache ${a.rate.toFixed(0)} ops/s (near hits ${(a.hitRatio * 100).toFixed(1)} % of gets), without ${b.rate.toFixed(0)} ops/s, ratio ${(a.rate / b.rate).toFixed(2)}x\n`,
    );
  }
  withNear.close();
  without.close();
  process.stdout.write(
    `zipf median (${CONCURRENCY} workers, ${SECONDS} s rounds, 90 % gets): near cache ${median(on).toFixed(0)} ops/s, without ${median(off).toFixed(0)} ops/s, ratio ${(median(on) / median(off)).toFixed(2)}x\n`,
  );
  process.stdout.write(
    `invalidation delay, write ack -> holder (${delays.length} probes under the zipf load): p50 ${pct(delays, 50).toFixed(2)} ms, p99 ${pct(delays, 99).toFixed(2)} ms, max ${Math.max(...delays).toFixed(2)} ms; from the write's sending: p50 ${pct(fromSend, 50).toFixed(2)} ms, p99 ${pct(fromSend, 99).toFixed(2)} ms\n`,
  );
} finally {
  stop();
}
