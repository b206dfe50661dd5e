/** Three (and four) real node processes on loopback: replication, quorum levels, crash, join, leave. */

import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { addresses, converged, members, nodeEnv, startCluster, stopAll } from '../helpers/cluster.ts';
import { cacheClient, clusterClient, status, type TestClient } from '../helpers/grpc.ts';
import { eventually, type NodeProc, spawnNode } from '../helpers/procs.ts';

const ONE = 1,
  QUORUM = 2,
  ALL = 3;
const cleanup: NodeProc[] = [];
const clients: TestClient[] = [];
after(async () => {
  for (const c of clients) c.close();
  await stopAll(cleanup);
});
const client = (addr: string) => {
  const c = cacheClient(addr);
  clients.push(c);
  return c;
};

test('a write on one node is readable on each other node; deletes propagate', async () => {
  const { addrs, nodes } = await startCluster(3);
  cleanup.push(...nodes);
  const [a, b, c] = addrs.map(client);
  const s = await a.call<{ version: string }>('Set', { key: 'foo', value: 'bar' });
  assert.equal(s.err, undefined);
  // N=3 on 3 nodes: every node is a replica. ALL makes every replica confirm before the answer.
  assert.equal((await a.call('Set', { key: 'all', value: 'x', consistency: ALL })).err, undefined);
  for (const n of [b, c]) {
    // ONE reads the node's own replica: the write really reached it.
    const g = (await eventually(
      async () => (await n.call<{ value: string; version: string }>('Get', { key: 'foo', consistency: ONE })).res,
    ))!;
    assert.equal(g.value, 'bar');
    assert.equal(g.version, s.res!.version, 'same version on every replica');
    assert.equal((await n.call<{ value: string }>('Get', { key: 'all', consistency: ONE })).res?.value, 'x');
  }
  const d = await b.call<{ deleted: boolean }>('Delete', { key: 'foo', consistency: ALL });
  assert.equal(d.res?.deleted, true);
  for (const n of [a, b, c]) assert.equal((await n.call('Get', { key: 'foo', consistency: ONE })).err?.code, status.NOT_FOUND);
  await stopAll(nodes);
});

test('with one node down: ONE and QUORUM work, ALL answers UNAVAILABLE saying how many replicas answered', async () => {
  const { addrs, nodes } = await startCluster(3);
  cleanup.push(...nodes);
  await nodes[2].stop('SIGKILL');
  const a = client(addrs[0]);
  for (const consistency of [ONE, QUORUM]) {
    assert.equal((await a.call('Set', { key: `k${consistency}`, value: 'v', consistency })).err, undefined);
    assert.equal((await a.call<{ value: string }>('Get', { key: `k${consistency}`, consistency })).res?.value, 'v');
  }
  const w = await a.call('Set', { key: 'kall', value: 'v', consistency: ALL });
  assert.equal(w.err?.code, status.UNAVAILABLE);
  assert.match(w.err!.details, /write quorum not reached: \d of 3 replicas acknowledged, 3 required/);
  const r = await a.call('Get', { key: 'k1', consistency: ALL });
  assert.equal(r.err?.code, status.UNAVAILABLE);
  assert.match(r.err!.details, /read quorum not reached: \d of 3 replicas answered, 3 required/);
  await stopAll(nodes);
});

test('kill -9 under write load (W=2): every acknowledged write survives; after restart all three agree', async () => {
  const { addrs, nodes } = await startCluster(3);
  cleanup.push(...nodes);
  const cs = addrs.map(client);
  const acked = new Map<string, string>();
  let stop = false;
  let seq = 0;
  const writer = async (c: TestClient) => {
    while (!stop) {
      const key = `load-${seq % 400}`;
      const value = `v${seq++}`;
      const r = await c.call('Set', { key, value, consistency: QUORUM }, 3_000);
      if (!r.err) acked.set(key, value); // later acks of a key overwrite earlier ones (sequential per writer)
    }
  };
  // one writer per surviving node, so each key's acks are ordered
  const w = [writer(cs[0]), writer(cs[1])];
  await new Promise((r) => setTimeout(r, 700));
  await nodes[2].stop('SIGKILL');
  await new Promise((r) => setTimeout(r, 1_500));
  stop = true;
  await Promise.all(w);
  assert.ok(acked.size > 50, `only ${acked.size} keys acknowledged`);
  // Every acknowledged value (the newest acknowledged per key) is readable from the survivors.
  for (const [key] of acked) {
    const g = await cs[0].call<{ value: string }>('Get', { key, consistency: QUORUM });
    assert.equal(g.err, undefined, key);
  }
  // Restart the crashed node (empty: memory only): hints and the restart push refill it.
  const restarted = spawnNode(nodes[2].env);
  cleanup.push(restarted);
  await restarted.waitFor(/listening on/);
  await converged(addrs, addrs);
  for (const [key] of acked) {
    await eventually(async () => {
      const vs = await Promise.all(cs.map((c) => c.call<{ value: string; version: string }>('Get', { key, consistency: ONE })));
      return vs.every((v) => v.res && v.res.version === vs[0].res?.version);
    }, 15_000);
  }
  await stopAll([...nodes, restarted]);
});

