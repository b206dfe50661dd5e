/**
 * Clock offsets and the fence, with real processes: one node of a 3-node cluster runs with its
 * wall clock 90 s ahead (then behind) through libfaketime (Debian's faketime package, installed
 * by .ci/run). That node answers health NOT_SERVING, refuses to coordinate writes (UNAVAILABLE
 * saying by how much its clock is off), still serves as a replica, and its peers name it in a
 * warning; once its clock is back within MAX_CLOCK_OFFSET it serves again. A skew within the
 * bound (+0.2 s) changes nothing but the offsets shown. Offsets are in Members, Stats and the
 * metrics.
 *
 * The library is preloaded into the node process itself (what the `faketime` command does,
 * but that command forks: the PID a test holds would be the wrapper's, and stopping it would
 * leave the node running). DONT_FAKE_MONOTONIC=1 leaves timers alone. With
 * FAKETIME_TIMESTAMP_FILE the offset is read from a file (again every second), so a test can
 * set the clock right while the node runs.
 */

import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { healthApi } from '../../src/protos/protos.ts';
import { addresses, converged, nodeEnv, stopAll } from '../helpers/cluster.ts';
import { cacheClient, clusterClient, status, type TestClient } from '../helpers/grpc.ts';
import { eventually, freePort, type NodeProc, spawnNode } from '../helpers/procs.ts';

/** libfaketime's preload library, wherever the distribution put it. */
function findLibfaketime(): string | undefined {
  const candidates: string[] = [];
  for (const base of ['/usr/lib', '/usr/local/lib', '/usr/lib64']) {
    candidates.push(`${base}/faketime/libfaketime.so.1`);
    try {
      for (const d of readdirSync(base)) candidates.push(`${base}/${d}/faketime/libfaketime.so.1`);
    } catch {
      /* no such directory */
    }
  }
  return candidates.find((p) => existsSync(p));
}

const LIBFAKETIME = findLibfaketime();
const SKIP = LIBFAKETIME === undefined ? 'libfaketime is not installed (Debian package faketime; .ci/run installs it)' : false;

const ONE = 1,
  QUORUM = 2,
  ALL = 3;

const cleanup: NodeProc[] = [];
const clients: { close(): void }[] = [];
const dir = mkdtempSync(join(tmpdir(), 'tscache-clocks-'));
after(async () => {
  for (const c of clients) c.close();
  await stopAll(cleanup);
  rmSync(dir, { recursive: true, force: true });
});

const cache = (addr: string): TestClient => {
  const c = cacheClient(addr);
  clients.push(c);
  return c;
};
const cluster = (addr: string): TestClient => {
  const c = clusterClient(addr);
  clients.push(c);
  return c;
};

function health(addr: string): Promise<string> {
  const h = new (healthApi().Health)(addr, grpc.credentials.createInsecure());
  clients.push(h);
  return new Promise((resolve, reject) =>
    h.Check({ service: '' }, { deadline: Date.now() + 3_000 }, (err, res) => {
      if (err || !res) reject(err ?? new Error('empty answer'));
      else resolve(['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'][res.status] ?? String(res.status));
    }),
  );
}

/** The environment that runs a node's clock off: a fixed offset ("+90s"), or one read from `file`. */
function skewed(offset: { fixed: string } | { file: string }): Record<string, string> {
  const env: Record<string, string> = { LD_PRELOAD: LIBFAKETIME!, DONT_FAKE_MONOTONIC: '1' };
  if ('fixed' in offset) env.FAKETIME = offset.fixed;
  else Object.assign(env, { FAKETIME_TIMESTAMP_FILE: offset.file, FAKETIME_CACHE_DURATION: '1' });
  return env;
}

