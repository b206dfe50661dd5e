/**
 * Client near caches against a real 3-node cluster (REPLICATION_FACTOR 2, so writes and reads
 * need both replicas: a write is acknowledged only once both applied it, and a read's answer
 * can come after an invalidation its first replica sent meanwhile): a write coordinated by a node that does not
 * replicate the key reaches a near-cache reader through its replica's invalidation (the delay is
 * printed); a racing reader never reads a value older than a write acknowledged before an
 * invalidation of the key reached it; entries are not served past maxTtlMs; the node-side bound
 * per client invalidates what it stops tracking; killing the node a reader read through clears
 * what it read there.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CacheClient } from '../../src/index.ts';
import { startCluster, stopAll } from '../helpers/cluster.ts';
import { eventually, type NodeProc } from '../helpers/procs.ts';

/** Keys each node tracks per client: small, so that the bound test can reach it. */
const MAX_KEYS = 40;

/** What the near cache received (test instrumentation of the client's private state machine). */
interface Received {
  at: number;
  keys: readonly string[];
  all: boolean;
}

function instrument(c: CacheClient): Received[] {
  const log: Received[] = [];
  const near = (c as unknown as { near: Record<string, (...a: unknown[]) => unknown> }).near;
  const message = near.message!.bind(near);
  near.message = (address, seq, keys, all) => {
    // a message that is not the next one clears too: count it as "all"
    log.push({ at: performance.now(), keys: keys as string[], all: all as boolean });
    return message(address, seq, keys, all);
  };
  const lost = near.lost!.bind(near);
  near.lost = (address) => {
    log.push({ at: performance.now(), keys: [], all: true });
    return lost(address);
  };
  return log;
}

