/**
 * The client library (src/client) against real 3-node loopback clusters, and its retry policy
 * against a scripted in-process server.
 */

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { type AttemptInfo, CacheClient, CacheClientError } from '../../src/index.ts';
import { HashRing } from '../../src/ring/ring.ts';
import { clusterClient } from '../helpers/grpc.ts';
import { eventually, freePort, type NodeProc, ROOT, startNode } from '../helpers/procs.ts';

interface WireMembers {
  members: { node_id: string; address: string; state: number }[];
  replication_factor: number;
  vnodes: number;
  ring_version: string;
}

/** Starts n nodes that know each other and waits until every node sees n alive members. */
async function startCluster(n: number, env: Record<string, string> = {}): Promise<NodeProc[]> {
  const addrs: string[] = [];
  while (addrs.length < n) {
    const a = `127.0.0.1:${await freePort()}`;
    if (!addrs.includes(a)) addrs.push(a);
  }
  const nodes = await Promise.all(addrs.map((a) => startNode({ ADDR: a, PEERS: addrs.join(','), ...env })));
  for (const node of nodes) {
    const c = clusterClient(node.addr);
    try {
      await eventually(async () => {
        const r = await c.call<WireMembers>('Members', {});
        return r.res?.members.filter((m) => m.state === 1).length === n;
      }, 20_000);
    } finally {
      c.close();
    }
  }
  return nodes;
}

async function rawMembers(addr: string): Promise<WireMembers> {
  const c = clusterClient(addr);
  try {
    const r = await c.call<WireMembers>('Members', {});
    if (r.err) throw r.err;
    return r.res!;
  } finally {
    c.close();
  }
}

/** The key's replica addresses computed independently of the client, from a raw Members answer. */
function expectedReplicas(m: WireMembers, key: string): string[] {
  const ring = new HashRing(m.vnodes);
  for (const x of m.members) if (x.state !== 4) ring.add(x.node_id);
  const addr = new Map(m.members.map((x) => [x.node_id, x.address]));
  return ring.preferenceList(key, m.replication_factor).map((id) => addr.get(id)!);
}

const isCode = (code: string) => (e: unknown) => e instanceof CacheClientError && e.code === code;

