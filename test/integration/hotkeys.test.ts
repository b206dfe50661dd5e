/** Hot keys of a real node: ClusterService/Stats, `cachectl stats --json` and the metric. */

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, test } from 'node:test';
import { promisify } from 'node:util';
import { CacheClient } from '../../src/index.ts';
import { eventually, freePort, type NodeProc, ROOT, startNode } from '../helpers/procs.ts';

const run = promisify(execFile);

let node: NodeProc | undefined;
let client: CacheClient | undefined;
after(async () => {
  client?.close();
  await node?.stop('SIGKILL');
});

test('a key hammered among many is the hottest: Stats, cachectl stats --json, cache_hot_key_requests', { timeout: 60_000 }, async () => {
  const mport = await freePort();
  node = await startNode({ METRICS_ADDR: `127.0.0.1:${mport}` });
  // Every call its own request (no auto-batching: one MGet would read a repeated key once).
  client = new CacheClient({ seeds: [node.addr], autoBatch: false });
  const c = client;
  await c.set('hot', 'x');
  await c.mset(Array.from({ length: 200 }, (_, i) => ({ key: `cold:${i}`, value: 'y' })));
  const HOT = 1600;
  let requests = 1; // the set above
  let next = 0;
  // 32 callers in flight: `hot` for 4 in 5 calls, a cold key (each read a few times) otherwise.
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (next < HOT * 1.25) {
        const i = next++;
        if (i % 5 === 4) await c.get(`cold:${i % 200}`);
        else {
          requests++;
          await c.get('hot');
        }
      }
    }),
  );
  assert.equal(requests, HOT + 1);

  // The node counts a random 1 in 8 requests with weight 8: within 30 % of the truth (over 4
  // standard deviations), and at least 10 times any cold key's count.
  const s = (await eventually(async () => {
    const st = await c.stats(node!.addr);
    return st.hotKeys.length > 0 ? st : undefined;
  }))!;
  const [first, second] = s.hotKeys;
  assert.equal(first!.key, 'hot', JSON.stringify(s.hotKeys));
  assert.ok(Math.abs(first!.count - requests) < 0.3 * requests, `count ${first!.count} against ${requests} requests`);
  assert.ok(first!.error >= 0 && first!.error <= first!.count);
  if (second) assert.ok(second.count * 10 < first!.count, JSON.stringify(s.hotKeys));
  assert.ok(s.hotKeys.length <= 10);

  const cli = await run(process.execPath, [`${ROOT}dist/cli/cachectl.js`, 'stats', '--json', '--addr', node.addr], { timeout: 20_000 });
  const j = JSON.parse(cli.stdout) as { hotKeys: { key: string; count: number; error: number }[] };
  assert.equal(j.hotKeys[0]!.key, 'hot');
  assert.ok(j.hotKeys[0]!.count >= first!.count, 'counts only grow between the two calls (no minute has passed)');

  const body = await (await fetch(`http://127.0.0.1:${mport}/metrics`)).text();
  const series = body.split('\n').filter((l) => l.startsWith('cache_hot_key_requests{'));
  assert.ok(series.length >= 1 && series.length <= 10, series.join('\n'));
  const hot = series.find((l) => l.includes('key="hot"'));
  assert.ok(hot, series.join('\n'));
  assert.ok(Math.abs(Number(hot.split(' ').pop()) - requests) < 0.3 * requests, hot);
});
