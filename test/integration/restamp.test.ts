/**
 * Real-time order of acknowledged writes whatever the clocks: a 3-node cluster where one node's
 * clock runs 90 s ahead (libfaketime, preloaded into that node's process only), and one client
 * writing keys in turn through every node at QUORUM. Every read right after an acknowledgement
 * sees that write, and every replica ends with the last write the client was told succeeded:
 * a replica holding a newer version makes the coordinator re-stamp its write above it.
 * Fencing of the skewed node is switched off here (MAX_CLOCK_OFFSET=0), so that it keeps
 * coordinating writes with its skewed clock, and the calls carry no absolute deadline
 * (x-cache-deadline, which a node judges by its own clock), as from grpcurl.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { addresses, converged, nodeEnv, stopAll } from '../helpers/cluster.ts';
import { cacheClient, type TestClient } from '../helpers/grpc.ts';
import { eventually, type NodeProc, spawnNode } from '../helpers/procs.ts';

const LIBFAKETIME = ['/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1', '/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1'].find(
  (p) => existsSync(p),
);

/** Env that runs a node with its wall clock `offset` off (e.g. '+90s'); timers keep the real monotonic clock. */
function skewed(offset: string): Record<string, string> {
  if (!LIBFAKETIME) throw new Error("libfaketime not found: install Debian's faketime package (.ci/run does)");
  return { LD_PRELOAD: LIBFAKETIME, FAKETIME: offset, DONT_FAKE_MONOTONIC: '1' };
}

const ONE = 1;
const QUORUM = 2;

for (const offset of ['+90s', '-90s']) {
  describe(`one node's clock ${offset} off`, { timeout: 90_000 }, () => {
    let nodes: NodeProc[];
    let via: TestClient[];

    before(async () => {
      const addrs = await addresses(3);
      const extra = { MAX_CLOCK_OFFSET: '0', ANTI_ENTROPY_INTERVAL: '0' };
      nodes = addrs.map((a, i) => spawnNode({ ...nodeEnv(a, addrs, extra), ...(i === 1 ? skewed(offset) : {}) }));
      await Promise.all(nodes.map((n) => n.waitFor(/listening on/)));
      await converged(addrs, addrs);
      via = addrs.map((a) => cacheClient(a));
    });
    after(async () => {
      for (const c of via ?? []) c.close();
      await stopAll(nodes ?? []);
    });

    test('sequential writes through rotating coordinators come out in real-time order on every replica', async () => {
      const keys = ['k1', 'k2', 'k3', 'k4', 'k5'];
      const last = new Map<string, string>();
      for (let round = 0; round < 4; round++) {
        for (const [i, key] of keys.entries()) {
          const coordinator = (i + round) % 3;
          const value = `${key}-round${round}-via${coordinator}`;
          const set = await via[coordinator]!.call('Set', { key, value, consistency: QUORUM });
          assert.equal(set.err, undefined, `Set through node ${coordinator}: ${set.err?.message}`);
          last.set(key, value);
          const reader = (coordinator + 1) % 3;
          const read = await via[reader]!.call<{ value: string }>('Get', { key, consistency: QUORUM });
          assert.equal(read.res?.value, value, `QUORUM read through node ${reader} right after the write through node ${coordinator}`);
        }
      }
      // every replica converges on the last acknowledged write (the third replica's copy may arrive a moment later)
      const atOne = async (c: TestClient) =>
        (await c.call<{ results: { value?: string }[] }>('MGet', { keys, consistency: ONE })).res?.results.map((r) => r.value);
      const want = keys.map((k) => last.get(k));
      for (const [n, c] of via.entries()) {
        await eventually(async () => JSON.stringify(await atOne(c)) === JSON.stringify(want), 10_000).catch(async () => {
          assert.deepEqual(await atOne(c), want, `node ${n} at ONE`);
        });
      }
    });
  });
}
