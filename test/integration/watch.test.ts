/**
 * CacheService/Watch through the client against a real 3-node cluster (every node a replica of
 * every key): each change of a watched key is delivered once, although every replica reports
 * it; keys outside the prefix are not; a node killed and restarted is reported as a gap, its
 * stream comes back by itself, and changes keep arriving once each (also the rebalance that
 * refills the restarted node, whose writes carry versions already seen).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CacheClient, type WatchEvent } from '../../src/index.ts';
import { converged, startCluster, stopAll } from '../helpers/cluster.ts';
import { eventually, type NodeProc, spawnNode } from '../helpers/procs.ts';

describe('watch', { timeout: 120_000 }, () => {
  let addrs: string[];
  let nodes: NodeProc[];
  let writer: CacheClient;
  let watcher: CacheClient;

  before(async () => {
    ({ addrs, nodes } = await startCluster(3));
    writer = new CacheClient({ seeds: addrs, timeoutMs: 5_000 });
    watcher = new CacheClient({ seeds: addrs, timeoutMs: 5_000 });
    await watcher.members();
  });
  after(async () => {
    writer?.close();
    watcher?.close();
    await stopAll(nodes ?? []);
  });

  const id = (e: WatchEvent) => (e.type === 'change' ? `${e.kind} ${e.key} ${e.version}` : `gap ${e.address}`);
  const changes = (events: WatchEvent[]) => events.filter((e) => e.type === 'change');

  /** Writes and deletes keys; waits until every change arrived; checks each arrived exactly once. */
  async function roundOf(events: WatchEvent[], tag: string): Promise<void> {
    const expected: string[] = [];
    for (let i = 0; i < 20; i++) {
      const key = `w:${tag}:${i}`;
      expected.push(`set ${key} ${(await writer.set(key, 'v')).version}`);
    }
    for (let i = 0; i < 5; i++) {
      const key = `w:${tag}:${i}`;
      await writer.delete(key);
    }
    await writer.set(`other:${tag}`, 'not watched');
    await eventually(
      () => {
        const got = new Set(changes(events).map(id));
        return (
          expected.every((x) => got.has(x)) && changes(events).filter((e) => e.kind === 'delete' && e.key.includes(`:${tag}:`)).length >= 5
        );
      },
      10_000,
      20,
    );
    await new Promise((r) => setTimeout(r, 300)); // time for the other replicas' copies to arrive
    const counts = new Map<string, number>();
    for (const e of changes(events)) counts.set(id(e), (counts.get(id(e)) ?? 0) + 1);
    for (const [x, n] of counts) assert.equal(n, 1, `${x} delivered ${n} times`);
    assert.ok(!changes(events).some((e) => e.key.startsWith('other:')), 'a key outside the prefix');
  }

  test('each change once; a restarted node is a gap, and its stream comes back', async () => {
    const events: WatchEvent[] = [];
    const w = watcher.watch('w:', (e) => events.push(e));
    const streams = (w as unknown as { streams: Map<string, unknown> }).streams;
    try {
      // the streams are open once a write is reported
      await eventually(async () => {
        await writer.set('w:probe', String(Date.now()));
        return changes(events).some((e) => e.key === 'w:probe');
      }, 10_000);
      await roundOf(events, 'a');

      const victim = addrs[1]!;
      await nodes[1]!.stop('SIGKILL');
      await eventually(() => events.some((e) => e.type === 'gap' && e.address === victim), 10_000, 20);
      nodes[1] = spawnNode(nodes[1]!.env);
      await nodes[1].waitFor(/listening on/);
      await converged(addrs, addrs);
      await eventually(() => streams.has(victim), 10_000, 50);
      await roundOf(events, 'b');
    } finally {
      w.close();
    }
    const n = events.length;
    await writer.set('w:after-close', 'x');
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(events.length, n, 'nothing after close()');
  });
});
