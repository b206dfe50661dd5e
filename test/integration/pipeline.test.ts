/**
 * Pipelining of auto-batched calls (ClientOptions.maxInFlight) against a real node: 64 workers
 * out of step (each awaits its own call, then does a varying amount of other work before the
 * next) make far fewer calls than keys, every answer right; close() fails the calls waiting;
 * with the near cache, reads and kept writes that waited install what they read or wrote, and
 * a later write by another client still reaches the readers.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CacheClient, type CacheClientError } from '../../src/index.ts';
import { eventually, freePort, startNode } from '../helpers/procs.ts';

/** A few event-loop turns of other work (setImmediate: later turns, as real work would be). */
async function turns(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise<void>((r) => setImmediate(r));
}

test('64 out-of-step workers: far fewer calls than keys, every answer right; close() fails what waits', { timeout: 60_000 }, async () => {
  const mport = await freePort();
  const node = await startNode({ METRICS_ADDR: `127.0.0.1:${mport}` });
  /** Calls of these methods the node answered, every status code. */
  const count = async (...methods: string[]) => {
    const text = await (await fetch(`http://127.0.0.1:${mport}/metrics`)).text();
    return text
      .split('\n')
      .filter((l) => methods.some((m) => l.startsWith(`cache_requests_total{method="${m}",`)))
      .reduce((n, l) => n + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
  };
  const client = new CacheClient({ seeds: node.addr, maxInFlight: 4 });
  const paused = new CacheClient({ seeds: node.addr, maxInFlight: 1, timeoutMs: 1_000, retries: 0 });
  let stopped = false;
  try {
    const KEYS = 500;
    await client.mset(Array.from({ length: KEYS }, (_, i) => ({ key: `p:${i}`, value: `v${i}` })));
    await client.members(); // the first view, so that no call is held for it
    const methods = ['Get', 'MGet', 'Set', 'MSet'];
    const before = await count(...methods);
    const WORKERS = 64;
    const EACH = 30;
    let ops = 0;
    const worker = async (w: number) => {
      await turns(w % 7); // start out of step
      for (let i = 0; i < EACH; i++) {
        if (i % 10 === 3) {
          // a write of the worker's own key, then the read of it sees it
          const s = await client.set(`own:${w}`, `w${w}-${i}`);
          assert.equal(typeof s.version, 'bigint');
          const r = await client.get(`own:${w}`);
          assert.equal(r?.value, `w${w}-${i}`);
          ops += 2;
        } else {
          const k = (w * 31 + i * 7) % (KEYS + 20); // some keys missing
          const r = await client.get(`p:${k}`);
          assert.equal(r?.value, k < KEYS ? `v${k}` : undefined, `p:${k}`);
          ops++;
        }
        await turns((w + i) % 4);
      }
    };
    await Promise.all(Array.from({ length: WORKERS }, (_, w) => worker(w)));
    const calls = (await count(...methods)) - before;
    assert.ok(calls > 0);
    assert.ok(calls * 4 <= ops, `${calls} calls for ${ops} keys: at least 4 keys per call expected`);

    // close() while calls wait: the node stops answering, one get is outstanding, ten wait
    await paused.members();
    process.kill(node.pid, 'SIGSTOP');
    stopped = true;
    const order: string[] = [];
    const first = paused.get('p:1').then(
      () => order.push('first answered'),
      (e: CacheClientError) => order.push(`first ${e.code}`),
    );
    await turns(1); // the first is sent at the end of its turn; the next turn's calls wait for it
    const waiting = Array.from({ length: 10 }, (_, i) =>
      paused.get(`p:${i + 2}`).then(
        () => order.push('waiting answered'),
        (e: CacheClientError) => order.push(`waiting ${e.code}`),
      ),
    );
    await turns(2);
    assert.deepEqual(order, [], 'nothing answered while the node is stopped');
    paused.close();
    await Promise.all(waiting);
    assert.deepEqual(order, Array(10).fill('waiting CANCELLED'), 'the waiting calls fail at close, before the outstanding one');
    await first;
    assert.equal(order[10], 'first CANCELLED');
  } finally {
    client.close();
    paused.close();
    if (stopped) process.kill(node.pid, 'SIGCONT');
    await node.stop('SIGKILL');
  }
});

test('near cache with maxInFlight 1: waiting misses and kept writes install, answers right, invalidations still arrive', {
  timeout: 60_000,
}, async () => {
  const node = await startNode();
  const reader = new CacheClient({ seeds: node.addr, maxInFlight: 1, nearCache: { maxEntries: 10_000, maxTtlMs: 60_000 } });
  const writer = new CacheClient({ seeds: node.addr, autoBatch: false });
  try {
    const KEYS = 100;
    await writer.mset(Array.from({ length: KEYS }, (_, i) => ({ key: `n:${i}`, value: `a${i}` })));
    await reader.members();
    const WORKERS = 32;
    const run = async (expect: (k: number) => string, writes: boolean) => {
      await Promise.all(
        Array.from({ length: WORKERS }, async (_, w) => {
          await turns(w % 5);
          for (let i = 0; i < 20; i++) {
            if (writes && i % 5 === 2) {
              await reader.set(`nown:${w}`, `w${w}-${i}`);
              assert.equal((await reader.get(`nown:${w}`))?.value, `w${w}-${i}`, 'a kept write reads back');
            }
            const k = (w * 13 + i * 3) % KEYS;
            assert.equal((await reader.get(`n:${k}`))?.value, expect(k), `n:${k}`);
            await turns((w + i) % 3);
          }
        }),
      );
    };
    await run((k) => `a${k}`, true);
    await run((k) => `a${k}`, true); // the near stream is open now: misses reserve, wait, install
    const stats = reader.nearCacheStats()!;
    assert.ok(stats.hits > 0, `near-cache hits after installs through waiting batches: ${JSON.stringify(stats)}`);
    await writer.mset(Array.from({ length: KEYS }, (_, i) => ({ key: `n:${i}`, value: `b${i}` })));
    await eventually(async () => {
      for (let i = 0; i < KEYS; i++) assert.equal((await reader.get(`n:${i}`))?.value, `b${i}`);
      return true;
    });
    await run((k) => `b${k}`, false);
  } finally {
    reader.close();
    writer.close();
    await node.stop('SIGKILL');
  }
});