describe('near cache', { timeout: 120_000 }, () => {
  let addrs: string[];
  let nodes: NodeProc[];
  let reader: CacheClient;
  let received: Received[];
  /** One plain client per node (no routing): each call is coordinated by that node. */
  let at: CacheClient[];

  before(async () => {
    ({ addrs, nodes } = await startCluster(3, { REPLICATION_FACTOR: '2', NEAR_CACHE_MAX_KEYS: String(MAX_KEYS) }));
    reader = new CacheClient({ seeds: addrs, nearCache: { maxEntries: 10_000, maxTtlMs: 60_000 }, timeoutMs: 5_000 });
    received = instrument(reader);
    await reader.members();
    at = addrs.map((a) => new CacheClient({ seeds: a, routing: false, timeoutMs: 5_000 }));
  });
  after(async () => {
    reader?.close();
    for (const c of at ?? []) c.close();
    await stopAll(nodes ?? []);
  });

  /** Reads key until the read is answered from the near cache (the first miss opens the stream). */
  async function cache(c: CacheClient, key: string): Promise<void> {
    await eventually(async () => {
      await c.get(key);
      const h = c.nearCacheStats()!.hits;
      await c.get(key);
      return c.nearCacheStats()!.hits === h + 1;
    }, 10_000);
  }

  /** Index of a node that does not replicate key in the client's ring. */
  const nonReplica = (c: CacheClient, key: string) => {
    const replicas = c.route(key).filter((x) => x.replica);
    assert.equal(replicas.length, 2);
    const holders = new Set(replicas.map((r) => r.address));
    return addrs.findIndex((a) => !holders.has(a));
  };

  test('a write through a node that does not replicate the key is seen once the invalidation arrives', async () => {
    const delays: number[] = [];
    for (let i = 0; i < 5; i++) {
      const key = `seen:${i}`;
      await at[0]!.set(key, 'v1');
      await cache(reader, key);
      assert.equal((await reader.get(key))?.value, 'v1');
      const inv = reader.nearCacheStats()!.invalidations;
      await at[nonReplica(reader, key)]!.set(key, 'v2');
      const acked = performance.now();
      await eventually(async () => (await reader.get(key))?.value === 'v2', 5_000, 1);
      delays.push(performance.now() - acked);
      assert.ok(reader.nearCacheStats()!.invalidations > inv);
      await cache(reader, key);
      assert.equal((await reader.get(key))?.value, 'v2', 'cached again after the invalidation');
    }
    console.log(`# write ack -> near reader sees it: ${delays.map((d) => d.toFixed(1)).join(', ')} ms`);
  });

  test('a racing reader never reads a value older than a write acknowledged before an invalidation reached it', async () => {
    const key = 'race';
    await at[0]!.set(key, '0');
    await cache(reader, key);
    const writer = at[nonReplica(reader, key)]!;
    const writes: { ack: number; n: number }[] = [];
    const reads: { start: number; n: number }[] = [];
    let done = false;
    const readLoop = async () => {
      while (!done) {
        const start = performance.now();
        const r = await reader.get(key);
        reads.push({ start, n: Number(r?.value) });
        await new Promise((r) => setImmediate(r)); // let the writer and the streams run
      }
    };
    const loops = [readLoop(), readLoop(), readLoop()];
    const hits0 = reader.nearCacheStats()!.hits;
    for (let n = 1; n <= 150; n++) {
      await writer.set(key, String(n));
      writes.push({ ack: performance.now(), n });
      if (n % 3 === 0) await new Promise((r) => setTimeout(r, 2));
    }
    await new Promise((r) => setTimeout(r, 100));
    done = true;
    await Promise.all(loops);
    const hits = reader.nearCacheStats()!.hits - hits0;
    assert.ok(hits > 100, `the reader was served from its near cache (${hits} hits of ${reads.length} reads)`);
    // I(w): the first invalidation of the key (or clear) that reached the reader after w was
    // acknowledged. The key's replica applied w before the acknowledgement (W = 2 = all), and
    // sends its invalidations in order, so I(w) is w's or a later one's: a read that starts after
    // I(w) must see w or newer. (Invalidations arriving before the acknowledgement cannot be told
    // apart from a previous write's late one, so they are not used.)
    const touched = received.filter((m) => m.all || m.keys.includes(key));
    const due = writes.map((w) => ({ n: w.n, from: touched.find((m) => m.at >= w.ack)?.at ?? Infinity })).sort((x, y) => x.from - y.from);
    let checked = 0;
    let j = 0;
    let newest = 0;
    for (const r of [...reads].sort((x, y) => x.start - y.start)) {
      while (j < due.length && due[j]!.from < r.start) newest = Math.max(newest, due[j++]!.n);
      if (newest === 0) continue;
      checked++;
      assert.ok(r.n >= newest, `a read started after write ${newest} was acknowledged, then invalidated, saw ${r.n}`);
    }
    assert.ok(checked > 0);
    assert.equal((await reader.get(key))?.value, '150');
  });

  test("a client's own write is kept in its near cache; another client's write drops it; racing writers never leave it stale", async () => {
    const key = 'own:1';
    await at[0]!.set(key, 'first');
    await cache(reader, key); // the stream to the key's replica is open
    await reader.set(key, 'mine');
    const { hits, misses } = reader.nearCacheStats()!;
    assert.equal((await reader.get(key))?.value, 'mine');
    assert.deepEqual([reader.nearCacheStats()!.hits, reader.nearCacheStats()!.misses], [hits + 1, misses], 'read back from memory');
    await at[nonReplica(reader, key)]!.set(key, 'theirs');
    await eventually(async () => (await reader.get(key))?.value === 'theirs', 5_000, 1);

    // Two writers race on one key; whichever wins, the near cache must end up with it (a kept
    // write that lost would be served for maxTtlMs = 60 s).
    const other = at[nonReplica(reader, key)]!;
    for (let i = 0; i < 40; i++) {
      await Promise.all([reader.set(key, `r${i}`), other.set(key, `w${i}`)]);
      const truth = async () => (await at[0]!.get(key))?.value;
      await eventually(async () => (await reader.get(key))?.value === (await truth()), 3_000, 5);
    }
  });

  test("a client's overlapping writes of one key keep the newest in its near cache, and its gets meanwhile are answered from memory", async () => {
    const key = 'own:hot';
    await at[0]!.set(key, 'start');
    await cache(reader, key);
    for (let round = 0; round < 10; round++) {
      // writes of the key in flight together, each in its own MSet (one per event-loop turn)
      const writes: Promise<unknown>[] = [];
      const s0 = reader.nearCacheStats()!;
      for (let i = 0; i < 8; i++) {
        writes.push(reader.set(key, `${round}.${i}`));
        await new Promise((r) => setImmediate(r));
        // the value held before (or one of these writes, once answered) is served meanwhile
        assert.notEqual(await reader.get(key), undefined);
      }
      await Promise.all(writes);
      const s1 = reader.nearCacheStats()!;
      assert.equal(s1.misses, s0.misses, `round ${round}: no get went to a node (${JSON.stringify(s1)})`);
      // the node holds the newest of them and tracks it for the reader: the near cache has it
      const truth = (await at[0]!.get(key))?.value;
      assert.equal((await reader.get(key))?.value, truth, `round ${round}`);
      assert.equal(reader.nearCacheStats()!.hits, s1.hits + 1, `round ${round}: still held after every write was answered`);
    }
    // and the node still tracks it: another client's write reaches the reader
    await at[nonReplica(reader, key)]!.set(key, 'theirs');
    await eventually(async () => (await reader.get(key))?.value === 'theirs', 5_000, 1);
  });

  test('an entry is never served past maxTtlMs', async () => {
    const short = new CacheClient({ seeds: addrs, nearCache: { maxEntries: 100, maxTtlMs: 300 } });
    try {
      await at[0]!.set('ttl', 'x');
      await cache(short, 'ttl');
      const cachedAt = performance.now();
      // no write: only maxTtlMs can end the entry. Each hit must lie within 300 ms of its install.
      let lastHit = cachedAt;
      await eventually(
        async () => {
          const s0 = short.nearCacheStats()!;
          const t = performance.now();
          await short.get('ttl');
          const s1 = short.nearCacheStats()!;
          if (s1.hits > s0.hits) {
            lastHit = t;
            return false;
          }
          return true;
        },
        5_000,
        10,
      );
      assert.ok(lastHit - cachedAt <= 300, `served ${(lastHit - cachedAt).toFixed(0)} ms after it was installed`);
    } finally {
      short.close();
    }
  });

  test('the node-side bound per client invalidates the keys it stops tracking', async () => {
    const c = new CacheClient({ seeds: addrs, nearCache: { maxEntries: 10_000, maxTtlMs: 60_000 } });
    // the node each tracked read went to (instrumenting the client's state machine)
    const readVia = new Map<string, Set<string>>();
    const near = (c as unknown as { near: { reserve: (key: string, address: string) => number } }).near;
    const reserve = near.reserve.bind(near);
    near.reserve = (key, address) => {
      const t = reserve(key, address);
      if (t !== 0) readVia.set(address, (readVia.get(address) ?? new Set()).add(key));
      return t;
    };
    try {
      const keys = Array.from({ length: 6 * MAX_KEYS }, (_, i) => `bound:${i}`);
      await at[0]!.mset(keys.map((key) => ({ key, value: key })));
      // open the stream to every node: cache one key read through each
      for (const a of addrs) await cache(c, keys.find((k) => c.route(k)[0]!.address === a)!);
      for (const k of keys) await c.get(k);
      // each node tracks at most MAX_KEYS keys for this client: it invalidated the others
      const perNode = addrs.map((a) => readVia.get(a)?.size ?? 0);
      const over = perNode.reduce((sum, n) => sum + Math.max(0, n - MAX_KEYS), 0);
      await eventually(() => c.nearCacheStats()!.invalidations >= over, 5_000, 20).catch(() => undefined);
      const s = c.nearCacheStats()!;
      assert.ok(s.invalidations >= over, `${JSON.stringify(s)}; keys read per node: ${perNode}`);
      assert.ok(s.entries <= 3 * MAX_KEYS, `${s.entries} entries held with a bound of ${MAX_KEYS} per node`);
      assert.ok(s.entries >= MAX_KEYS, `${s.entries} entries: the tracked ones stay`);
    } finally {
      c.close();
    }
  });

  test('a graceful stop ends the near-cache and Watch streams and exits in time; the reader clears', async () => {
    // node 2 of 3 (the one the kill test below does not need): hold a key read through it, watch it
    const key = Array.from({ length: 200 }, (_, i) => `graceful:${i}`).find((k) => reader.route(k)[0]!.address === addrs[2])!;
    await at[0]!.set(key, 'v');
    await cache(reader, key);
    const gaps: string[] = [];
    const w = reader.watch('graceful:', (e) => {
      if (e.type === 'gap') gaps.push(e.address);
    });
    const streams = (w as unknown as { streams: Map<string, unknown> }).streams;
    await eventually(() => streams.has(addrs[2]!), 5_000, 20);
    const clears = reader.nearCacheStats()!.clears;
    const t0 = performance.now();
    const exit = await nodes[2]!.stop('SIGTERM', 20_000);
    const took = performance.now() - t0;
    w.close();
    assert.deepEqual(exit, { code: 0, signal: null }, 'exited by itself, not killed');
    assert.ok(took < 15_000, `stopped in ${took.toFixed(0)} ms`);
    assert.ok(reader.nearCacheStats()!.clears > clears, 'what was read through it is cleared');
    assert.ok(gaps.includes(addrs[2]!), 'the watch reports the gap');
  });

  test('killing the node a reader read through clears what it read there', async () => {
    const key = 'killed';
    await at[0]!.set(key, 'v');
    await cache(reader, key);
    const through = reader.route(key)[0]!.address;
    assert.notEqual(through, addrs[2], 'node 2 is gone already');
    const clears = reader.nearCacheStats()!.clears;
    await nodes[addrs.indexOf(through)]!.stop('SIGKILL');
    await eventually(() => reader.nearCacheStats()!.clears > clears, 10_000, 20);
    const hits = reader.nearCacheStats()!.hits;
    // with one of its two replicas gone a read needs the other (READ_QUORUM 2): it fails, but
    // it must not be answered from the near cache
    await reader.get(key, { retries: 0 }).catch(() => undefined);
    assert.equal(reader.nearCacheStats()!.hits, hits, 'not from the near cache');
    assert.equal(reader.nearCacheStats()!.entries, 0, 'nothing read through the killed node is held');
  });
});

