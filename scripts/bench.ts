/**
 * Load benchmark for the cache: npm run bench -- [flags]   (node --import tsx scripts/bench.ts)
 *
 * Starts one node (--nodes 1, default) or a loopback cluster (--nodes 3) from dist/main.js,
 * or targets running nodes (--target host:port[,host:port...]), runs a closed-loop Get/Set
 * workload with a fixed number of calls in flight, and prints throughput, latency
 * percentiles, errors by gRPC status and the Get hit ratio. Nodes it started are stopped by
 * PID at the end, on Ctrl-C and on error.
 *
 *   --nodes N             nodes to start (1)                 --target A[,B..]  use running nodes instead
 *   --duration 10s        measured time                      --warmup 2s       unmeasured lead-in
 *   --concurrency 64      calls in flight                    --connections 4   separate HTTP/2 connections
 *   --read-ratio 0.9      share of Gets                      --keys 100000     key space
 *   --value-size 100      bytes per value                    --dist uniform|zipf  (--zipf-s 1.0)
 *   --consistency one|quorum|all|default                     --preload         Set every key first
 *   --json FILE           also write the results as JSON     --timeout 5s      per-call deadline
 *   --workload a|b|c      YCSB-style presets: zipf (s 1.0) over 1,000,000 preloaded keys of 100 B,
 *                         A = 50 % reads / 50 % updates, B = 95 / 5, C = read-only (explicit
 *                         --keys, --value-size, --read-ratio, --dist still override them)
 *   --base-port P         first port for started nodes (default: free ports)
 *   --client grpc|h2      grpc: grpc-js channels (default, what a Node app would use);
 *                         h2: a bare node:http2 gRPC caller, ~40% less CPU per call, so the
 *                         server rather than the load generator is the bottleneck
 * Environment variables the node understands (NUM_SHARDS, EVICTION_POLICY, ...) are passed
 * through to started nodes; LOG_LEVEL defaults to warn for them.
 *
 * The client is deliberately cheap (it shares the CPUs with the servers): request bodies
 * are encoded by hand once per key, replies are not decoded (a Get reply is only scanned
 * for the value length), and nothing is logged per call.
 */

import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import type { MembersResponse__Output } from '../src/protos/generated/public/cache/v1/MembersResponse.ts';
import { publicApi } from '../src/protos/protos.ts';
import { decodeGetResponse, encodeKeyRequest, encodeSetRequest } from '../src/wire/codec.ts';
import { frame, H2Channel } from './bench/h2client.ts';
import { Histogram } from './bench/histogram.ts';
import { type KeyChooser, uniform, zipf, zipfTopShare } from './bench/keys.ts';
import { cpuSeconds } from './bench/proc.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const MAIN = `${ROOT}dist/main.js`;
const GET = '/cache.v1.CacheService/Get';
const NOT_FOUND = 5;
const SET = '/cache.v1.CacheService/Set';

// ------------------------------------------------------------------ flags
function fail(msg: string): never {
  process.stderr.write(`bench: ${msg}\n`);
  process.exit(2);
}

function durationMs(flag: string, s: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(s.trim());
  if (!m) fail(`--${flag} ${s}: expected a duration like 10s, 500ms, 1m`);
  return Math.round(Number(m[1]) * (m[2] === 'ms' ? 1 : m[2] === 'm' ? 60_000 : 1000));
}

function number(flag: string, s: string, min: number, max: number, integer = true): number {
  const n = Number(s);
  if (!Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) {
    fail(`--${flag} ${s}: expected ${integer ? 'a whole number' : 'a number'} from ${min} to ${max}`);
  }
  return n;
}

const { values: flags } = parseArgs({
  options: {
    nodes: { type: 'string', default: '1' },
    target: { type: 'string' },
    duration: { type: 'string', default: '10s' },
    warmup: { type: 'string', default: '2s' },
    concurrency: { type: 'string', default: '64' },
    connections: { type: 'string', default: '4' },
    'read-ratio': { type: 'string', default: '0.9' },
    keys: { type: 'string', default: '100000' },
    'value-size': { type: 'string', default: '100' },
    dist: { type: 'string', default: 'uniform' },
    'zipf-s': { type: 'string', default: '1.0' },
    consistency: { type: 'string', default: 'default' },
    preload: { type: 'boolean', default: false },
    json: { type: 'string' },
    timeout: { type: 'string', default: '5s' },
    'base-port': { type: 'string' },
    workload: { type: 'string' },
    client: { type: 'string', default: 'grpc' },
    help: { type: 'boolean', short: 'h', default: false },
  },
  allowPositionals: false,
});