/** Three nodes; the last one gets `skew` in its environment, the first serves metrics. */
async function startSkewed(skew: Record<string, string>): Promise<{ addrs: string[]; nodes: NodeProc[]; metricsPort: number }> {
  const addrs = await addresses(3);
  const metricsPort = await freePort();
  const nodes = addrs.map((a, i) =>
    spawnNode(nodeEnv(a, addrs, i === 0 ? { METRICS_ADDR: `127.0.0.1:${metricsPort}` } : i === 2 ? skew : {})),
  );
  cleanup.push(...nodes);
  await Promise.all(nodes.map((n) => n.waitFor(/listening on/)));
  await converged(addrs, addrs);
  return { addrs, nodes, metricsPort };
}

interface MembersAnswer {
  members: { node_id: string; clock_offset_ms: string }[];
  self: string;
}

/** Members as `addr` answers it: node id -> the clock offset it shows. */
async function offsets(addr: string): Promise<Record<string, number>> {
  const r = await cluster(addr).call<MembersAnswer>('Members', {});
  assert.equal(r.err, undefined);
  return Object.fromEntries(r.res!.members.map((m) => [m.node_id, Number(m.clock_offset_ms)]));
}

async function stats(addr: string): Promise<{ clock_fenced: boolean; max_clock_offset_ms: string; items: string }> {
  const r = await cluster(addr).call<{ clock_fenced: boolean; max_clock_offset_ms: string; items: string }>('Stats', {});
  assert.equal(r.err, undefined);
  return r.res!;
}

/** The pino messages a node logged at `level` (40 warn, 50 error) that match `re`. */
function logged(n: NodeProc, level: number, re: RegExp): string[] {
  const out: string[] = [];
  for (const line of n.lines) {
    try {
      const j = JSON.parse(line) as { level?: number; msg?: string };
      if (j.level === level && typeof j.msg === 'string' && re.test(j.msg)) out.push(j.msg);
    } catch {
      /* not a log line */
    }
  }
  return out;
}

const quote = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Every write this node would coordinate is refused UNAVAILABLE with `re` (batches key by key); Flush too. */
async function writesRefused(addr: string, re: RegExp): Promise<void> {
  const c = cache(addr);
  for (const [method, req] of [
    ['Set', { key: 'refused', value: 'x' }],
    ['Delete', { key: 'refused' }],
  ] as const) {
    const r = await c.call(method, req);
    assert.equal(r.err?.code, status.UNAVAILABLE, `${method}: ${r.err?.details}`);
    assert.match(r.err!.details, re, method);
  }
  for (const [method, req] of [
    [
      'MSet',
      {
        entries: [
          { key: 'r1', value: 'x' },
          { key: 'r2', value: 'y' },
        ],
      },
    ],
    ['MDelete', { keys: ['r1', 'r2'] }],
  ] as const) {
    const r = await c.call<{ results: { error: { code: number; message: string } | null }[] }>(method, req);
    assert.equal(r.err, undefined, method);
    assert.equal(r.res!.results.length, 2);
    for (const k of r.res!.results) {
      assert.equal(k.error?.code, status.UNAVAILABLE, method);
      assert.match(k.error!.message, re, method);
    }
  }
  const f = await cluster(addr).call('Flush', { prefix: 'refused' });
  assert.equal(f.err?.code, status.UNAVAILABLE, 'Flush');
  assert.match(f.err!.details, re, 'Flush');
}

/** The node still serves as a replica: an ALL write through `via` needs its acknowledgement, and it holds the value. */
async function stillAReplica(via: string, skewedAddr: string, key: string): Promise<void> {
  const w = await cache(via).call('Set', { key, value: 'v', consistency: ALL });
  assert.equal(w.err, undefined, w.err?.details);
  assert.equal((await cache(via).call('Set', { key: `${key}:q`, value: 'q', consistency: QUORUM })).err, undefined);
  const g = await cache(skewedAddr).call<{ value: string }>('Get', { key, consistency: ONE });
  assert.equal(g.err, undefined, g.err?.details);
  assert.equal(g.res?.value, 'v');
  await eventually(
    async () => (await cache(skewedAddr).call<{ value: string }>('Get', { key: `${key}:q`, consistency: ONE })).res?.value === 'q',
  );
  assert.ok(Number((await stats(skewedAddr)).items) >= 2);
}

