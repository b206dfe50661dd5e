/**
 * Resident memory of a whole node holding N entries, filled over gRPC like a client would.
 *
 *   npm run build && node --import tsx scripts/bench-node-memory.ts [--entries 1000000] [--policy lru] [--idle 45] [--heap]
 *   NODE_FLAGS="--optimize-for-size" ...   (V8/node flags for the node under test)
 *
 * Starts `node dist/main.js` on a free loopback port (MAX_MEMORY=0: no eviction), writes N
 * entries with 12-byte keys and 100-byte values through CacheService/Set (64 calls in
 * flight over 4 connections), waits for the node to settle, and prints its VmRSS from
 * /proc before and after. The node is stopped by its PID at the end (also on error).
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { cacheDefinition } from '../src/server/cache-service.ts';

const arg = (name: string, def: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : def;
};
const N = Number(arg('entries', '1000000'));
const policy = arg('policy', 'lru');

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
const addr = `127.0.0.1:${await freePort()}`;
// --heap: also serve metrics and print the node's own view of its heap (prom-client's
// nodejs_* gauges). Off by default: with metrics on, V8's memory reducer runs later (200k
// entries: between 45 and 60 s idle instead of 30-45 s; 1M: not by 45 s), so use --idle 60+.
const heapView = process.argv.includes('--heap');
const metricsAddr = heapView ? `127.0.0.1:${await freePort()}` : '';
const main = fileURLToPath(new URL('../dist/main.js', import.meta.url));
const child = spawn(process.execPath, [...(process.env.NODE_FLAGS ?? '').split(' ').filter(Boolean), main], {
  env: {
    PATH: process.env.PATH ?? '',
    ADDR: addr,
    METRICS_ADDR: metricsAddr,
    MAX_MEMORY: '0',
    EVICTION_POLICY: policy,
    LOG_LEVEL: 'warn',
    // allocator settings (glibc MALLOC_* tunables, LD_PRELOAD of another malloc), passed through
    ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('MALLOC_') || k === 'LD_PRELOAD')),
  },
  stdio: ['ignore', 'inherit', 'inherit'],
});
const kill = () => {
  if (child.exitCode === null)
    try {
      process.kill(child.pid!, 'SIGKILL');
    } catch {
      /* gone */
    }
};
process.on('exit', kill);
process.on('SIGINT', () => process.exit(130));

const rss = () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))![1]) / 1024;

const setMethod = cacheDefinition().Set;
// separate connections: a distinct channel option keeps grpc-js from sharing one subchannel
const clients = Array.from({ length: 4 }, (_, i) => new grpc.Client(addr, grpc.credentials.createInsecure(), { 'grpc.channel_id': i }));
const set = (c: grpc.Client, key: string, value: string) =>
  new Promise<void>((resolve, reject) =>
    c.makeUnaryRequest(
      setMethod.path,
      setMethod.requestSerialize,
      setMethod.responseDeserialize,
      { key, value, binary: false, data: undefined, ttlMs: 0, consistency: 0, leaseToken: '' },
      (err) => (err ? reject(err) : resolve()),
    ),
  );

// wait until it answers
for (let i = 0; ; i++) {
  try {
    await set(clients[0], 'warmup', 'x');
    break;
  } catch (e) {
    if (i > 100) throw e;
    await sleep(100);
  }
}
await sleep(1000);
const before = rss();
const value = 'v'.repeat(100);
let next = 0;
const t0 = Date.now();
await Promise.all(
  Array.from({ length: 64 }, async (_, w) => {
    const c = clients[w % clients.length];
    for (let i = next++; i < N; i = next++) {
      const key = `k${i.toString().padStart(11, '0')}`; // 12 bytes
      await set(c, key, value.slice(0, 92) + i.toString(36).padStart(8, '0')); // 100 bytes, distinct
    }
  }),
);
const secs = (Date.now() - t0) / 1000;
console.log(`entries=${N} policy=${policy} fill=${secs.toFixed(1)}s (${Math.round(N / secs)} sets/s)`);
// RSS right after the fill includes garbage V8 has not collected yet; its memory reducer
// compacts the heap once the node is idle, so sample for a while and report each point.
// --idle S: how long to keep sampling (default 45 s).
const idleFor = Number(arg('idle', '45'));
let after = rss();
const points = [0, 5, 10, 20, 30, 45, 60, 90, 120, 180, 240, 300].filter((s) => s <= idleFor);
for (let k = 0; k < points.length; k++) {
  const s = points[k];
  await sleep(k === 0 ? 0 : (s - points[k - 1]) * 1000);
  after = rss();
  console.log(`  idle ${String(s).padStart(2)} s: node RSS ${after.toFixed(0)} MB`);
}
// Where the resident pages are: the malloc heap ([heap]: ArrayBuffers, native buffers),
// anonymous mappings (V8's heap pages, large mallocs) and file mappings (code, libraries).
const groups = new Map<string, number>();
let name = '';
for (const line of readFileSync(`/proc/${child.pid}/smaps`, 'utf8').split('\n')) {
  const m = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
  if (m) {
    name = m[1] === '' ? 'anonymous' : m[1].startsWith('/') ? 'files' : m[1];
    continue;
  }
  const r = /^Rss:\s+(\d+) kB/.exec(line);
  if (r) groups.set(name, (groups.get(name) ?? 0) + Number(r[1]) / 1024);
}
console.log(
  `  resident by mapping: ${[...groups]
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${v.toFixed(0)} MB`)
    .join(', ')}`,
);
if (heapView) {
  const metrics = await (await fetch(`http://${metricsAddr}/metrics`)).text();
  const mb = (re: RegExp) => {
    const m = re.exec(metrics);
    return m ? `${(Number(m[1]) / 1048576).toFixed(0)} MB` : '?';
  };
  console.log(
    `  V8 heap: used ${mb(/^nodejs_heap_size_used_bytes\{[^}]*\} (\S+)/m)} of ${mb(/^nodejs_heap_size_total_bytes\{[^}]*\} (\S+)/m)}` +
      ` (old space ${mb(/^nodejs_heap_space_size_used_bytes\{space="old"[^}]*\} (\S+)/m)}),` +
      ` external ${mb(/^nodejs_external_memory_bytes\{[^}]*\} (\S+)/m)}`,
  );
}
console.log(
  `node RSS before=${before.toFixed(0)} MB after=${after.toFixed(0)} MB growth=${(after - before).toFixed(0)} MB (${Math.round(((after - before) * 1024 * 1024) / N)} B/entry)`,
);
for (const c of clients) c.close();
kill();
process.exit(0);
