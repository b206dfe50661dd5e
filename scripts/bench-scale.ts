import { parseArgs } from 'node:util';
import { CacheClient } from '../src/client/index.ts';
import { addresses, converged, stopAll } from '../test/helpers/cluster.ts';
import { type NodeProc, spawnNode } from '../test/helpers/procs.ts';
import { cpuSeconds } from './bench/proc.ts';
import { logMarks, rebalanced } from './bench/rebalance-log.ts';

const { values: flags } = parseArgs({
  options: {
    nodes: { type: 'string', default: '20' },
    'small-nodes': { type: 'string', default: '5' },
    idle: { type: 'string', default: '10' },
    keys: { type: 'string', default: '100000' },
  },
});
const N = Number(flags.nodes);
const SMALL = Number(flags['small-nodes']);
const IDLE_S = Number(flags.idle);
const KEYS = Number(flags.keys);
for (const [k, v] of Object.entries({ nodes: N, 'small-nodes': SMALL, idle: IDLE_S, keys: KEYS })) {
  if (!Number.isInteger(v) || v < 1) throw new Error(`--${k}: expected a whole number >= 1`);
}

const live: NodeProc[] = [];
process.on('SIGINT', () => void stopAll(live).then(() => process.exit(130)));

const env = (addr: string, all: string[]) => ({
  ADDR: addr,
  PEERS: all.filter((a) => a !== addr).join(','),
  LOG_LEVEL: 'info',
  ANTI_ENTROPY_INTERVAL: '0',
});

async function idleCpu(nodes: NodeProc[]): Promise<number> {
  const before = nodes.map((n) => cpuSeconds(n.pid));
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, IDLE_S * 1000));
  const wall = (performance.now() - t0) / 1000;
  const per = nodes.map((n, i) => (cpuSeconds(n.pid) - before[i]!) / wall);
  return per.reduce((a, b) => a + b, 0) / per.length;
}

async function cluster(n: number): Promise<{ addrs: string[]; nodes: NodeProc[]; formMs: number }> {
  const addrs = await addresses(n);
  const t0 = performance.now();
  const nodes = addrs.map((a) => spawnNode(env(a, addrs)));
  live.push(...nodes);
  await Promise.all(nodes.map((p) => p.waitFor(/listening on/, 60_000)));
  await converged(addrs, addrs, 120_000);
  return { addrs, nodes, formMs: performance.now() - t0 };
}

function release(nodes: NodeProc[]): void {
  for (const n of nodes) live.splice(live.indexOf(n), 1);
}

const out: string[] = [];
try {
  const big = await cluster(N);
  const bigIdle = await idleCpu(big.nodes);
  process.stderr.write(
    `${N} nodes: one ring after ${(big.formMs / 1000).toFixed(1)} s; idle ${(bigIdle * 100).toFixed(1)} % of a core per node\n`,
  );

  // A join: keys in, one more node, its share; then it leaves and every key is still there.
  const client = new CacheClient({ seeds: big.addrs, timeoutMs: 10_000 });
  for (let i = 0; i < KEYS; i += 500) {
    const entries = [];
    for (let j = i; j < Math.min(i + 500, KEYS); j++) entries.push({ key: `k:${j}`, value: `v${j}` });
    const res = await client.mset(entries);
    const bad = res.find((r) => r.error !== undefined);
    if (bad) throw new Error(`write of ${bad.key} failed: ${bad.error?.message}`);
  }
  const [joinAddr] = await addresses(1);
  const all = [...big.addrs, joinAddr!];
  const marks = logMarks(big.nodes);
  const t0 = performance.now();
  const joiner = spawnNode(env(joinAddr!, all));
  live.push(joiner);
  big.nodes.push(joiner);
  marks.push(0);
  await joiner.waitFor(/listening on/, 60_000);
  await converged(all, all, 120_000);
  const { lastAt } = await rebalanced(big.nodes, marks, [], 3_000);
  const joinMs = lastAt - t0;
  const held = (await client.stats(joinAddr!)).items;
  const fair = (3 * KEYS) / all.length;
  process.stderr.write(`node ${all.length} holds ${held} entries (fair share ${fair.toFixed(0)})\n`);

  await joiner.stop('SIGTERM', 30_000);
  let missing = 0;
  const keys = Array.from({ length: KEYS }, (_, i) => `k:${i}`);
  const rest = new CacheClient({ seeds: big.addrs, timeoutMs: 10_000 });
  for (let i = 0; i < KEYS; i += 500) {
    const got = await rest.mget(keys.slice(i, i + 500), { consistency: 'all' });
    missing += got.filter((g) => !g.found).length;
  }
  client.close();
  rest.close();
  await stopAll(big.nodes);
  release(big.nodes);

  const small = await cluster(SMALL);
  const smallIdle = await idleCpu(small.nodes);
  await stopAll(small.nodes);
  release(small.nodes);

  out.push(
    `| cluster | one ring after | idle CPU per node |`,
    `|---|---:|---:|`,
    `| ${N} nodes | ${(big.formMs / 1000).toFixed(1)} s | ${(bigIdle * 100).toFixed(1)} % of a core |`,
    `| ${SMALL} nodes | ${(small.formMs / 1000).toFixed(1)} s | ${(smallIdle * 100).toFixed(1)} % of a core |`,
    '',
    `Join: node ${all.length} joined a ring holding ${KEYS.toLocaleString('en')} keys (RF 3) and held ${held.toLocaleString('en')} entries once rebalancing was quiet, ${(held / fair).toFixed(2)}x its fair share of ${Math.round(fair).toLocaleString('en')} (target ≤ 1.2x), after ${(joinMs / 1000).toFixed(1)} s.`,
    `Leave: after its graceful stop, ${missing} of ${KEYS.toLocaleString('en')} keys could not be read at ALL from the others.`,
  );
} finally {
  await stopAll(live);
}
process.stdout.write(`${out.join('\n')}\n`);