describe('near cache with a default TTL on the nodes', { timeout: 60_000 }, () => {
  let nodes: NodeProc[] = [];
  after(async () => {
    await stopAll(nodes);
  });

  test('a write without a TTL of its own is dropped at once (the node gave it its default TTL, unknown to the client); one with a TTL is kept', async () => {
    const cl = await startCluster(3, { REPLICATION_FACTOR: '2', TTL: '60s' });
    nodes = cl.nodes;
    const c = new CacheClient({ seeds: cl.addrs, nearCache: { maxEntries: 1_000, maxTtlMs: 60_000 }, timeoutMs: 5_000 });
    try {
      await c.members();
      /** The stream to the key's replica is open once a read of it was answered from memory. */
      const held = (key: string) =>
        eventually(async () => {
          await c.get(key);
          const h = c.nearCacheStats()!.hits;
          await c.get(key);
          return c.nearCacheStats()!.hits === h + 1;
        }, 10_000);
      await c.set('ttl:own', 'first', { ttlMs: 30_000 });
      await held('ttl:own');
      await c.set('ttl:own', 'v', { ttlMs: 30_000 });
      const misses = c.nearCacheStats()!.misses;
      assert.equal((await c.get('ttl:own'))?.value, 'v');
      assert.equal(c.nearCacheStats()!.misses, misses, 'a write with its own TTL is read back from memory');

      await c.set('ttl:default', 'first', { ttlMs: 30_000 });
      await held('ttl:default');
      await c.set('ttl:default', 'v');
      // the node gave it its default TTL, which the client does not know: it is invalidated at once
      await eventually(
        async () => {
          const m = c.nearCacheStats()!.misses;
          const r = await c.get('ttl:default');
          return r?.value === 'v' && c.nearCacheStats()!.misses === m + 1;
        },
        5_000,
        20,
      );
    } finally {
      c.close();
    }
  });
});