/** Value of a Prometheus series whose labels include `labels`. */
async function metric(port: number, name: string, labels: Record<string, string> = {}): Promise<number> {
  const body = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  for (const line of body.split('\n')) {
    const m = /^([a-z_]+)\{([^}]*)\} (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    if (Object.entries(labels).every(([k, v]) => m[2]!.includes(`${k}="${v}"`))) return Number(m[3]);
  }
  return Number.NaN;
}

test('a node whose clock is 90 s ahead is fenced (NOT_SERVING, no writes, still a replica, named by its peers) until it is set right', {
  skip: SKIP,
  timeout: 90_000,
}, async () => {
  const file = join(dir, 'ahead');
  writeFileSync(file, '+90s\n');
  const { addrs, nodes, metricsPort } = await startSkewed(skewed({ file }));
  const [g0, g1, s] = addrs as [string, string, string];
  const [n0, n1, ns] = nodes as [NodeProc, NodeProc, NodeProc];

  await eventually(async () => (await health(s)) === 'NOT_SERVING' && (await health(g0)) === 'SERVING' && (await health(g1)) === 'SERVING');
  await ns.waitFor(/this node's clock is off by \+(89|90|91)\.\ds from the majority of its peers/);
  assert.equal(logged(ns, 50, /this node's clock is off by \+(89|90|91)\.\ds/).length, 1, 'said once');
  for (const n of [n0, n1]) {
    await n.waitFor(new RegExp(`clock of member ${quote(s)} is off by \\+(89|90|91)\\.\\ds from ours`));
    assert.equal(logged(n, 40, new RegExp(`clock of member ${quote(s)} is off`)).length, 1, 'warned once, not every heartbeat');
    assert.deepEqual(
      logged(n, 40, /clock of member 127\.0\.0\.1:\d+ is off/).filter((m) => !m.includes(s)),
      [],
      'the good nodes do not blame each other',
    );
    assert.deepEqual(logged(n, 50, /clock/), []);
  }

  await writesRefused(
    s,
    /this node's clock is off by \+(89|90|91)\.\ds from the majority of its peers \(more than MAX_CLOCK_OFFSET, 500ms\)/,
  );
  await stillAReplica(g0, s, 'ahead');

  // the offsets as each side sees them: Members, Stats, metrics
  const fromGood = await offsets(g0);
  assert.ok(Math.abs(fromGood[s]! - 90_000) < 1_000, `S as g0 sees it: ${fromGood[s]}`);
  assert.ok(Math.abs(fromGood[g1]!) < 100, `g1 as g0 sees it: ${fromGood[g1]}`);
  assert.equal(fromGood[g0], 0, 'itself');
  const fromSkewed = await offsets(s);
  assert.ok(Math.abs(fromSkewed[g0]! + 90_000) < 1_000, `g0 as S sees it: ${fromSkewed[g0]}`);
  const ss = await stats(s);
  assert.equal(ss.clock_fenced, true);
  assert.ok(Math.abs(Number(ss.max_clock_offset_ms) - 90_000) < 1_000, ss.max_clock_offset_ms);
  const gs = await stats(g0);
  assert.equal(gs.clock_fenced, false);
  assert.ok(Math.abs(Number(gs.max_clock_offset_ms) - 90_000) < 1_000, gs.max_clock_offset_ms);
  const seconds = await metric(metricsPort, 'cache_clock_offset_seconds', { peer: s });
  assert.ok(Math.abs(seconds - 90) < 1, `cache_clock_offset_seconds{peer="${s}"} ${seconds}`);
  assert.ok(Math.abs(await metric(metricsPort, 'cache_clock_offset_seconds', { peer: g1 })) < 0.1);
  assert.equal(await metric(metricsPort, 'cache_clock_fenced'), 0);

  // set right (within the bound): serving and coordinating writes again, and its peers say so
  writeFileSync(file, '+0.2s\n');
  await eventually(async () => (await health(s)) === 'SERVING', 20_000);
  await ns.waitFor(/this node's clock is back within MAX_CLOCK_OFFSET 500ms of its peers/);
  const w = await cache(s).call('Set', { key: 'after', value: 'ok', consistency: QUORUM });
  assert.equal(w.err, undefined, w.err?.details);
  assert.equal((await stats(s)).clock_fenced, false);
  for (const n of [n0, n1]) await n.waitFor(new RegExp(`clock of member ${quote(s)} is back within MAX_CLOCK_OFFSET 500ms of ours`));
  await stopAll(nodes);
});

test('a node whose clock is 90 s behind is fenced the same way', { skip: SKIP, timeout: 60_000 }, async () => {
  const { addrs, nodes } = await startSkewed(skewed({ fixed: '-90s' }));
  const [g0, g1, s] = addrs as [string, string, string];
  const [n0, n1, ns] = nodes as [NodeProc, NodeProc, NodeProc];
  await eventually(async () => (await health(s)) === 'NOT_SERVING' && (await health(g0)) === 'SERVING' && (await health(g1)) === 'SERVING');
  await ns.waitFor(/this node's clock is off by -(89|90|91)\.\ds from the majority of its peers/);
  for (const n of [n0, n1]) await n.waitFor(new RegExp(`clock of member ${quote(s)} is off by -(89|90|91)\\.\\ds from ours`));
  await writesRefused(s, /this node's clock is off by -(89|90|91)\.\ds/);
  await stillAReplica(g1, s, 'behind');
  const fromGood = await offsets(g1);
  assert.ok(Math.abs(fromGood[s]! + 90_000) < 1_000, `S as g1 sees it: ${fromGood[s]}`);
  assert.equal((await stats(s)).clock_fenced, true);
  await stopAll(nodes);
});

test('a skew within MAX_CLOCK_OFFSET (+0.2 s) changes nothing visible but the offsets; expiry comes that much early there', {
  skip: SKIP,
  timeout: 60_000,
}, async () => {
  const { addrs, nodes } = await startSkewed(skewed({ fixed: '+0.2s' }));
  const [g0, g1, s] = addrs as [string, string, string];
  await eventually(async () => (await Promise.all(addrs.map(health))).every((h) => h === 'SERVING'));
  const w = await cache(s).call('Set', { key: 'near', value: 'v', consistency: QUORUM });
  assert.equal(w.err, undefined, w.err?.details);
  for (const a of addrs) assert.equal((await stats(a)).clock_fenced, false);
  let seen = 0;
  await eventually(async () => (seen = (await offsets(g0))[s]!) !== 0);
  assert.ok(seen > 100 && seen < 300, `S as g0 sees it: ${seen}`);

  // a TTL's expiry is an absolute time on the coordinator's clock: the node 0.2 s ahead sees it that much closer
  const ttlMs = 60_000;
  assert.equal((await cache(g0).call('Set', { key: 'ttl', value: 'v', ttl_ms: ttlMs, consistency: ALL })).err, undefined);
  const onGood = await cache(g1).call<{ ttl_remaining_ms: string }>('Get', { key: 'ttl', consistency: ONE });
  const onSkewed = await cache(s).call<{ ttl_remaining_ms: string }>('Get', { key: 'ttl', consistency: ONE });
  const early = Number(onGood.res!.ttl_remaining_ms) - Number(onSkewed.res!.ttl_remaining_ms);
  assert.ok(early > 100 && early < 500, `expires ${early} ms earlier on the node 0.2 s ahead`);

  await new Promise((r) => setImmediate(r));
  for (const n of nodes) {
    assert.deepEqual(logged(n, 40, /clock/), [], 'no warning');
    assert.deepEqual(logged(n, 50, /clock/), [], 'no error');
  }
  await stopAll(nodes);
});