describe('a 3-node cluster with REPLICATION_FACTOR=2', { timeout: 120_000 }, () => {
  let nodes: NodeProc[];
  let cache: CacheClient;
  const attempts: AttemptInfo[] = [];

  before(async () => {
    // RF 2 on 3 nodes, so that "sent to a replica" is not trivially true.
    nodes = await startCluster(3, { REPLICATION_FACTOR: '2' });
    cache = new CacheClient({ seeds: [nodes[0]!.addr, nodes[1]!.addr], timeoutMs: 2000, retries: 3, onAttempt: (a) => attempts.push(a) });
  });
  after(async () => {
    cache?.close();
    await Promise.all((nodes ?? []).map((n) => n.stop('SIGKILL')));
  });

  test('set and get a string: version and value', async () => {
    const s = await cache.set('user:1', 'alice', { ttlMs: 60_000, consistency: 'quorum' });
    assert.equal(typeof s.version, 'bigint');
    assert.ok(s.version > 0n);
    const g = await cache.get('user:1');
    assert.deepEqual(g?.value, 'alice');
    assert.equal(g!.version, s.version);
    assert.ok(g!.ttlRemainingMs > 0 && g!.ttlRemainingMs <= 60_000, String(g!.ttlRemainingMs));
    assert.equal(await cache.getString('user:1'), 'alice');
    assert.deepEqual(await cache.getBuffer('user:1'), Buffer.from('alice'));
    const s2 = await cache.set('user:1', 'bob');
    assert.ok(s2.version > s.version);
    const g2 = await cache.get('user:1');
    assert.equal(g2!.value, 'bob');
    assert.equal(g2!.ttlRemainingMs, 0, 'no TTL given and no node default: never expires');
  });

  test('binary values round-trip as Buffers; text stays text', async () => {
    const bytes = Buffer.from([0, 1, 2, 0x80, 0xc3, 0x28, 0xfe, 0xff]);
    await cache.set('img', bytes);
    const g = await cache.get('img');
    assert.ok(Buffer.isBuffer(g!.value));
    assert.deepEqual(g!.value, bytes);
    assert.deepEqual(await cache.getBuffer('img'), bytes);
    // A Uint8Array view into a larger buffer sends only its own bytes.
    const big = new Uint8Array([9, 9, 1, 2, 3, 9]);
    await cache.set('u8', big.subarray(2, 5));
    assert.deepEqual(await cache.getBuffer('u8'), Buffer.from([1, 2, 3]));
    await cache.set('uni', 'значение ✓ 😀');
    assert.equal((await cache.get('uni'))!.value, 'значение ✓ 😀');
    assert.equal(await cache.getString('uni'), 'значение ✓ 😀');
  });

  test('empty values are values', async () => {
    await cache.set('empty-s', '');
    assert.deepEqual(await cache.get('empty-s').then((r) => r?.value), '');
    await cache.set('empty-b', Buffer.alloc(0));
    const b = await cache.get('empty-b');
    assert.ok(b !== undefined);
    assert.equal(b.value.length, 0);
  });

  test('NOT_FOUND is undefined, not an error', async () => {
    assert.equal(await cache.get('never-set'), undefined);
    assert.equal(await cache.getString('never-set'), undefined);
    assert.equal(await cache.getBuffer('never-set'), undefined);
  });

  test('delete reports whether a live value was deleted', async () => {
    await cache.set('gone', 'x');
    assert.equal(await cache.delete('gone', { consistency: 'all' }), true);
    assert.equal(await cache.get('gone'), undefined);
    assert.equal(await cache.delete('gone'), false);
    assert.equal(await cache.delete('never-there'), false);
  });

  test('TTL: the value expires', async () => {
    await cache.set('short', 'v', { ttlMs: 300 });
    const g = await cache.get('short');
    assert.equal(g!.value, 'v');
    assert.ok(g!.ttlRemainingMs > 0 && g!.ttlRemainingMs <= 300);
    await eventually(async () => (await cache.get('short')) === undefined, 5_000, 50);
  });

  test('consistency levels: all writes every replica; one/quorum/all reads', async () => {
    await cache.set('c:all', 'v', { consistency: 'all' });
    // Each replica answers alone (a direct client, consistency one, on the replica itself).
    const m = await rawMembers(nodes[0]!.addr);
    for (const addr of expectedReplicas(m, 'c:all')) {
      const direct = new CacheClient({ seeds: [addr], routing: false });
      try {
        assert.equal(await direct.getString('c:all', { consistency: 'one' }), 'v', addr);
      } finally {
        direct.close();
      }
    }
    for (const consistency of ['one', 'quorum', 'all'] as const) {
      await cache.set(`c:${consistency}`, consistency, { consistency });
      assert.equal(await cache.getString(`c:${consistency}`, { consistency }), consistency);
      assert.equal(await cache.delete(`c:${consistency}`, { consistency }), true);
    }
  });

  test('server errors: INVALID_ARGUMENT with details, not retried', async () => {
    const before = attempts.length;
    await assert.rejects(cache.set('', 'x'), (e: unknown) => {
      assert.ok(e instanceof CacheClientError);
      assert.equal(e.code, 'INVALID_ARGUMENT');
      assert.equal(e.grpcCode, grpc.status.INVALID_ARGUMENT);
      assert.match(e.details, /key must not be empty/);
      assert.equal(e.attempts, 1);
      return true;
    });
    await assert.rejects(
      cache.get('k'.repeat(2000)),
      (e: CacheClientError) => e.code === 'INVALID_ARGUMENT' && /MAX_KEY_SIZE/.test(e.details),
    );
    assert.equal(attempts.length - before, 2);
  });

  test('routing: each call goes to the first replica of its key', async () => {
    await cache.refresh();
    const m = await rawMembers(nodes[2]!.addr);
    assert.equal(cache.ringVersion, m.ring_version);
    const firsts = new Set<string>();
    for (let i = 0; i < 60; i++) {
      const key = `route:${i}`;
      const want = expectedReplicas(m, key);
      assert.equal(want.length, 2);
      const from = attempts.length;
      await cache.set(key, 'v');
      await cache.get(key);
      await cache.delete(key);
      const mine = attempts.slice(from);
      assert.equal(mine.length, 3);
      for (const a of mine) {
        assert.equal(a.address, want[0], `${a.method} ${key}`);
        assert.equal(a.replica, true);
        assert.equal(a.attempt, 1);
      }
      assert.deepEqual(
        cache.route(key).slice(0, 2),
        want.map((address) => ({ address, replica: true })),
      );
      firsts.add(want[0]!);
    }
    // The keys spread over all three nodes (so the seeds alone would not have done this).
    assert.equal(firsts.size, 3);
  });

  test('routing: the client ring is the ring of the nodes (keys land where the client predicts)', async () => {
    // With RF 2 of 3, a key has one node that is not a replica. Write keys whose replicas the
    // client places on nodes X and Y: Stats must show them on X and Y and not on Z.
    await cache.refresh();
    const [x, y, z] = nodes.map((n) => n.addr) as [string, string, string];
    const keys: string[] = [];
    for (let i = 0; keys.length < 20; i++) {
      const reps = cache
        .route(`land:${i}`)
        .filter((c) => c.replica)
        .map((c) => c.address)
        .sort();
      if (reps.length === 2 && reps.includes(x) && reps.includes(y)) keys.push(`land:${i}`);
    }
    const before = await Promise.all([x, y, z].map((a) => cache.stats(a)));
    for (const k of keys) await cache.set(k, 'v', { consistency: 'all' });
    const afterStats = await Promise.all([x, y, z].map((a) => cache.stats(a)));
    assert.deepEqual(
      afterStats.map((s, i) => s.items - before[i]!.items),
      [20, 20, 0],
    );
    assert.deepEqual(
      afterStats.map((s) => s.nodeId),
      [x, y, z],
    ); // NODE_ID defaults to ADDR
  });

  test('members and stats', async () => {
    const m = await cache.members();
    assert.equal(m.members.length, 3);
    assert.ok(m.members.every((x) => x.state === 'alive' && x.stateCode === 1 && typeof x.incarnation === 'bigint'));
    assert.deepEqual(m.members.map((x) => x.address).sort(), nodes.map((n) => n.addr).sort());
    assert.equal(m.replicationFactor, 2);
    assert.equal(m.vnodes, 128);
    assert.match(m.ringVersion, /^[0-9a-f]{40}$/);
    assert.ok(nodes.some((n) => n.addr === m.self));
    const byAddr = await cache.members({ address: nodes[2]!.addr });
    assert.equal(byAddr.self, nodes[2]!.addr);
    const s = await cache.stats(nodes[1]!.addr);
    assert.equal(s.nodeId, nodes[1]!.addr);
    assert.equal(s.ringVersion, m.ringVersion);
    for (const k of [
      'items',
      'hits',
      'misses',
      'bytes',
      'uptimeMs',
      'hintsPending',
      'hintsDropped',
      'rebalanceKeysSent',
      'quorumFailures',
    ] as const)
      assert.equal(typeof s[k], 'number', k);
    assert.match(s.merkleRoot, /^[0-9a-f]+$/);
    assert.ok(s.uptimeMs > 0);
    const any = await cache.stats();
    assert.ok(nodes.some((n) => n.addr === any.nodeId));
  });

  test('the process is not kept alive by the client (unref timer, idle channels)', async () => {
    // A child that creates a client, makes a call and does not close it must still exit.
    const { spawnSync } = await import('node:child_process');
    const code = `import { CacheClient } from './src/index.ts';
      const c = new CacheClient({ seeds: ['${nodes[0]!.addr}'], refreshIntervalMs: 100 });
      await c.set('k', 'v'); console.log(await c.getString('k'));`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
      cwd: new URL('../../', import.meta.url),
      timeout: 15_000,
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'v');
  });
});