if (flags.help) {
  const src = readFileSync(fileURLToPath(import.meta.url), 'utf8');
  process.stdout.write(`${src.slice(0, src.indexOf('*/')).replace(/^\/\*\*|^ \* ?/gm, '')}\n`);
  process.exit(0);
}

/** YCSB's core workloads A, B and C, as far as a key-value cache has them (updates are Sets). */
const WORKLOADS: Record<string, { 'read-ratio': string }> = {
  a: { 'read-ratio': '0.5' },
  b: { 'read-ratio': '0.95' },
  c: { 'read-ratio': '1' },
};
if (flags.workload !== undefined) {
  const w = WORKLOADS[flags.workload.toLowerCase()];
  if (!w) fail(`--workload ${flags.workload}: expected a, b or c`);
  const given = new Set(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=')[0]));
  const preset: Record<string, string> = { ...w, keys: '1000000', 'value-size': '100', dist: 'zipf', 'zipf-s': '1.0' };
  for (const [k, v] of Object.entries(preset)) if (!given.has(k)) (flags as Record<string, unknown>)[k] = v;
  flags.preload = true;
}

const CONSISTENCY: Record<string, number> = { default: 0, one: 1, quorum: 2, all: 3 };
const opts = {
  nodes: number('nodes', flags.nodes!, 1, 16),
  targets: flags.target
    ? flags.target
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
    : [],
  durationMs: durationMs('duration', flags.duration!),
  warmupMs: durationMs('warmup', flags.warmup!),
  concurrency: number('concurrency', flags.concurrency!, 1, 100_000),
  connections: number('connections', flags.connections!, 1, 1024),
  readRatio: number('read-ratio', flags['read-ratio']!, 0, 1, false),
  keys: number('keys', flags.keys!, 1, 50_000_000),
  valueSize: number('value-size', flags['value-size']!, 0, 4_000_000),
  dist: flags.dist!,
  zipfS: number('zipf-s', flags['zipf-s']!, 0, 10, false),
  consistency: flags.consistency!,
  preload: flags.preload!,
  workload: flags.workload?.toUpperCase(),
  json: flags.json,
  timeoutMs: durationMs('timeout', flags.timeout!),
  client: flags.client!,
  basePort: flags['base-port'] ? number('base-port', flags['base-port'], 1024, 65000) : undefined,
};
if (!(opts.consistency in CONSISTENCY)) fail(`--consistency ${opts.consistency}: expected one, quorum, all or default`);
if (opts.dist !== 'uniform' && opts.dist !== 'zipf') fail(`--dist ${opts.dist}: expected uniform or zipf`);
if (opts.client !== 'grpc' && opts.client !== 'h2') fail(`--client ${opts.client}: expected grpc or h2`);
if (opts.durationMs < 100) fail('--duration must be at least 100ms');
for (const t of opts.targets) {
  if (!/^(127\.\d+\.\d+\.\d+|localhost):\d+$/.test(t)) fail(`--target ${t}: only loopback host:port targets (127.x.y.z) are allowed`);
}
const level = CONSISTENCY[opts.consistency];

// ------------------------------------------------------------------ node processes
interface Proc {
  child: ChildProcess;
  pid: number;
  addr: string;
  log: string;
  exited: Promise<void>;
  done: boolean;
}
const procs: Proc[] = [];

function killAll(signal: NodeJS.Signals): void {
  for (const p of procs)
    if (!p.done)
      try {
        process.kill(p.pid, signal);
      } catch {
        /* gone */
      }
}
process.on('exit', () => killAll('SIGKILL'));

async function stopNodes(): Promise<void> {
  if (procs.length === 0) return;
  killAll('SIGTERM');
  const t = setTimeout(() => killAll('SIGKILL'), 8_000);
  await Promise.all(procs.map((p) => p.exited));
  clearTimeout(t);
}

async function freePort(): Promise<number> {
  const srv = createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

function ensureBuilt(): void {
  if (existsSync(MAIN)) return;
  process.stderr.write('bench: dist/main.js is missing; running npm run build\n');
  const r = spawnSync('npm', ['run', 'build', '--silent'], { cwd: ROOT, stdio: 'inherit' });
  if (r.status !== 0 || !existsSync(MAIN)) fail('npm run build failed');
}

async function startNodes(n: number): Promise<string[]> {
  ensureBuilt();
  const ports: number[] = [];
  for (let i = 0; i < n; i++) ports.push(opts.basePort !== undefined ? opts.basePort + i : await freePort());
  const addrs = ports.map((p) => `127.0.0.1:${p}`);
  const logDir = `${ROOT}.bench`;
  mkdirSync(logDir, { recursive: true });
  for (const addr of addrs) {
    const log = `${logDir}/node-${addr.split(':')[1]}.log`;
    const fd = openSync(log, 'w');
    const child = spawn(process.execPath, [MAIN], {
      cwd: ROOT,
      env: { ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn', ADDR: addr, PEERS: addrs.join(',') },
      stdio: ['ignore', fd, fd],
      // Own process group: a Ctrl-C in the terminal reaches only us; we stop the nodes by PID.
      detached: true,
    });
    const p: Proc = { child, pid: child.pid!, addr, log, done: false, exited: Promise.resolve() };
    p.exited = new Promise((resolve) =>
      child.on('exit', () => {
        p.done = true;
        resolve();
      }),
    );
    procs.push(p);
  }
  process.stderr.write(
    `bench: started ${n} node(s) from dist/main.js: ${procs.map((p) => `${p.addr} pid ${p.pid}`).join(', ')} (logs in .bench/)\n`,
  );
  return addrs;
}

// ------------------------------------------------------------------ readiness (cluster view + one write)
const { ClusterService } = publicApi();

function unary<T>(fn: (cb: (err: grpc.ServiceError | null, res?: T) => void) => void): Promise<{ err: grpc.ServiceError | null; res?: T }> {
  return new Promise((resolve) => fn((err, res) => resolve({ err, res })));
}

async function waitReady(addrs: string[], expectMembers: number): Promise<void> {
  const end = Date.now() + 30_000;
  for (const addr of addrs) {
    const c = new ClusterService(addr, grpc.credentials.createInsecure());
    let last = '';
    try {
      for (;;) {
        const dead = procs.find((p) => p.done);
        if (dead)
          throw new Error(`node ${dead.addr} (pid ${dead.pid}) exited; see ${dead.log}:\n${readFileSync(dead.log, 'utf8').slice(-2000)}`);
        const { err, res } = await unary<MembersResponse__Output>((cb) => c.Members({}, { deadline: Date.now() + 1000 }, cb));
        const alive = res ? res.members.filter((m) => m.state === 1).length : 0;
        if (!err && alive >= expectMembers) break;
        last = err ? `${grpc.status[err.code]} ${err.details}` : `${alive}/${expectMembers} members alive`;
        if (Date.now() > end) throw new Error(`node ${addr} not ready after 30s: ${last}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      c.close();
    }
  }
}

// ------------------------------------------------------------------ workload
const id = (b: Buffer) => b;
const keyName = (i: number) => `bench:${i}`;
const value = 'v'.repeat(opts.valueSize);
// Request bodies are encoded once, by the node's own codec (src/wire/codec.ts), and sent as they are.
const getBodies: Buffer[] = new Array(opts.keys);
const setBodies: Buffer[] = new Array(opts.keys);
for (let i = 0; i < opts.keys; i++) {
  const key = keyName(i);
  getBodies[i] = encodeKeyRequest({ key, consistency: level });
  setBodies[i] = encodeSetRequest({ key, value, binary: false, data: undefined, ttlMs: 0, consistency: level, leaseToken: '' });
}
const getFramed: Buffer[] = opts.client === 'h2' ? getBodies.map(frame) : [];
const setBody = (i: number) => setBodies[i];
/** Length of the value in an encoded GetResponse. */
const valueLength = (res: Buffer) => decodeGetResponse(res).value.length;
const chooser: KeyChooser = opts.dist === 'zipf' ? zipf(opts.keys, opts.zipfS) : uniform(opts.keys);

class OpStats {
  hist = new Histogram();
  errors = new Map<string, number>();
  ok = 0;
  hits = 0;
  misses = 0;
  wrongValue = 0;
  err(code: number): void {
    const name = grpc.status[code] ?? `CODE_${code}`;
    this.errors.set(name, (this.errors.get(name) ?? 0) + 1);
  }
  errorCount(): number {
    let n = 0;
    for (const v of this.errors.values()) n += v;
    return n;
  }
}

let stats = { get: new OpStats(), set: new OpStats() };
let measuring = false;
let running = true;
let inFlight = 0;
let completed = 0; // all phases, for progress
let erroredAll = 0;

function makeConns(addrs: string[]): Conn[] {
  const conns: Conn[] = [];
  for (let i = 0; i < opts.connections; i++) {
    if (opts.client === 'h2') {
      conns.push({ kind: 'h2', ch: new H2Channel(addrs[i % addrs.length], opts.timeoutMs) });
      continue;
    }
    // A local subchannel pool (plus a distinct option value) gives each client its own HTTP/2 connection.
    conns.push({
      kind: 'grpc',
      client: new grpc.Client(addrs[i % addrs.length], grpc.credentials.createInsecure(), {
        'grpc.use_local_subchannel_pool': 1,
        'grpc.bench_channel_id': i,
        'grpc.max_receive_message_length': 64 * 1024 * 1024,
        'grpc.max_send_message_length': 64 * 1024 * 1024,
      }),
    });
  }
  return conns;
}

/** A connection the workers share: grpc-js channel or the raw HTTP/2 caller. */
type Conn = { kind: 'grpc'; client: grpc.Client } | { kind: 'h2'; ch: H2Channel };
type Done = (code: number, msg: Buffer | undefined) => void;

function callSet(c: Conn, k: number, done: Done, grpcCb?: (err: grpc.ServiceError | null, res?: Buffer) => void): void {
  if (c.kind === 'h2') c.ch.call(SET, frame(setBody(k)), done);
  else c.client.makeUnaryRequest(SET, id, id, setBody(k), callOptions(), grpcCb ?? ((err, res) => done(err ? err.code : 0, res)));
}

const callOptions = (): grpc.CallOptions => (opts.timeoutMs > 0 ? { deadline: Date.now() + opts.timeoutMs } : {});

/** One closed-loop caller: issues the next call as soon as the previous one completes. */
class Worker {
  private t0 = 0;
  private readonly onGet: Done;
  private readonly onSet: Done;
  private readonly onGetGrpc: (err: grpc.ServiceError | null, res?: Buffer) => void;
  private readonly onSetGrpc: (err: grpc.ServiceError | null, res?: Buffer) => void;
  private done?: () => void;

  constructor(
    private readonly conn: Conn,
    private readonly readRatio: number,
  ) {
    this.onGet = (code, res) => {
      const us = (performance.now() - this.t0) * 1000;
      inFlight--;
      completed++;
      const s = stats.get;
      if (measuring) {
        if (code === 0) {
          s.ok++;
          s.hits++;
          s.hist.record(us);
          if (res === undefined || valueLength(res) !== opts.valueSize) s.wrongValue++;
        } else if (code === NOT_FOUND) {
          s.ok++;
          s.misses++;
          s.hist.record(us);
        } else {
          s.err(code);
          erroredAll++;
        }
      } else if (code !== 0 && code !== NOT_FOUND) erroredAll++;
      this.next();
    };
    this.onSet = (code) => {
      const us = (performance.now() - this.t0) * 1000;
      inFlight--;
      completed++;
      const s = stats.set;
      if (measuring) {
        if (code === 0) {
          s.ok++;
          s.hist.record(us);
        } else {
          s.err(code);
          erroredAll++;
        }
      } else if (code !== 0) erroredAll++;
      this.next();
    };
    this.onGetGrpc = (err, res) => this.onGet(err ? err.code : 0, res);
    this.onSetGrpc = (err, res) => this.onSet(err ? err.code : 0, res);
  }

  run(): Promise<void> {
    return new Promise((resolve) => {
      this.done = resolve;
      this.next();
    });
  }

  private next(): void {
    if (!running) {
      this.done?.();
      return;
    }
    const k = chooser();
    const isGet = this.readRatio >= 1 || (this.readRatio > 0 && Math.random() < this.readRatio);
    inFlight++;
    this.t0 = performance.now();
    const c = this.conn;
    if (isGet) {
      if (c.kind === 'h2') c.ch.call(GET, getFramed[k], this.onGet);
      else c.client.makeUnaryRequest(GET, id, id, getBodies[k], callOptions(), this.onGetGrpc);
    } else callSet(c, k, this.onSet, this.onSetGrpc);
  }
}

async function preload(conns: Conn[]): Promise<{ ms: number; errors: Map<string, number> }> {
  const t = performance.now();
  const errors = new Map<string, number>();
  let nextKey = 0;
  let lastReport = t;
  const lane = (conn: Conn) =>
    new Promise<void>((resolve) => {
      const step = () => {
        if (nextKey >= opts.keys) {
          resolve();
          return;
        }
        const k = nextKey++;
        callSet(conn, k, (code) => {
          if (code !== 0) {
            const name = grpc.status[code] ?? String(code);
            errors.set(name, (errors.get(name) ?? 0) + 1);
          }
          const now = performance.now();
          if (now - lastReport >= 1000) {
            lastReport = now;
            process.stderr.write(`bench: preload ${nextKey}/${opts.keys} keys\n`);
          }
          step();
        });
      };
      step();
    });
  const lanes: Promise<void>[] = [];
  for (let i = 0; i < opts.concurrency; i++) lanes.push(lane(conns[i % conns.length]));
  await Promise.all(lanes);
  return { ms: performance.now() - t, errors };
}

// ------------------------------------------------------------------ CPU accounting (servers we started, and us)
function cpuSnapshot() {
  return { t: performance.now(), self: process.cpuUsage(), servers: procs.map((p) => cpuSeconds(p.pid)) };
}

// ------------------------------------------------------------------ report
const ms = (us: number) => (us / 1000).toFixed(us < 10_000 ? 3 : 1);

function summary(name: string, s: OpStats, seconds: number) {
  const h = s.hist;
  return {
    op: name,
    ok: s.ok,
    ops_per_s: s.ok / seconds,
    p50_ms: h.percentile(0.5) / 1000,
    p90_ms: h.percentile(0.9) / 1000,
    p99_ms: h.percentile(0.99) / 1000,
    p999_ms: h.percentile(0.999) / 1000,
    max_ms: h.max / 1000,
    mean_ms: h.mean() / 1000,
    errors: Object.fromEntries(s.errors),
    ...(name === 'get' ? { hits: s.hits, misses: s.misses, hit_ratio: s.ok ? s.hits / s.ok : null, wrong_value_length: s.wrongValue } : {}),
  };
}

function printTable(rows: ReturnType<typeof summary>[], total: { ok: number; seconds: number }): void {
  const head = ['op', 'ops/s', 'calls', 'p50 ms', 'p90 ms', 'p99 ms', 'p99.9 ms', 'max ms', 'errors'];
  const lines = rows.map((r) => {
    const s = r.op === 'get' ? stats.get : stats.set;
    const errs = s.errorCount();
    return [
      r.op,
      Math.round(r.ops_per_s).toLocaleString('en-US'),
      String(r.ok),
      ms(s.hist.percentile(0.5)),
      ms(s.hist.percentile(0.9)),
      ms(s.hist.percentile(0.99)),
      ms(s.hist.percentile(0.999)),
      ms(s.hist.max),
      errs === 0 ? '0' : `${errs} (${[...s.errors].map(([k, v]) => `${k}=${v}`).join(' ')})`,
    ];
  });
  lines.push(['total', Math.round(total.ok / total.seconds).toLocaleString('en-US'), String(total.ok), '', '', '', '', '', '']);
  const width = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const fmt = (cells: string[]) =>
    cells
      .map((c, i) => (i === 0 || i === cells.length - 1 ? c.padEnd(width[i]) : c.padStart(width[i])))
      .join('  ')
      .trimEnd();
  process.stdout.write(`${fmt(head)}\n${fmt(width.map((w) => '-'.repeat(w)))}\n${lines.map(fmt).join('\n')}\n`);
}

// ------------------------------------------------------------------ main
let conns: Conn[] = [];
let interrupted = false;
let inLoad = false;
let endLoad: () => void = () => {};

async function main(): Promise<number> {
  const started = opts.targets.length === 0;
  const addrs = started ? await startNodes(opts.nodes) : opts.targets;
  await waitReady(addrs, started ? opts.nodes : 1);
  conns = makeConns(addrs);

  // One checked round trip before any load: a Set must succeed and the Get must return the value.
  {
    const probe = opts.keys - 1;
    // Always through grpc-js, so that error details are readable.
    const c = new grpc.Client(addrs[0], grpc.credentials.createInsecure());
    try {
      const w = await unary<Buffer>((cb) => c.makeUnaryRequest(SET, id, id, setBody(probe), { deadline: Date.now() + 5000 }, cb));
      if (w.err) throw new Error(`probe Set failed: ${grpc.status[w.err.code]} ${w.err.details}`);
      const r = await unary<Buffer>((cb) => c.makeUnaryRequest(GET, id, id, getBodies[probe], { deadline: Date.now() + 5000 }, cb));
      if (r.err) throw new Error(`probe Get failed: ${grpc.status[r.err.code]} ${r.err.details}`);
      if (valueLength(r.res!) !== opts.valueSize)
        throw new Error(`probe Get returned a value of ${valueLength(r.res!)} bytes, expected ${opts.valueSize}`);
    } finally {
      c.close();
    }
    // And once through the load path.
    const viaLoad = await new Promise<number>((resolve) => callSet(conns[0], probe, (code) => resolve(code)));
    if (viaLoad !== 0) throw new Error(`probe Set over the load connection failed: ${grpc.status[viaLoad] ?? viaLoad}`);
  }

  let preloadInfo: { ms: number; errors: Record<string, number> } | undefined;
  if (opts.preload) {
    const p = await preload(conns);
    preloadInfo = { ms: p.ms, errors: Object.fromEntries(p.errors) };
    const errs = [...p.errors.values()].reduce((a, b) => a + b, 0);
    process.stderr.write(
      `bench: preloaded ${opts.keys} keys in ${(p.ms / 1000).toFixed(1)}s (${Math.round(opts.keys / (p.ms / 1000))} sets/s)${errs ? `, ${errs} errors: ${JSON.stringify(preloadInfo.errors)}` : ''}\n`,
    );
  }

  const workers: Worker[] = [];
  for (let i = 0; i < opts.concurrency; i++) workers.push(new Worker(conns[i % conns.length], opts.readRatio));
  inLoad = true;
  const runs = workers.map((w) => w.run());

  const tStart = performance.now();
  let tMeasure = tStart;
  let cpu0 = cpuSnapshot();
  let lastCompleted = 0;
  let lastT = tStart;
  if (opts.warmupMs > 0) process.stderr.write(`bench: warm-up ${opts.warmupMs / 1000}s\n`);
  else {
    measuring = true;
  }
  const endAt = tStart + opts.warmupMs + opts.durationMs;
  await new Promise<void>((resolve) => {
    endLoad = () => {
      clearInterval(tick);
      resolve();
    };
    const tick = setInterval(
      () => {
        const now = performance.now();
        if (!measuring && now - tStart >= opts.warmupMs) {
          stats = { get: new OpStats(), set: new OpStats() };
          measuring = true;
          tMeasure = now;
          cpu0 = cpuSnapshot();
          process.stderr.write('bench: measuring\n');
        }
        const rate = (completed - lastCompleted) / ((now - lastT) / 1000);
        lastCompleted = completed;
        lastT = now;
        const phase = measuring ? `${((now - tMeasure) / 1000).toFixed(0)}s/${opts.durationMs / 1000}s` : 'warm-up';
        process.stderr.write(
          `bench: [${phase}] ${Math.round(rate).toLocaleString('en-US')} ops/s, ${erroredAll} errors so far, ${inFlight} in flight\n`,
        );
        if (now >= endAt || interrupted) {
          clearInterval(tick);
          resolve();
        }
      },
      Math.min(1000, Math.max(100, opts.durationMs / 2)),
    );
  });
  // Freeze the figures at the end of the measured window; calls still in flight are not counted.
  const tEnd = performance.now();
  const cpu1 = cpuSnapshot();
  measuring = false;
  running = false;
  const seconds = (tEnd - tMeasure) / 1000;
  const final = stats;
  stats = { get: new OpStats(), set: new OpStats() };
  await Promise.race([Promise.all(runs), new Promise((r) => setTimeout(r, opts.timeoutMs + 1000))]);

  const wall = (cpu1.t - cpu0.t) / 1000;
  const genCores = (cpu1.self.user - cpu0.self.user + (cpu1.self.system - cpu0.self.system)) / 1e6 / wall;
  const srvCores = cpu1.servers.map((v, i) => Math.max(0, v - cpu0.servers[i]) / wall);

  stats = final;
  const rows: ReturnType<typeof summary>[] = [];
  if (opts.readRatio > 0) rows.push(summary('get', final.get, seconds));
  if (opts.readRatio < 1) rows.push(summary('set', final.set, seconds));
  const totalOk = final.get.ok + final.set.ok;

  const where = started ? `${opts.nodes} node(s) started here (${addrs.join(', ')})` : `target ${addrs.join(', ')}`;
  const distText =
    opts.dist === 'zipf'
      ? `zipf s=${opts.zipfS} (top 1% of keys get ${(100 * zipfTopShare(opts.keys, opts.zipfS, Math.max(1, Math.floor(opts.keys / 100)))).toFixed(0)}% of calls)`
      : 'uniform';
  process.stdout.write(
    `\n${where}; ${seconds.toFixed(1)}s measured after ${opts.warmupMs / 1000}s warm-up; ` +
      `concurrency ${opts.concurrency} over ${opts.connections} ${opts.client === 'h2' ? 'raw HTTP/2' : 'grpc-js'} connection(s); read ratio ${opts.readRatio}; ` +
      `${opts.keys} keys (${distText}); ${opts.valueSize} B values; consistency ${opts.consistency}${opts.preload ? '; preloaded' : ''}${opts.workload ? `; workload ${opts.workload}` : ''}\n\n`,
  );
  printTable(rows, { ok: totalOk, seconds });
  if (opts.readRatio > 0) {
    const g = final.get;
    process.stdout.write(
      `\nGet hit ratio: ${g.ok ? ((100 * g.hits) / g.ok).toFixed(1) : '-'}% (${g.hits} hits, ${g.misses} misses = NOT_FOUND)` +
        `${g.wrongValue ? `; ${g.wrongValue} hits with a value length other than ${opts.valueSize}` : ''}\n`,
    );
  }
  process.stdout.write(
    `CPU (cores): load generator ${genCores.toFixed(2)}` +
      `${srvCores.length ? `, node(s) ${srvCores.map((c) => c.toFixed(2)).join(' + ')}` : ''}\n`,
  );

  if (opts.json) {
    const out = {
      date: new Date().toISOString(),
      options: { ...opts, targets: addrs, started },
      seconds,
      results: rows,
      total: { ok: totalOk, ops_per_s: totalOk / seconds },
      cpu_cores: { load_generator: genCores, nodes: srvCores },
      preload: preloadInfo,
      interrupted,
    };
    writeFileSync(opts.json, `${JSON.stringify(out, null, 2)}\n`);
    process.stderr.write(`bench: wrote ${opts.json}\n`);
  }
  return final.get.errorCount() + final.set.errorCount() > 0 ? 1 : 0;
}

let cleaning: Promise<void> | undefined;
function cleanup(): Promise<void> {
  if (!cleaning) {
    cleaning = (async () => {
      running = false;
      for (const c of conns)
        if (c.kind === 'h2') c.ch.close();
        else c.client.close();
      await stopNodes();
    })();
  }
  return cleaning;
}

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    if (interrupted) {
      killAll('SIGKILL');
      process.exit(130);
    }
    interrupted = true;
    process.stderr.write(`bench: ${sig}: stopping (started nodes are stopped by PID)\n`);
    if (inLoad) {
      // End the measured window now and print what was measured; this timer is a backstop.
      endLoad();
      setTimeout(() => {
        cleanup().then(() => process.exit(130));
      }, opts.timeoutMs + 5000).unref();
    } else {
      cleanup().then(() => process.exit(130));
    }
  });
}

main().then(
  async (code) => {
    await cleanup();
    process.exit(interrupted ? 130 : code);
  },
  async (err) => {
    process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
    await cleanup();
    process.exit(1);
  },
);
