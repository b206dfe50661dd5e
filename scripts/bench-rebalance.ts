/**
 * What a join costs clients: node --import tsx scripts/bench-rebalance.ts [flags]   (after npm run build)
 *
 * For each REBALANCE_RATE given, in one run: starts 3 nodes on loopback, loads --keys keys of
 * --value-size bytes, puts a steady closed-loop load on them through the client library
 * (--concurrency calls in flight, --read-ratio Gets, the rest Sets of keys in the same space),
 * measures --baseline of it, then starts a 4th node and keeps measuring until every old node
 * has logged a rebalance pass with no failure and no node logged a pass or a ring change for 1 s.
 * Prints, per rate: throughput and p99 before and during the rebalance (and the worst second),
 * how long the rebalance took, keys sent, and whether every acknowledged write is read back
 * (each key's last acknowledged Set, read at ALL after the run; keys with a write whose
 * outcome is unknown are not judged). Every node it starts is stopped by PID, also on error
 * and on Ctrl-C.
 *
 *   --rates 0,20000        REBALANCE_RATE values to compare (0 = unpaced)
 *   --keys 1000000         --value-size 100      --concurrency 32     --read-ratio 0.9
 *   --baseline 10s         --max-rebalance 180s  --json FILE
 */
import { writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { CacheClient } from '../src/client/index.ts';
import { addresses, converged, nodeEnv, stopAll } from '../test/helpers/cluster.ts';
import { type NodeProc, spawnNode } from '../test/helpers/procs.ts';
import { Histogram } from './bench/histogram.ts';
import { logMarks, rebalanced } from './bench/rebalance-log.ts';

const { values: flags } = parseArgs({
  options: {
    rates: { type: 'string', default: '0,20000' },
    keys: { type: 'string', default: '1000000' },
    'value-size': { type: 'string', default: '100' },
    concurrency: { type: 'string', default: '32' },
    'read-ratio': { type: 'string', default: '0.9' },
    baseline: { type: 'string', default: '10' },
    'max-rebalance': { type: 'string', default: '180' },
    json: { type: 'string' },
  },
});
const num = (name: keyof typeof flags) => {
  const v = Number(String(flags[name]).replace(/s$/, ''));
  if (!Number.isFinite(v) || v < 0) throw new Error(`--${name}: expected a number, got ${flags[name]}`);
  return v;
};
const KEYS = num('keys');
const VALUE_SIZE = num('value-size');
const CONCURRENCY = num('concurrency');
const READ_RATIO = num('read-ratio');
const BASELINE_S = num('baseline');
const MAX_REBALANCE_S = num('max-rebalance');
const RATES = String(flags.rates)
  .split(',')
  .map((r) => Number(r));

const live: NodeProc[] = [];
process.on('SIGINT', () => void stopAll(live).then(() => process.exit(130)));

const key = (i: number) => `k:${i}`;
const value = (i: number, gen: number) => `${gen}:${i}:`.padEnd(VALUE_SIZE, 'v');

interface Window {
  ops: number;
  errors: number;
  seconds: number;
  hist: Histogram;
  perSecond: number[];
}
const newWindow = (): Window => ({ ops: 0, errors: 0, seconds: 0, hist: new Histogram(), perSecond: [] });

async function runRate(rate: number) {
  const addrs = await addresses(4);
  const env = (a: string) =>
    nodeEnv(a, addrs.slice(0, 3), { LOG_LEVEL: 'info', REBALANCE_RATE: String(rate), MAX_MEMORY: '2gb', ANTI_ENTROPY_INTERVAL: '0' });
  const nodes = addrs.slice(0, 3).map((a) => spawnNode(env(a)));
  live.push(...nodes);
  await Promise.all(nodes.map((n) => n.waitFor(/listening on/)));
  await converged(addrs.slice(0, 3), addrs.slice(0, 3), 30_000);
  const client = new CacheClient({ seeds: addrs.slice(0, 3), timeoutMs: 5_000 });
  try {
    // Load.
    const t0 = Date.now();
    const BATCH = 500;
    let next = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < KEYS) {
          const from = next;
          next += BATCH;
          const entries = [];
          for (let i = from; i < Math.min(from + BATCH, KEYS); i++) entries.push({ key: key(i), value: value(i, 0) });
          const res = await client.mset(entries);
          const failed = res.find((r) => r.error !== undefined);
          if (failed) throw new Error(`preload: ${failed.key} was not written: ${failed.error?.message}`);
        }
      }),
    );
    const loadS = (Date.now() - t0) / 1000;

    // Steady load, measured in windows.
    let window = newWindow();
    let running = true;
    let secondOps = 0;
    const acked = new Map<number, number>(); // key index -> generation last acknowledged
    const unknown = new Set<number>(); // keys with a write of unknown outcome, or two at once
    const inflight = new Set<number>();
    let gen = 1;
    const worker = async () => {
      while (running) {
        const i = Math.floor(Math.random() * KEYS);
        const started = process.hrtime.bigint();
        const w = window;
        try {
          if (Math.random() < READ_RATIO) await client.get(key(i));
          else {
            const g = gen++;
            if (inflight.has(i)) unknown.add(i); // which of two concurrent writes wins is the clock's call
            inflight.add(i);
            try {
              await client.set(key(i), value(i, g));
              acked.set(i, g);
            } catch (e) {
              unknown.add(i);
              throw e;
            } finally {
              inflight.delete(i);
            }
          }
          w.ops++;
          secondOps++;
          w.hist.record(Number(process.hrtime.bigint() - started) / 1000);
        } catch {
          w.errors++;
        }
      }
    };
    const workers = Array.from({ length: CONCURRENCY }, worker);
    const ticker = setInterval(() => {
      window.perSecond.push(secondOps);
      secondOps = 0;
    }, 1000);
    await sleep(BASELINE_S * 1000);
    const before = window;
    before.seconds = BASELINE_S;
    window = newWindow();

    // The 4th node joins.
    const marks = logMarks(nodes);
    const joinedAt = Date.now();
    const joinedPerf = performance.now();
    const fourth = spawnNode(
      nodeEnv(addrs[3], addrs.slice(0, 3), {
        LOG_LEVEL: 'info',
        REBALANCE_RATE: String(rate),
        MAX_MEMORY: '2gb',
        ANTI_ENTROPY_INTERVAL: '0',
      }),
    );
    live.push(fourth);
    nodes.push(fourth);
    marks.push(0);
    await fourth.waitFor(/listening on/);
    let finishedAt = 0;
    let lastSent = 0;
    try {
      const r = await rebalanced(nodes, marks, nodes.slice(0, 3), 1_000, MAX_REBALANCE_S * 1000);
      finishedAt = joinedAt + (r.lastAt - joinedPerf);
      lastSent = r.sent;
    } catch {
      // unfinished: reported as such
    }
    const during = window;
    during.seconds = ((finishedAt || Date.now()) - joinedAt) / 1000;
    running = false;
    clearInterval(ticker);
    await Promise.all(workers);

    // Every acknowledged write, read back at ALL.
    let lost = 0;
    let checked = 0;
    const judged = [...acked].filter(([i]) => !unknown.has(i));
    for (let j = 0; j < judged.length; j += 200) {
      const part = judged.slice(j, j + 200);
      const got = await client.mget(
        part.map(([i]) => key(i)),
        { consistency: 'all' },
      );
      got.forEach((r, n) => {
        checked++;
        const want = value(part[n][0], part[n][1]);
        if (r.error !== undefined || r.value?.toString() !== want) lost++;
      });
    }
    const items = await Promise.all(addrs.map((a) => client.stats(a).then((s) => s.items)));
    const secondsDuring = during.perSecond.slice(-Math.max(1, Math.floor(during.seconds)));
    return {
      rate,
      keys: KEYS,
      loadSeconds: loadS,
      before: { opsPerSec: before.ops / before.seconds, p99Ms: before.hist.percentile(0.99) / 1000, errors: before.errors },
      during: {
        opsPerSec: during.ops / Math.max(0.001, during.seconds),
        p99Ms: during.hist.percentile(0.99) / 1000,
        worstSecond: Math.min(...secondsDuring),
        errors: during.errors,
      },
      rebalanceSeconds: finishedAt ? (finishedAt - joinedAt) / 1000 : null,
      keysSent: lastSent,
      fourthNodeShare: items[3] / items.reduce((a, b) => a + b, 0),
      writesChecked: checked,
      writesLost: lost,
      writesUnknown: unknown.size,
    };
  } finally {
    client.close();
    await stopAll(nodes);
    for (const n of nodes) live.splice(live.indexOf(n), 1);
  }
}