describe('failover in a 3-node cluster (REPLICATION_FACTOR=3)', { timeout: 120_000 }, () => {
  let nodes: NodeProc[];
  after(async () => {
    await Promise.all((nodes ?? []).map((n) => n.stop('SIGKILL')));
  });

  test('kill -9 of a seed node: calls keep succeeding through another seed or replica', async () => {
    nodes = await startCluster(3);
    const [a, b, c] = nodes as [NodeProc, NodeProc, NodeProc];
    const attempts: AttemptInfo[] = [];
    const cache = new CacheClient({
      seeds: [a.addr, b.addr],
      timeoutMs: 2000,
      retries: 3,
      refreshIntervalMs: 300,
      onAttempt: (x) => attempts.push(x),
    });
    try {
      const keys = Array.from({ length: 30 }, (_, i) => `fo:${i}`);
      for (const k of keys) await cache.set(k, `v-${k}`);
      // Some keys have the victim as their first replica: those are the interesting ones.
      assert.ok(keys.some((k) => cache.route(k)[0]!.address === a.addr));

      const mark = attempts.length;
      await a.stop('SIGKILL');

      for (const k of keys) assert.equal(await cache.getString(k), `v-${k}`, k);
      for (const k of keys) await cache.set(k, `w-${k}`);
      for (const k of keys) assert.equal(await cache.getString(k), `w-${k}`, k);
      // The dead node was tried (and failed over from) a few times at most, not for every key
      // whose first replica it is: after one failure (the client's own, or a refresh's) it is
      // ranked last. Whether it is tried at all depends on how fast the channel notices.
      const post = attempts.slice(mark);
      const onDead = post.filter((x) => x.address === a.addr);
      assert.ok(onDead.length <= 3, `dead node tried ${onDead.length} times`);
      assert.equal(post.filter((x) => x.attempt > 2).length, 0);
      assert.equal(post.filter((x) => x.attempt === 2).length, onDead.length, 'each failed attempt was retried once, elsewhere');

      // A new client whose first seed is the dead node works too.
      const fresh = new CacheClient({ seeds: [a.addr, b.addr], retries: 3 });
      try {
        assert.equal(await fresh.getString(keys[0]!), `w-${keys[0]}`);
        assert.equal((await fresh.set('fresh', 'x')).version > 0n, true);
        const m = await fresh.members();
        assert.ok([b.addr, c.addr].includes(m.self));
      } finally {
        fresh.close();
      }

      // Once the cluster declares the node DEAD, the refreshed view ranks it last for every key.
      await eventually(async () => (await cache.members()).members.find((m) => m.address === a.addr)?.state === 'dead', 20_000, 200);
      await cache.refresh();
      await new Promise((r) => setTimeout(r, 2_100)); // client-side penalty expires: only the view keeps it last
      for (const k of keys) assert.notEqual(cache.route(k)[0]!.address, a.addr, k);

      // An operator removes the dead node: the ring changes and the client follows (periodic refresh).
      const oldRing = cache.ringVersion;
      const cc = clusterClient(b.addr);
      const left = await cc.call<{ ok: boolean }>('Leave', { node_id: a.addr });
      cc.close();
      assert.equal(left.res?.ok, true);
      const newRing = (await rawMembers(b.addr)).ring_version;
      assert.notEqual(newRing, oldRing);
      await eventually(() => cache.ringVersion === newRing, 5_000, 50);
      for (const k of keys) assert.ok(cache.route(k).findIndex((x) => x.address === a.addr) >= 2, k);
      for (const k of keys.slice(0, 5)) assert.equal(await cache.getString(k), `w-${k}`);
    } finally {
      cache.close();
    }
  });
});

