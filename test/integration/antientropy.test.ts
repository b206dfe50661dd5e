/** Anti-entropy between real nodes: a replica that missed writes (no hints) is repaired by Merkle sync. */

import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { converged, startCluster, stopAll } from '../helpers/cluster.ts';
import { cacheClient, clusterClient, type TestClient } from '../helpers/grpc.ts';
import { eventually, type NodeProc } from '../helpers/procs.ts';

const nodes: NodeProc[] = [];
const clients: TestClient[] = [];
after(async () => {
  for (const c of clients) c.close();
  if (nodes[2]?.pid)
    try {
      process.kill(nodes[2].pid, 'SIGCONT');
    } catch {
      /* gone */
    }
  await stopAll(nodes);
});

interface Stats {
  merkle_root: string;
  anti_entropy_keys_repaired?: string;
  anti_entropy_rounds?: string;
  hints_pending?: string;
}

async function stats(addr: string): Promise<Stats> {
  const c = clusterClient(addr);
  clients.push(c);
  const r = await c.call<Stats>('Stats', {});
  if (r.err) throw r.err;
  return r.res!;
}

test('a replica that was unreachable while writes happened (hints off) converges by Merkle anti-entropy', async () => {
  const cl = await startCluster(3, { MAX_HINTS: '0', ANTI_ENTROPY_INTERVAL: '1s' });
  nodes.push(...cl.nodes);
  const [a, , c] = cl.addrs.map((x) => {
    const t = cacheClient(x);
    clients.push(t);
    return t;
  });
  for (let i = 0; i < 50; i++) await a.call('Set', { key: `before-${i}`, value: 'x', consistency: 3 });

  // Freeze node 3 (no crash, no restart): the others mark it dead; writes for it are not hinted.
  process.kill(cl.nodes[2].pid, 'SIGSTOP');
  await eventually(async () => {
    const m = await clusterClient(cl.addrs[0]).call<{ members: { node_id: string; state: number }[] }>('Members', {});
    return m.res?.members.find((x) => x.node_id === cl.addrs[2])?.state === 3;
  }, 10_000);
  for (let i = 0; i < 200; i++) assert.equal((await a.call('Set', { key: `during-${i}`, value: `v${i}` })).err, undefined);
  for (let i = 0; i < 20; i++) assert.equal((await a.call('Delete', { key: `before-${i}` })).err, undefined);
  assert.equal((await stats(cl.addrs[0])).hints_pending ?? '0', '0', 'hints are off: only anti-entropy can repair');

  process.kill(cl.nodes[2].pid, 'SIGCONT');
  await converged(cl.addrs, cl.addrs);
  // All three replicas end up with identical data, and node 3 serves the writes locally.
  await eventually(
    async () => {
      const roots = await Promise.all(cl.addrs.map(async (x) => (await stats(x)).merkle_root));
      return roots.every((r) => r === roots[0]);
    },
    20_000,
    250,
  );
  for (let i = 0; i < 200; i += 17) {
    assert.equal((await c.call<{ value: string }>('Get', { key: `during-${i}`, consistency: 1 })).res?.value, `v${i}`);
  }
  assert.equal((await c.call('Get', { key: 'before-3', consistency: 1 })).err?.code, 5, 'the delete reached it as a tombstone');
  const repaired = await Promise.all(cl.addrs.map(async (x) => Number((await stats(x)).anti_entropy_keys_repaired ?? 0)));
  assert.ok(repaired.reduce((s, n) => s + n, 0) >= 220, `repaired ${repaired}`);
});