const results = [];
try {
  for (const rate of RATES) {
    const r = await runRate(rate);
    results.push(r);
    process.stdout.write(`${JSON.stringify(r)}\n`);
  }
} catch (e) {
  await stopAll(live);
  throw e;
}
const f = (n: number) => Math.round(n).toLocaleString('en');
process.stdout.write(
  `\n${KEYS.toLocaleString('en')} keys of ${VALUE_SIZE} B on 3 nodes (RF 3), a 4th joins; ${CONCURRENCY} calls in flight, ${READ_RATIO * 100}% Gets\n\n`,
);
process.stdout.write(
  '| REBALANCE_RATE | ops/s before | ops/s during | during / before | worst second | p99 before | p99 during | rebalance took | keys sent | 4th node share | acknowledged writes lost |\n',
);
process.stdout.write('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n');
for (const r of results) {
  process.stdout.write(
    `| ${r.rate === 0 ? '0 (unpaced)' : f(r.rate)} | ${f(r.before.opsPerSec)} | ${f(r.during.opsPerSec)} | ${(r.during.opsPerSec / r.before.opsPerSec).toFixed(2)}x | ${f(r.during.worstSecond)} | ${r.before.p99Ms.toFixed(1)} ms | ${r.during.p99Ms.toFixed(1)} ms | ${r.rebalanceSeconds === null ? 'unfinished' : `${r.rebalanceSeconds.toFixed(1)} s`} | ${f(r.keysSent)} | ${(r.fourthNodeShare * 100).toFixed(1)} % | ${r.writesLost} of ${f(r.writesChecked)} |\n`,
  );
}
if (flags.json) writeFileSync(flags.json, JSON.stringify(results, null, 2));
