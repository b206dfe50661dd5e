/**
 * Auto-batching in the client library: one client process keeps CONCURRENCY single-key gets in
 * flight against one node, with autoBatch on and off, in alternating rounds, and prints the
 * gets per second of each and their ratio (issue 14's target: on >= 2x off).
 *
 *   npm run build && node --import tsx scripts/bench-autobatch.ts [--concurrency 64] [--seconds 5] [--rounds 3]
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

try {
  const loader = new CacheClient({ seeds: addr, retries: 20 });
  for (let i = 0; i < KEYS; i += 500) {
    await loader.mset(Array.from({ length: 500 }, (_, j) => ({ key: `bench:${i + j}`, value: 'v'.repeat(100) })));
  }
  loader.close();
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