describe('retries on UNAVAILABLE (real node, dead seeds)', { timeout: 120_000 }, () => {
  let node: NodeProc;
  before(async () => {
    node = await startNode();
  });
  after(async () => {
    await node?.stop('SIGKILL');
  });

  test('a dead first seed is skipped: the call succeeds on the next one', async () => {
    const dead = `127.0.0.1:${await freePort()}`;
    const attempts: AttemptInfo[] = [];
    const cache = new CacheClient({ seeds: [dead, node.addr], routing: false, onAttempt: (a) => attempts.push(a) });
    try {
      await cache.set('k', 'v');
      assert.deepEqual(
        attempts.map((a) => [a.address, a.attempt]),
        [
          [dead, 1],
          [node.addr, 2],
        ],
      );
      // The failed seed is now ranked last: the next call goes straight to the live one.
      assert.equal(await cache.getString('k'), 'v');
      assert.deepEqual(
        attempts.slice(2).map((a) => [a.address, a.attempt]),
        [[node.addr, 1]],
      );
    } finally {
      cache.close();
    }
  });

  test('all seeds dead: UNAVAILABLE after retries + 1 attempts with backoff', async () => {
    const dead = [`127.0.0.1:${await freePort()}`, `127.0.0.1:${await freePort()}`];
    const attempts: AttemptInfo[] = [];
    const cache = new CacheClient({ seeds: dead, retries: 3, backoff: { initialMs: 40, jitter: 0 }, onAttempt: (a) => attempts.push(a) });
    try {
      const t0 = Date.now();
      await assert.rejects(cache.set('k', 'v'), (e: unknown) => {
        assert.ok(e instanceof CacheClientError);
        assert.equal(e.code, 'UNAVAILABLE');
        assert.equal(e.attempts, 4);
        assert.equal(e.method, 'Set');
        assert.ok(dead.includes(e.address!));
        return true;
      });
      const elapsed = Date.now() - t0;
      assert.ok(elapsed >= 40 + 80 + 160, `elapsed ${elapsed}`);
      assert.deepEqual(
        attempts.filter((a) => a.method === 'Set').map((a) => a.attempt),
        [1, 2, 3, 4],
      );
      // Both seeds were tried, alternately.
      assert.deepEqual(new Set(attempts.filter((a) => a.method === 'Set').map((a) => a.address)), new Set(dead));
    } finally {
      cache.close();
    }
  });
});

