/**
 * ClusterService.Flush against a real 3-node cluster: a prefix flush while one node is paused
 * (SIGSTOP: cut off, its old data still in memory), a whole-cluster flush through cachectl.
 * After the paused node is back and has heard of the flush, no flushed key is readable at ONE
 * on any node, anti-entropy does not bring them back, keys written after the flush are
 * readable, and the flushed entries' memory is reclaimed.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { CacheClient } from '../../src/index.ts';
import { startCluster, stopAll } from '../helpers/cluster.ts';
import { eventually, type NodeProc, ROOT } from '../helpers/procs.ts';

const run = promisify(execFile);

describe('cluster flush', { timeout: 120_000 }, () => {
  let addrs: string[];
  let nodes: NodeProc[];
  /** One client per node, not routing: each call is coordinated by that node. */
  let at: CacheClient[];

  before(async () => {
    ({ addrs, nodes } = await startCluster(3, { ANTI_ENTROPY_INTERVAL: '500ms', TOMBSTONE_GRACE: '1h' }));
    at = addrs.map((a) => new CacheClient({ seeds: a, routing: false, retries: 0, timeoutMs: 5_000, autoBatch: false }));
  });
  after(async () => {
    for (const c of at) c.close();
    await stopAll(nodes);
  });

  /** The values of `keys` read at ONE through node i (undefined where not found). */
  const readOne = async (i: number, keys: string[]) =>
    (await at[i]!.mget(keys, { consistency: 'one' })).map((r) => {
      assert.equal(r.error, undefined, `${r.key} at node ${i}: ${r.error?.message}`);
      return r.value;
    });

  test('a prefix flush while a node is paused: gone everywhere once it is back, later writes kept, memory reclaimed', async () => {
    const flushed = Array.from({ length: 200 }, (_, i) => `f:${i}`);
    const kept = Array.from({ length: 50 }, (_, i) => `k:${i}`);
    await at[0]!.mset(
      [...flushed, ...kept].map((key) => ({ key, value: `old-${key}` })),
      { consistency: 'all' },
    );
    const itemsBefore = (await at[2]!.stats()).items;
    assert.ok(itemsBefore >= 250, `node 2 holds every key (RF 3): ${itemsBefore}`);
    const paused = (await at[2]!.stats()).nodeId;

    nodes[2]!.proc.kill('SIGSTOP');
    const res = await at[0]!.flush({ prefix: 'f:' });
    assert.deepEqual(res.pending, [paused], 'the paused node did not confirm');
    const after1 = await at[1]!.set('f:new', 'written after the flush', { consistency: 'quorum' });
    assert.ok(after1.version > res.version);
    // a write with a version from before the flush (as a late hint would carry) is not applied anywhere
    for (const i of [0, 1]) {
      assert.deepEqual(
        await readOne(i, [...flushed.slice(0, 20), 'f:new', 'k:1']),
        [...Array(20).fill(undefined), 'written after the flush', 'old-k:1'],
        `node ${i}`,
      );
    }

    nodes[2]!.proc.kill('SIGCONT');
    // the node learns the flush from the next heartbeat (or the first Ping it answers)
    await eventually(async () => (await at[2]!.stats()).flushVersion === res.version, 15_000);
    assert.deepEqual(await readOne(2, flushed), Array(200).fill(undefined), 'no flushed key readable on the node that was away');
    assert.deepEqual(
      await readOne(2, kept),
      kept.map((k) => `old-${k}`),
    );
    assert.equal((await at[2]!.get('f:new', { consistency: 'quorum' }))?.value, 'written after the flush');

    // anti-entropy rounds between all three nodes do not bring flushed keys back
    const rounds = (await at[0]!.stats()).antiEntropyRounds;
    await eventually(async () => (await at[0]!.stats()).antiEntropyRounds >= rounds + 4, 20_000);
    for (const i of [0, 1, 2]) assert.deepEqual(await readOne(i, flushed.slice(0, 50)), Array(50).fill(undefined), `node ${i}`);

    // the flushed entries' memory is freed in the background on every node
    for (const c of at) {
      await eventually(async () => (await c.stats()).flushed >= 200);
      const s = await c.stats();
      assert.ok(s.items <= itemsBefore - 200 + 1, `node ${s.nodeId}: ${s.items} items left of ${itemsBefore}`);
      assert.equal(s.flushMarks, 1);
    }
  });

  test('cachectl flush: every key written before it is gone on every node, writes after it survive', async () => {
    const keys = Array.from({ length: 100 }, (_, i) => `all:${i}`);
    await at[1]!.mset(
      keys.map((key) => ({ key, value: key })),
      { consistency: 'all' },
    );
    const { stdout } = await run(process.execPath, [`${ROOT}dist/cli/cachectl.js`, 'flush', '--addr', addrs[2]!, '--json']);
    const out = JSON.parse(stdout) as { prefix: string; version: string; pending: string[] };
    assert.deepEqual([out.prefix, out.pending], ['', []]);
    await at[0]!.set('after', 'yes', { consistency: 'all' });
    for (const i of [0, 1, 2]) {
      assert.deepEqual(await readOne(i, [...keys, 'k:1', 'f:new', 'after']), [...Array(102).fill(undefined), 'yes'], `node ${i}`);
      const s = await at[i]!.stats();
      assert.equal(s.flushVersion, BigInt(out.version));
      assert.equal(s.flushMarks, 1, 'the whole-cluster flush replaced the prefix flush');
    }
  });
});
