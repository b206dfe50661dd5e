/**
 * Batch calls (MGet, MSet, MDelete) against a real 3-node cluster through the client library:
 * mixed found and missing keys in order, a bad key in the middle of a batch, duplicates, 1,000
 * keys in one call, MAX_BATCH_KEYS + 1 refused, one node down (QUORUM answers every key, ALL
 * fails key by key), and the rate limit counting a batch as its keys.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CacheClient, CacheClientError } from '../../src/index.ts';
import { startCluster, stopAll } from '../helpers/cluster.ts';
import { cacheClient } from '../helpers/grpc.ts';
import type { NodeProc } from '../helpers/procs.ts';
import { freePort, startNode } from '../helpers/procs.ts';

describe('batch calls on a 3-node cluster', { timeout: 120_000 }, () => {
  let addrs: string[];
  let nodes: NodeProc[];
  let client: CacheClient;
  let routed: CacheClient;

  before(async () => {
    ({ addrs, nodes } = await startCluster(3));
    client = new CacheClient({ seeds: addrs[0]!, routing: false, retries: 0, timeoutMs: 5_000 });
    routed = new CacheClient({ seeds: addrs });
  });
  after(async () => {
    client.close();
    routed.close();
    await stopAll(nodes);
  });

  test('1,000 keys in one MSet and one MGet; found and missing keys answered in request order', async () => {
    const keys = Array.from({ length: 1000 }, (_, i) => `b:${i}`);
    const set = await client.mset(keys.map((key, i) => ({ key, value: i % 2 ? `v${i}` : Buffer.from([i % 256]) })));
    assert.equal(set.length, 1000);
    assert.ok(set.every((r, i) => r.key === keys[i] && r.error === undefined && typeof r.version === 'bigint' && !r.superseded));
    const asked = keys.flatMap((k, i) => (i % 100 === 0 ? [k, `missing:${i}`] : [k])).slice(0, 1000);
    const got = await client.mget(asked);
    assert.deepEqual(
      got.map((r) => r.key),
      asked,
    );
    for (const r of got) {
      if (r.key.startsWith('missing:')) assert.deepEqual([r.found, r.value, r.error], [false, undefined, undefined]);
      else {
        const i = Number(r.key.slice(2));
        assert.ok(r.found, r.key);
        assert.deepEqual(r.value, i % 2 ? `v${i}` : Buffer.from([i % 256]));
      }
    }
  });

  test('a bad key in the middle fails alone; duplicates: the last MSet entry wins, MGet answers each the same', async () => {
    const set = await client.mset([
      { key: 'dup', value: 'first' },
      { key: 'ok', value: 'x' },
      { key: 'dup', value: 'second' },
    ]);
    assert.deepEqual(
      set.map((r) => [r.key, r.superseded, r.error]),
      [
        ['dup', true, undefined],
        ['ok', false, undefined],
        ['dup', false, undefined],
      ],
    );
    assert.equal(set[0]!.version, set[2]!.version, 'the superseded entry reports the version its key got');
    const c = cacheClient(addrs[1]!);
    const r = await c.call<{ results: { key: string; found: boolean; value?: string; error: { code: number; message: string } | null }[] }>(
      'MGet',
      { keys: ['dup', '', 'ok', 'dup'] },
    );
    c.close();
    const res = r.res!.results;
    assert.equal(res.length, 4);
    assert.deepEqual([res[0]!.value, res[2]!.value, res[3]!.value], ['second', 'x', 'second']);
    assert.equal(res[1]!.error?.code, 3, 'INVALID_ARGUMENT for the empty key only');
    assert.match(res[1]!.error!.message, /key must not be empty/);
    const del = await client.mdelete(['dup', 'never-written']);
    assert.deepEqual(
      del.map((d) => [d.key, d.deleted]),
      [
        ['dup', true],
        ['never-written', false],
      ],
    );
  });

  test('a key or text value that is not valid UTF-8 fails alone (INVALID_ARGUMENT), the rest of the call is answered', async () => {
    // protobufjs writes a lone surrogate as the 3 bytes ED A0 80, which are not UTF-8
    const c = cacheClient(addrs[0]!);
    type Results = {
      results: {
        key: string;
        found?: boolean;
        value?: string;
        version?: string;
        superseded?: boolean;
        error: { code: number; message: string } | null;
      }[];
    };
    // the valid key that those 3 bytes read as once decoded (each invalid byte becomes U+FFFD)
    const lookalike = 'utf8:\ufffd\ufffd\ufffd';
    const set = await c.call<Results>('MSet', {
      entries: [
        { key: 'utf8:a', value: 'A' },
        { key: 'utf8:\ud800', value: 'x' },
        { key: 'utf8:b', value: 'bad \ud800' },
        { key: lookalike, value: 'L' },
        { key: 'utf8:\ud800', value: 'y' }, // not the lookalike's last entry: it is still written
      ],
    });
    const s = set.res!.results;
    assert.deepEqual(
      s.map((r) => [r.error?.code ?? 0, r.error?.message ?? '']),
      [
        [0, ''],
        [3, 'key is not valid UTF-8'],
        [3, 'value is not valid UTF-8'],
        [0, ''],
        [3, 'key is not valid UTF-8'],
      ],
    );
    assert.equal(s[3]!.superseded, false);
    assert.notEqual(s[0]!.version, '0');
    const get = await c.call<Results>('MGet', { keys: ['utf8:a', 'utf8:\ud800', 'utf8:b', lookalike, 'utf8:\ud800'] });
    c.close();
    const g = get.res!.results;
    assert.deepEqual(
      g.map((r) => [r.found, r.value, r.error?.code ?? 0]),
      [
        [true, 'A', 0],
        [false, undefined, 3],
        [false, undefined, 0],
        [true, 'L', 0],
        [false, undefined, 3], // never taken for the lookalike (a duplicate of it once decoded)
      ],
    );
    assert.equal(g[1]!.error!.message, 'key is not valid UTF-8');
  });

  test('auto-batched gets through a ring-routing client: every key from its replicas, each caller its own value', async () => {
    const keys = Array.from({ length: 300 }, (_, i) => `routed:${i}`);
    await client.mset(keys.map((key) => ({ key, value: key.toUpperCase() })));
    const got = await Promise.all(keys.map((k) => routed.get(k)));
    assert.deepEqual(
      got.map((r) => r?.value),
      keys.map((k) => k.toUpperCase()),
    );
  });

  test('MAX_BATCH_KEYS + 1 keys: the whole call is INVALID_ARGUMENT', async () => {
    const keys = Array.from({ length: 1001 }, (_, i) => `k${i}`);
    await assert.rejects(
      client.mget(keys),
      (e: CacheClientError) =>
        e instanceof CacheClientError && e.code === 'INVALID_ARGUMENT' && /1001 keys.*MAX_BATCH_KEYS/.test(e.details),
    );
  });

  test('one node down: QUORUM still answers every key; ALL fails key by key, not the call', async () => {
    const keys = Array.from({ length: 50 }, (_, i) => `down:${i}`);
    await client.mset(
      keys.map((key) => ({ key, value: key })),
      { consistency: 'all' },
    );
    await nodes[2]!.stop('SIGKILL');
    const quorum = await client.mget(keys, { consistency: 'quorum' });
    assert.ok(
      quorum.every((r) => r.found && r.value === r.key),
      JSON.stringify(quorum.filter((r) => !r.found).slice(0, 3)),
    );
    const all = await client.mget(keys, { consistency: 'all' });
    assert.equal(all.length, 50);
    assert.ok(
      all.every((r) => r.error?.code === 'UNAVAILABLE' && !r.found),
      JSON.stringify(all.slice(0, 2)),
    );
  });
});

test('the rate limit counts a batch as its number of keys', { timeout: 30_000 }, async () => {
  const node = await startNode({ RATE_LIMIT: '10', RATE_LIMIT_BURST: '20' });
  const c = new CacheClient({ seeds: node.addr, retries: 0 });
  try {
    await assert.rejects(c.mget(Array.from({ length: 21 }, (_, i) => `r${i}`)), (e: CacheClientError) => e.code === 'RESOURCE_EXHAUSTED');
    assert.equal((await c.mget(['a', 'b'])).length, 2, 'a small batch fits the burst');
  } finally {
    c.close();
    await node.stop('SIGKILL');
  }
});

test('auto-batching: 200 concurrent gets (sets, deletes) become one MGet (MSet, MDelete), each caller its own answer; autoBatch: false sends 200 Gets', {
  timeout: 30_000,
}, async () => {
  const mport = await freePort();
  const node = await startNode({ METRICS_ADDR: `127.0.0.1:${mport}` });
  /** Calls of a method the node answered, every status code. */
  const count = async (method: string) => {
    const text = await (await fetch(`http://127.0.0.1:${mport}/metrics`)).text();
    return text
      .split('\n')
      .filter((l) => l.startsWith(`cache_requests_total{method="${method}",`))
      .reduce((n, l) => n + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
  };
  const batched = new CacheClient({ seeds: node.addr });
  const plain = new CacheClient({ seeds: node.addr, autoBatch: false });
  try {
    const keys = Array.from({ length: 200 }, (_, i) => `ab:${i}`);
    await plain.mset(keys.filter((_, i) => i % 4 !== 0).map((key) => ({ key, value: `v-${key}` })));
    await batched.members(); // the first view, so that the gets below are not held for it
    const before = { mget: await count('MGet'), get: await count('Get') };
    const got = await Promise.all(keys.map((k) => batched.get(k)));
    for (const [i, r] of got.entries()) assert.equal(r?.value, i % 4 === 0 ? undefined : `v-${keys[i]}`, keys[i]);
    assert.deepEqual({ mget: (await count('MGet')) - before.mget, get: (await count('Get')) - before.get }, { mget: 1, get: 0 });
    await assert.rejects(batched.get(''), (e: CacheClientError) => e.code === 'INVALID_ARGUMENT', 'bad input still fails its own caller');

    const gets = await count('Get');
    const alone = await Promise.all(keys.slice(0, 20).map((k) => plain.get(k)));
    assert.equal(alone.filter((r) => r !== undefined).length, 15);
    assert.equal((await count('Get')) - gets, 20, 'autoBatch: false: one Get per call');
    // sets and deletes of one turn: one MSet, one MDelete, each caller its own answer
    const calls = async () => ({
      mset: await count('MSet'),
      set: await count('Set'),
      mdel: await count('MDelete'),
      del: await count('Delete'),
    });
    const c0 = await calls();
    const sets = await Promise.all(keys.map((k, i) => batched.set(k, `new-${i}`, i % 2 ? { ttlMs: 60_000 } : {})));
    assert.ok(sets.every((r) => typeof r.version === 'bigint' && r.version > 0n));
    const c1 = await calls();
    assert.deepEqual([c1.mset - c0.mset, c1.set - c0.set], [1, 0], 'one MSet for 200 sets');
    const ttl = await plain.get(keys[1]!);
    assert.ok(ttl && ttl.ttlRemainingMs > 0 && ttl.ttlRemainingMs <= 60_000, 'each entry keeps its own TTL');
    const dels = await Promise.all([...keys.slice(0, 100), 'never-set'].map((k) => batched.delete(k)));
    assert.deepEqual(dels, [...Array(100).fill(true), false]);
    const c2 = await calls();
    assert.deepEqual([c2.mdel - c1.mdel, c2.del - c1.del], [1, 0], 'one MDelete for 101 deletes');
    const after = await plain.mget(keys.slice(95, 105));
    assert.deepEqual(
      after.map((r) => r.value),
      [...Array(5).fill(undefined), 'new-100', 'new-101', 'new-102', 'new-103', 'new-104'],
    );
  } finally {
    batched.close();
    plain.close();
    await node.stop('SIGKILL');
  }
});