/** An in-process CacheService/ClusterService whose answers are scripted per call. */
type Step = { code: grpc.status; details?: string } | 'hang' | Record<string, unknown>;
class ScriptedServer {
  readonly server = new grpc.Server();
  readonly requests: { method: string; req: Record<string, unknown> }[] = [];
  private readonly scripts = new Map<string, Step[]>();
  addr = '';

  script(method: string, ...steps: Step[]): void {
    this.scripts.set(method, steps);
  }

  async start(): Promise<void> {
    const handler = (method: string) => (call: grpc.ServerUnaryCall<Record<string, unknown>, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      this.requests.push({ method, req: call.request });
      const steps = this.scripts.get(method) ?? [];
      const step = steps.length > 1 ? steps.shift()! : (steps[0] ?? {});
      if (step === 'hang') return; // never answers: the client's deadline fires
      if (typeof step.code === 'number') cb({ code: step.code as grpc.status, details: String(step.details ?? 'scripted') });
      else cb(null, step);
    };
    // Decoded without defaults, so the tests see which fields the client really sent.
    const defs = protoLoader.loadSync(['cache/v1/cache.proto', 'cache/v1/cluster.proto'], {
      keepCase: true,
      longs: String,
      enums: Number,
      defaults: false,
      oneofs: true,
      includeDirs: [`${ROOT}proto`],
    });
    const service = (name: string) => defs[name] as grpc.ServiceDefinition;
    this.server.addService(service('cache.v1.CacheService'), { Get: handler('Get'), Set: handler('Set'), Delete: handler('Delete') });
    this.server.addService(service('cache.v1.ClusterService'), {
      Members: handler('Members'),
      Stats: handler('Stats'),
      Join: handler('Join'),
      Leave: handler('Leave'),
    });
    const port = await new Promise<number>((resolve, reject) =>
      this.server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
    );
    this.addr = `127.0.0.1:${port}`;
  }

  count(method: string): number {
    return this.requests.filter((r) => r.method === method).length;
  }
}

