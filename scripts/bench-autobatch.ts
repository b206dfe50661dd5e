/**
 * Auto-batching in the client library: one client process keeps CONCURRENCY single-key gets in
 * flight against one node, with autoBatch on and off, in alternating rounds, and prints the
 * gets per second of each and their ratio (issue 14's target: on >= 2x off).
 *
 *   npm run build && node --import tsx scripts/bench-autobatch.ts [--concurrency 64] [--seconds 5] [--rounds 3]
 *
 * --out-of-step: pipelining (ClientOptions.maxInFlight). CONCURRENCY workers, started out of
 * step, each awaits its own call and then does a little other work (0 to 3 event-loop turns)
 * before the next, so that answers arrive in different turns; gets only, then a 90/10 get/set
 * mix. Each round runs every maxInFlight of --limits (default Infinity,2,4,8; Infinity = no
 * pipelining, the behaviour before it) one after the other, in rotated order; it prints per
 * setting the medians over the rounds of ops/s, keys per call (client attempts counted with
 * onAttempt), p50 and p99 latency of an operation, and ops/s as a ratio to Infinity.
 *
 *   node --import tsx scripts/bench-autobatch.ts --out-of-step [--concurrency 64] [--seconds 3] [--rounds 5] [--limits Infinity,2,4,8]
 *
 * The node (dist/main.js) runs on a free loopback port and is stopped by its PID.
 */
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { CacheClient } from '../src/index.ts';
import { numberArg } from './bench/args.ts';

const CONCURRENCY = numberArg('concurrency', 64);
const SECONDS = numberArg('seconds', 5);
const ROUNDS = numberArg('rounds', 3);
const KEYS = 1000;

const port = await new Promise<number>((resolve) => {
  const s = createServer().listen(0, '127.0.0.1', () => {
    const p = (s.address() as { port: number }).port;
    s.close(() => resolve(p));
  });
});
const addr = `127.0.0.1:${port}`;
const node = spawn(process.execPath, [new URL('../dist/main.js', import.meta.url).pathname], {
  env: { PATH: process.env.PATH ?? '', ADDR: addr, LOG_LEVEL: 'warn' },
  stdio: 'ignore',
});
let stopped = false;
const stop = () => {
  if (stopped || node.exitCode !== null || !node.pid) return;
  stopped = true;
  process.kill(node.pid, 'SIGKILL');
};
process.on('exit', stop);

async function run(autoBatch: boolean): Promise<number> {
  const c = new CacheClient({ seeds: addr, autoBatch });
  let done = 0;
  const end = Date.now() + SECONDS * 1000;
  const worker = async (w: number) => {
    for (let i = w; Date.now() < end; i += CONCURRENCY) {
      await c.get(`bench:${i % KEYS}`);
      done++;
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, (_, w) => worker(w)));
  const rate = done / ((performance.now() - t0) / 1000);
  c.close();
  return rate;
}

/** One out-of-step run: ops/s, keys per call, p50 / p99 latency (ms). */
async function outOfStep(maxInFlight: number, setShare: number): Promise<{ rate: number; perCall: number; p50: number; p99: number }> {
  let calls = 0;
  const c = new CacheClient({ seeds: addr, maxInFlight, onAttempt: () => void calls++ });
  await c.members(); // the first view: no call is held for it
  const lat: number[] = [];
  const end = Date.now() + SECONDS * 1000;
  const turn = () => new Promise<void>((r) => setImmediate(r));
  const worker = async (w: number) => {
    for (let t = w % 7; t > 0; t--) await turn();
    for (let i = w; Date.now() < end; i += CONCURRENCY) {
      const key = `bench:${(i * 7919) % KEYS}`;
      const t0 = performance.now();
      if (setShare > 0 && i % 10 < setShare * 10) await c.set(key, 'w'.repeat(100));
      else await c.get(key);
      lat.push(performance.now() - t0);
      for (let t = (w + i) % 4; t > 0; t--) await turn();
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, (_, w) => worker(w)));
  const rate = lat.length / ((performance.now() - t0) / 1000);
  c.close();
  lat.sort((a, b) => a - b);
  const q = (p: number) => lat[Math.min(lat.length - 1, Math.floor(lat.length * p))]!;
  return { rate, perCall: lat.length / calls, p50: q(0.5), p99: q(0.99) };
}

async function outOfStepRounds(): Promise<void> {
  const i = process.argv.indexOf('--limits');
  const limits = (i < 0 ? 'Infinity,2,4,8' : process.argv[i + 1]!).split(',').map(Number);
  for (const [label, share] of [
    ['gets', 0],
    ['90/10 get/set', 0.1],
  ] as const) {
    const res = new Map(limits.map((l) => [l, [] as Awaited<ReturnType<typeof outOfStep>>[]]));
    await outOfStep(limits[0]!, share); // warm-up
    for (let r = 0; r < ROUNDS; r++) {
      for (let j = 0; j < limits.length; j++) {
        const l = limits[(r + j) % limits.length]!;
        const x = await outOfStep(l, share);
        res.get(l)!.push(x);
        process.stdout.write(
          `${label} round ${r + 1} maxInFlight ${l}: ${x.rate.toFixed(0)} ops/s, ${x.perCall.toFixed(2)} keys/call, p50 ${x.p50.toFixed(2)} ms, p99 ${x.p99.toFixed(2)} ms\n`,
        );
      }
    }
    const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const base = med(res.get(limits[0]!)!.map((x) => x.rate));
    process.stdout.write(`\n${label}, ${CONCURRENCY} out-of-step workers, ${SECONDS} s x ${ROUNDS} rounds (medians):\n`);
    process.stdout.write('| maxInFlight | ops/s | x first | keys/call | p50 ms | p99 ms |\n|---|---:|---:|---:|---:|---:|\n');
    for (const [l, xs] of res) {
      const rate = med(xs.map((x) => x.rate));
      process.stdout.write(
        `| ${l} | ${rate.toFixed(0)} | ${(rate / base).toFixed(2)}x | ${med(xs.map((x) => x.perCall)).toFixed(2)} | ${med(xs.map((x) => x.p50)).toFixed(2)} | ${med(xs.map((x) => x.p99)).toFixed(2)} |\n`,
      );
    }
    process.stdout.write('\n');
  }
}

try {
  const loader = new CacheClient({ seeds: addr, retries: 20 });
  for (let i = 0; i < KEYS; i += 500) {
    await loader.mset(Array.from({ length: 500 }, (_, j) => ({ key: `bench:${i + j}`, value: 'v'.repeat(100) })));
  }
  loader.close();
  if (process.argv.includes('--out-of-step')) {
    await outOfStepRounds();
    process.exit(0);
  }
  await run(true); // warm-up
  await run(false);
  const on: number[] = [];
  const off: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    on.push(await run(true));
    off.push(await run(false));
    process.stdout.write(
      `round ${r + 1}: autoBatch on ${on[r]!.toFixed(0)} gets/s, off ${off[r]!.toFixed(0)} gets/s, ratio ${(on[r]! / off[r]!).toFixed(2)}x\n`,
    );
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  process.stdout.write(
    `median (${CONCURRENCY} in flight, ${SECONDS} s rounds): on ${median(on).toFixed(0)} gets/s, off ${median(off).toFixed(0)} gets/s, ratio ${(median(on) / median(off)).toFixed(2)}x\n`,
  );
} finally {
  stop();
}
