/**
 * YCSB-style workloads against one node and a 3-node cluster, with Redis as the reference in
 * the same run: node --import tsx scripts/bench-ycsb.ts [flags]   (after npm run build; needs
 * redis-server and redis-benchmark from Debian's redis-server / redis-tools)
 *
 * Each figure comes from scripts/bench.ts (--workload a|b|c: zipf s=1.0 over --keys preloaded
 * keys of 100 B, A = 50/50 reads/updates, B = 95/5, C = read-only), run once per workload and
 * cluster size; then redis-server (no persistence) on loopback, filled with the same number of
 * keys and value size, measured by redis-benchmark GET and SET over `-r <keys>` random keys
 * (uniform: redis-benchmark has no zipf) with the same number of connections, the mix's rate
 * taken as the weighted harmonic mean of the two. Throughput is reported per second and per
 * server CPU-second (the nodes' or redis-server's user+system time from /proc), since Redis is
 * one C thread and ours are Node processes. Then workload B on one node at 10k, 100k and 1M
 * keys: throughput should stay flat (±10 %).
 * Every process it starts is stopped by its PID, also on error and on Ctrl-C.
 *
 *   --keys 1000000   --duration 10s   --concurrency 64   --workloads a,b,c   --no-flat   --json FILE
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { freePort } from '../test/helpers/procs.ts';
import { cpuSeconds } from './bench/proc.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const { values: flags } = parseArgs({
  options: {
    keys: { type: 'string', default: '1000000' },
    duration: { type: 'string', default: '10s' },
    concurrency: { type: 'string', default: '64' },
    workloads: { type: 'string', default: 'a,b,c' },
    'no-flat': { type: 'boolean', default: false },
    json: { type: 'string' },
  },
});
const KEYS = Number(flags.keys);
const CONC = Number(flags.concurrency);
if (!Number.isInteger(KEYS) || KEYS < 1) throw new Error(`--keys ${flags.keys}: expected a whole number`);
if (!Number.isInteger(CONC) || CONC < 1) throw new Error(`--concurrency ${flags.concurrency}: expected a whole number`);
const WORKLOADS = String(flags.workloads)
  .split(',')
  .map((w) => w.trim().toLowerCase());
const READS: Record<string, number> = { a: 0.5, b: 0.95, c: 1 };
for (const w of WORKLOADS) if (!(w in READS)) throw new Error(`--workloads: ${w} is not a, b or c`);
const WORK = mkdtempSync(join(tmpdir(), 'tscache-ycsb-'));

const children = new Set<ChildProcess>();
/** SIGINT, so that a bench.ts child stops the nodes it started (by their PIDs) before it exits. */
const stopChildren = () => {
  for (const c of children) if (c.pid !== undefined && c.exitCode === null) process.kill(c.pid, 'SIGINT');
};
process.on('SIGINT', () => {
  stopChildren();
  process.exit(130);
});

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(c);
    let out = '';
    let err = '';
    c.stdout.on('data', (d) => {
      out += d;
    });
    c.stderr.on('data', (d) => {
      err += d;
    });
    c.on('error', (e) => {
      children.delete(c);
      reject(new Error(`${cmd}: ${e.message}`));
    });
    c.on('exit', (code) => {
      children.delete(c);
      if (code === 0) resolve(out);
      else reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${err.slice(-500)}`));
    });
  });
}

interface Figure {
  system: string;
  workload: string;
  keys: number;
  opsPerSec: number;
  serverCores: number;
  perCpuSecond: number;
}

async function ours(workload: string, nodes: number, keys: number): Promise<Figure> {
  const file = join(WORK, `${workload}-${nodes}-${keys}.json`);
  await run(process.execPath, [
    '--import',
    'tsx',
    'scripts/bench.ts',
    '--workload',
    workload,
    '--nodes',
    String(nodes),
    '--keys',
    String(keys),
    '--duration',
    String(flags.duration),
    '--concurrency',
    String(CONC),
    '--client',
    'h2',
    '--json',
    file,
  ]);
  const r = JSON.parse(readFileSync(file, 'utf8')) as {
    total: { ops_per_s: number };
    cpu_cores: { nodes: number[] };
  };
  const cores = r.cpu_cores.nodes.reduce((a, b) => a + b, 0);
  return {
    system: `tscache ${nodes} node${nodes > 1 ? 's' : ''}`,
    workload: workload.toUpperCase(),
    keys,
    opsPerSec: r.total.ops_per_s,
    serverCores: cores,
    perCpuSecond: r.total.ops_per_s / Math.max(cores, 1e-9),
  };
}

async function redisFigures(keys: number): Promise<Figure[]> {
  const port = await freePort();
  const server = spawn('redis-server', ['--bind', '127.0.0.1', '--port', String(port), '--save', '', '--appendonly', 'no'], {
    stdio: 'ignore',
  });
  children.add(server);
  let spawnError: Error | undefined;
  server.on('error', (e) => {
    spawnError = e; // redis-server missing: PING never answers, and the message says why
  });
  try {
    const bench = (args: string[]) => run('redis-benchmark', ['-h', '127.0.0.1', '-p', String(port), ...args]);
    let up = false;
    for (let i = 0; i < 50 && !up; i++) {
      up = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), 'PING']).then(
        () => true,
        () => new Promise<boolean>((r) => setTimeout(() => r(false), 100)),
      );
    }
    if (!up) throw new Error(`redis-server on port ${port} did not answer PING within 5 s${spawnError ? `: ${spawnError.message}` : ''}`);
    // Fill: SETs over the random key space until (nearly) every key exists.
    await bench(['-t', 'set', '-r', String(keys), '-d', '100', '-n', String(keys * 3), '-c', '50', '-P', '32', '-q']);
    const rate = async (cmd: 'get' | 'set') => {
      const n = Math.max(100_000, Math.round(Number.parseFloat(String(flags.duration)) * 40_000));
      const t0 = performance.now();
      const c0 = cpuSeconds(server.pid!);
      const csv = await bench(['-t', cmd, '-r', String(keys), '-d', '100', '-n', String(n), '-c', String(CONC), '--csv']);
      const wall = (performance.now() - t0) / 1000;
      const cores = (cpuSeconds(server.pid!) - c0) / wall;
      const line = csv.split('\n').find((l) => l.toUpperCase().startsWith(`"${cmd.toUpperCase()}"`));
      if (!line) throw new Error(`redis-benchmark gave no ${cmd} line: ${csv}`);
      return { ops: Number(line.split(',')[1]!.replaceAll('"', '')), cores };
    };
    const get = await rate('get');
    const set = await rate('set');
    return WORKLOADS.map((w) => {
      const r = READS[w]!;
      const ops = 1 / (r / get.ops + (1 - r) / set.ops);
      const cores = r * get.cores + (1 - r) * set.cores;
      return {
        system: 'redis (uniform keys)',
        workload: w.toUpperCase(),
        keys,
        opsPerSec: ops,
        serverCores: cores,
        perCpuSecond: ops / cores,
      };
    });
  } finally {
    if (server.exitCode === null) process.kill(server.pid!, 'SIGTERM');
    children.delete(server);
  }
}

const figures: Figure[] = [];
try {
  for (const w of WORKLOADS) {
    for (const n of [1, 3]) {
      const f = await ours(w, n, KEYS);
      figures.push(f);
      process.stderr.write(`${JSON.stringify(f)}\n`);
    }
  }
  figures.push(...(await redisFigures(KEYS)));
  if (!flags['no-flat']) {
    for (const k of [10_000, 100_000, 1_000_000]) {
      const f = await ours('b', 1, k);
      figures.push({ ...f, system: `${f.system} (flatness)` });
      process.stderr.write(`${JSON.stringify(f)}\n`);
    }
  }
} finally {
  stopChildren();
}

const fmt = (n: number) => Math.round(n).toLocaleString('en');
const out = [
  `Workloads over ${KEYS.toLocaleString('en')} keys of 100 B, ${CONC} calls in flight, ${flags.duration} each`,
  '',
  '| system | workload | keys | ops/s | server cores | ops per server CPU-second | x redis (ops/s) | x redis (per CPU-s) |',
  '|---|---|---:|---:|---:|---:|---:|---:|',
];
for (const f of figures) {
  const redis = figures.find((r) => r.system.startsWith('redis') && r.workload === f.workload);
  out.push(
    `| ${f.system} | ${f.workload} | ${fmt(f.keys)} | ${fmt(f.opsPerSec)} | ${f.serverCores.toFixed(2)} | ${fmt(f.perCpuSecond)} | ${redis ? (f.opsPerSec / redis.opsPerSec).toFixed(2) : '-'} | ${redis ? (f.perCpuSecond / redis.perCpuSecond).toFixed(2) : '-'} |`,
  );
}
const flat = figures.filter((f) => f.system.endsWith('(flatness)'));
if (flat.length > 1) {
  const hi = Math.max(...flat.map((f) => f.opsPerSec));
  const lo = Math.min(...flat.map((f) => f.opsPerSec));
  out.push(
    '',
    `Flatness, workload B on one node from ${fmt(flat[0]!.keys)} to ${fmt(flat.at(-1)!.keys)} keys: lowest ${((lo / hi) * 100).toFixed(0)} % of highest (target ≥ 90 %)`,
  );
}
process.stdout.write(`${out.join('\n')}\n`);
if (flags.json) writeFileSync(flags.json, JSON.stringify(figures, null, 2));
