/** Prometheus endpoint of a real node. */

import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { cacheClient } from '../helpers/grpc.ts';
import { freePort, type NodeProc, startNode } from '../helpers/procs.ts';

let node: NodeProc | undefined;
after(async () => {
  await node?.stop('SIGKILL');
});

test('GET /metrics exposes request counts by status, latency histograms, store and cluster gauges', async () => {
  const mport = await freePort();
  node = await startNode({ METRICS_ADDR: `127.0.0.1:${mport}` });
  const c = cacheClient(node.addr);
  await c.call('Set', { key: 'a', value: 'x' });
  await c.call('Get', { key: 'a' });
  await c.call('Get', { key: 'missing' });
  await c.call('Get', { key: '' });
  c.close();
  const res = await fetch(`http://127.0.0.1:${mport}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /text\/plain/);
  const body = await res.text();
  /** Value of the series `name` whose labels include all of `labels` (label order does not matter). */
  const value = (name: string, labels: Record<string, string> = {}) => {
    for (const line of body.split('\n')) {
      const m = /^([a-z_]+)\{([^}]*)\} (\S+)$/.exec(line);
      if (!m || m[1] !== name) continue;
      if (Object.entries(labels).every(([k, v]) => m[2].includes(`${k}="${v}"`))) return Number(m[3]);
    }
    return NaN;
  };
  assert.equal(value('cache_requests_total', { method: 'Set', code: 'OK' }), 1);
  assert.equal(value('cache_requests_total', { method: 'Get', code: 'OK' }), 1);
  assert.equal(value('cache_requests_total', { method: 'Get', code: 'NOT_FOUND' }), 1);
  assert.equal(value('cache_requests_total', { method: 'Get', code: 'INVALID_ARGUMENT' }), 1);
  assert.equal(value('cache_request_duration_seconds_count', { method: 'Get' }), 3);
  assert.equal(value('cache_items'), 1);
  assert.equal(value('cache_hits_total'), 1);
  assert.equal(value('cache_members', { state: 'alive' }), 1);
  assert.ok(value('cache_stored_bytes') > 0);
  for (const name of [
    'process_cpu_seconds_total',
    'nodejs_heap_size_used_bytes',
    'cache_hints_pending',
    'cache_anti_entropy_keys_repaired_total',
    'cache_anti_entropy_rebuilds_total',
    'cache_anti_entropy_rounds_skipped_total',
    'cache_membership_messages_total',
    'cache_quorum_failures_total',
  ]) {
    assert.match(body, new RegExp(`^# TYPE ${name} `, 'm'), name);
  }
  assert.equal((await fetch(`http://127.0.0.1:${mport}/other`)).status, 404);
});