test('a fourth node joins and gets its share; a node that leaves hands off; no key is lost', async () => {
  const { addrs, nodes } = await startCluster(3);
  cleanup.push(...nodes);
  const a = client(addrs[0]);
  const keys = Array.from({ length: 600 }, (_, i) => `key-${i}`);
  for (const key of keys) assert.equal((await a.call('Set', { key, value: `value-${key}` })).err, undefined);

  const [d] = await addresses(1);
  const all4 = [...addrs, d];
  const fourth = spawnNode(nodeEnv(d, all4));
  cleanup.push(fourth);
  await fourth.waitFor(/listening on/);
  await converged(all4, all4);
  const dc = client(d);
  // With N=3 of 4 nodes, the new node replicates about 3/4 of the keys once rebalanced.
  await eventually(
    async () => {
      let local = 0;
      for (const key of keys) if ((await dc.call('Get', { key, consistency: ONE })).res) local++;
      return local > keys.length * 0.6;
    },
    20_000,
    300,
  );
  for (const key of keys) assert.equal((await dc.call<{ value: string }>('Get', { key })).res?.value, `value-${key}`, key);

  // Graceful leave of node 2: exit 0, hand-off, LEFT in Members, nothing lost.
  const leaving = nodes[1];
  const r = await leaving.stop('SIGTERM');
  assert.equal(r.code, 0);
  assert.ok(
    leaving.lines.some((l) => /handed \d+ keys/.test(l)),
    leaving.lines.slice(-5).join('\n'),
  );
  const rest = all4.filter((x) => x !== addrs[1]);
  await converged(rest, rest);
  const view = await members(addrs[0]);
  assert.equal(view.members.find((m) => m.node_id === addrs[1])?.state, 4, 'MEMBER_STATE_LEFT');
  for (const key of keys) {
    for (const addr of rest) {
      const g = await client(addr).call<{ value: string }>('Get', { key });
      assert.equal(g.res?.value, `value-${key}`, `${key} via ${addr}`);
    }
  }
  await stopAll([...nodes, fourth]);
});

test('nodes started in any order, with PEERS pointing at each other, form one cluster', async () => {
  const addrs = await addresses(3);
  const started: NodeProc[] = [];
  // Start in reverse order with pauses: the first node's peers do not answer yet.
  for (const addr of [...addrs].reverse()) {
    const p = spawnNode(nodeEnv(addr, addrs));
    started.push(p);
    cleanup.push(p);
    await p.waitFor(/listening on/);
    await new Promise((r) => setTimeout(r, 400));
  }
  const version = await converged(addrs, addrs);
  assert.match(version, /^[0-9a-f]{8,}$/);
  const c = clusterClient(addrs[1]);
  clients.push(c);
  const m = await c.call<{ members: unknown[]; self: string; replication_factor: number }>('Members', {});
  assert.equal(m.res!.members.length, 3);
  assert.equal(m.res!.self, addrs[1]);
  assert.equal(m.res!.replication_factor, 3);
  await stopAll(started);
});

test('a replica that stops answering (SIGSTOP) costs QUORUM reads the speculative delay, not RPC_TIMEOUT', async () => {
  // The paused node stays a member (long suspect/dead timeouts), so reads keep asking it first
  // for the keys where it comes first; without speculative reads those wait the full 5 s.
  const { addrs, nodes } = await startCluster(3, {
    RPC_TIMEOUT: '5s',
    SPECULATIVE_READ_DELAY: '100ms',
    SUSPECT_TIMEOUT: '20s',
    DEAD_TIMEOUT: '30s',
  });
  const a = cacheClient(addrs[0]);
  try {
    for (let i = 0; i < 20; i++) assert.equal((await a.call('Set', { key: `spec-${i}`, value: `v${i}`, consistency: 3 })).err, undefined);
    process.kill(nodes[2].pid, 'SIGSTOP');
    const t0 = Date.now();
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        a.call<{ value: string }>('Get', { key: `spec-${i}`, consistency: 2 }, 10_000).then((r) => ({ r, ms: Date.now() - t0 })),
      ),
    );
    for (const [i, { r }] of results.entries()) assert.equal(r.res?.value, `v${i}`, `spec-${i}: ${r.err?.message}`);
    const slowest = Math.max(...results.map((x) => x.ms));
    assert.ok(slowest < 2_500, `slowest QUORUM Get took ${slowest} ms (RPC_TIMEOUT is 5 s)`);
  } finally {
    try {
      process.kill(nodes[2].pid, 'SIGCONT');
    } catch {
      /* gone */
    }
    a.close();
    await stopAll(nodes);
  }
});