describe('retry policy and request encoding (scripted server)', { timeout: 120_000 }, () => {
  let srv: ScriptedServer;
  let cache: CacheClient;
  before(async () => {
    srv = new ScriptedServer();
    await srv.start();
  });
  after(() => {
    srv?.server.forceShutdown();
  });

  const fresh = (retries = 3, timeoutMs = 1000) => {
    cache?.close();
    srv.requests.length = 0;
    // routing off: the scripted server is the only address.
    cache = new CacheClient({ seeds: [srv.addr], routing: false, retries, timeoutMs, backoff: { initialMs: 5, maxMs: 20 } });
    return cache;
  };

  test('options are encoded as the proto expects', async () => {
    const c = fresh();
    srv.script('Set', { version: '42' });
    srv.script('Get', { payload: 'value', value: 'x', version: '7', ttl_remaining_ms: '1500' });
    srv.script('Delete', { deleted: true, version: '9' });
    assert.deepEqual(await c.set('k', 'v', { ttlMs: 60_000, consistency: 'quorum' }), { version: 42n });
    await c.set('b', Buffer.from([1, 2]), { consistency: 'one' });
    await c.set('d', 'v');
    assert.deepEqual(await c.get('k', { consistency: 'all' }), { value: 'x', version: 7n, ttlRemainingMs: 1500 });
    await c.get('k');
    assert.equal(await c.delete('k', { consistency: 'all' }), true);
    const reqs = srv.requests.map((r) => ({ method: r.method, ...r.req }));
    assert.deepEqual(reqs[0], { method: 'Set', key: 'k', value: 'v', payload: 'value', ttl_ms: '60000', consistency: 2 });
    assert.deepEqual(reqs[1], { method: 'Set', key: 'b', data: Buffer.from([1, 2]), payload: 'data', consistency: 1 });
    assert.deepEqual(reqs[2], { method: 'Set', key: 'd', value: 'v', payload: 'value' }); // consistency 0, ttl 0: defaults
    assert.deepEqual(reqs[3], { method: 'Get', key: 'k', consistency: 3 });
    assert.equal(srv.requests[2]!.req.consistency, undefined, 'the default is not sent');
    assert.deepEqual(reqs[4], { method: 'Get', key: 'k' });
    assert.deepEqual(reqs[5], { method: 'Delete', key: 'k', consistency: 3 });
  });

  test('UNAVAILABLE is retried, for reads and writes', async () => {
    const c = fresh(3);
    srv.script(
      'Get',
      { code: grpc.status.UNAVAILABLE },
      { code: grpc.status.UNAVAILABLE },
      { payload: 'value', value: 'ok', version: '1' },
    );
    assert.equal(await c.getString('k'), 'ok');
    assert.equal(srv.count('Get'), 3);
    srv.script('Set', { code: grpc.status.UNAVAILABLE, details: 'write quorum not reached' }, { version: '5' });
    assert.equal((await c.set('k', 'v')).version, 5n);
    assert.equal(srv.count('Set'), 2);
  });

  test('retries are bounded: the last error is thrown with the attempt count', async () => {
    const c = fresh(2);
    srv.script('Delete', { code: grpc.status.UNAVAILABLE, details: 'node is shutting down; retry on another node' });
    await assert.rejects(
      c.delete('k'),
      (e: CacheClientError) =>
        e.code === 'UNAVAILABLE' &&
        e.attempts === 3 &&
        e.details === 'node is shutting down; retry on another node' &&
        e.address === srv.addr,
    );
    assert.equal(srv.count('Delete'), 3);
    // Per-call override.
    srv.requests.length = 0;
    await assert.rejects(c.delete('k', { retries: 0 }), isCode('UNAVAILABLE'));
    assert.equal(srv.count('Delete'), 1);
  });

  test('DEADLINE_EXCEEDED is retried for reads only', async () => {
    const c = fresh(1, 150);
    srv.script('Get', 'hang', { payload: 'data', data: Buffer.from([7]), version: '1' });
    assert.deepEqual(await c.getBuffer('k'), Buffer.from([7]));
    assert.equal(srv.count('Get'), 2);
    srv.script('Set', 'hang');
    const t0 = Date.now();
    await assert.rejects(c.set('k', 'v'), (e: CacheClientError) => e.code === 'DEADLINE_EXCEEDED' && e.attempts === 1);
    assert.equal(srv.count('Set'), 1);
    assert.ok(Date.now() - t0 < 1_000);
    srv.script('Stats', 'hang');
    await assert.rejects(c.stats(), (e: CacheClientError) => e.code === 'DEADLINE_EXCEEDED' && e.attempts === 2);
  });

  test('an address that timed out is tried after the others for a while', async () => {
    cache?.close();
    const other = new ScriptedServer();
    await other.start();
    try {
      srv.requests.length = 0;
      srv.script('Set', 'hang');
      other.script('Set', { version: '3' });
      const seen: string[] = [];
      cache = new CacheClient({ seeds: [srv.addr, other.addr], routing: false, timeoutMs: 150, onAttempt: (a) => seen.push(a.address) });
      await assert.rejects(cache.set('k', 'v'), isCode('DEADLINE_EXCEEDED')); // a write: not retried
      assert.equal((await cache.set('k', 'v')).version, 3n);
      assert.deepEqual(seen, [srv.addr, other.addr]);
    } finally {
      cache.close();
      other.server.forceShutdown();
    }
  });

  test('a throwing onAttempt hook does not break calls', async () => {
    cache?.close();
    srv.script('Get', { payload: 'value', value: 'v', version: '1' });
    cache = new CacheClient({
      seeds: [srv.addr],
      routing: false,
      onAttempt: () => {
        throw new Error('oops');
      },
    });
    assert.equal(await cache.getString('k'), 'v');
    cache.close();
  });

  test('per-call timeoutMs overrides the client default', async () => {
    const c = fresh(0, 5_000);
    srv.script('Get', 'hang');
    const t0 = Date.now();
    await assert.rejects(c.get('k', { timeoutMs: 100 }), isCode('DEADLINE_EXCEEDED'));
    const elapsed = Date.now() - t0;
    assert.ok(elapsed >= 90 && elapsed < 1_000, `elapsed ${elapsed}`);
  });

  test('INVALID_ARGUMENT, NOT_FOUND and RESOURCE_EXHAUSTED are never retried', async () => {
    const c = fresh(3);
    srv.script('Set', { code: grpc.status.INVALID_ARGUMENT, details: 'key must not be empty' });
    await assert.rejects(
      c.set('k', 'v'),
      (e: CacheClientError) => e.code === 'INVALID_ARGUMENT' && e.details === 'key must not be empty' && e.attempts === 1,
    );
    srv.script('Set', { code: grpc.status.RESOURCE_EXHAUSTED, details: 'rate limit exceeded (RATE_LIMIT); retry later' });
    await assert.rejects(
      c.set('k', 'v'),
      (e: CacheClientError) => e.code === 'RESOURCE_EXHAUSTED' && /rate limit/.test(e.details) && e.attempts === 1,
    );
    assert.equal(srv.count('Set'), 2);
    srv.script('Get', { code: grpc.status.NOT_FOUND, details: 'key not found: "k"' });
    assert.equal(await c.get('k'), undefined);
    assert.equal(srv.count('Get'), 1);
    // NOT_FOUND where the API does not expect it is an error like any other.
    srv.script('Delete', { code: grpc.status.NOT_FOUND, details: 'odd' });
    await assert.rejects(c.delete('k'), (e: CacheClientError) => e.code === 'NOT_FOUND' && e.attempts === 1);
    srv.script('Get', { code: grpc.status.INTERNAL, details: 'boom' });
    await assert.rejects(c.get('k'), (e: CacheClientError) => e.code === 'INTERNAL' && e.details === 'boom' && e.attempts === 1);
  });

  test('routing: the first call waits for the ring, and goes to the replica it names', async () => {
    cache?.close();
    srv.requests.length = 0;
    // The scripted server says the cluster is one node: itself.
    srv.script('Members', {
      members: [{ node_id: 'solo', address: srv.addr, state: 1, incarnation: '1' }],
      ring_version: 'r1',
      self: 'solo',
      replication_factor: 1,
      vnodes: 4,
    });
    srv.script('Get', { payload: 'value', value: 'v', version: '1' });
    const seen: AttemptInfo[] = [];
    cache = new CacheClient({ seeds: [srv.addr], onAttempt: (a) => seen.push(a) });
    assert.equal(await cache.getString('k'), 'v');
    assert.deepEqual(
      srv.requests.map((r) => r.method),
      ['Members', 'Get'],
    );
    assert.equal(seen[0]!.replica, true);
    assert.equal(cache.ringVersion, 'r1');
    cache.close();
  });
});
