/** Pure parts of the client library: options, retry policy, backoff, routing order, errors. */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { status } from '@grpc/grpc-js';
import { CacheClient } from '../../src/client/client.ts';
import { CacheClientError } from '../../src/client/errors.ts';
import { checkTtl, consistencyNumber, DEFAULTS, isAddress, parseSeeds, resolveOptions } from '../../src/client/options.ts';
import { backoffBounds, backoffDelay, isRetryable } from '../../src/client/retry.ts';
import { candidates, type MembersWire, RingView } from '../../src/client/routing.ts';
import { statusName as codeName } from '../../src/errors/status.ts';
import { HashRing } from '../../src/ring/ring.ts';

const rejectsInvalid = (fn: () => unknown, re: RegExp) =>
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof CacheClientError, String(e));
    assert.equal(e.code, 'INVALID_ARGUMENT');
    assert.equal(e.grpcCode, status.INVALID_ARGUMENT);
    assert.equal(e.attempts, 0);
    assert.match(e.details, re);
    return true;
  });

test('options: defaults', () => {
  const o = resolveOptions({ seeds: ['127.0.0.1:8080'] });
  assert.deepEqual(o.seeds, ['127.0.0.1:8080']);
  assert.equal(o.timeoutMs, 2000);
  assert.equal(o.retries, 3);
  assert.equal(o.routing, true);
  assert.equal(o.refreshIntervalMs, 5000);
  assert.deepEqual(o.backoff, { ...DEFAULTS.backoff });
});

test('options: overrides are kept, partial backoff is completed', () => {
  const o = resolveOptions({
    seeds: 'a:1, b:2,a:1',
    timeoutMs: 150,
    retries: 0,
    routing: false,
    refreshIntervalMs: 0,
    backoff: { initialMs: 10 },
  });
  assert.deepEqual(o.seeds, ['a:1', 'b:2']);
  assert.equal(o.timeoutMs, 150);
  assert.equal(o.retries, 0);
  assert.equal(o.routing, false);
  assert.equal(o.refreshIntervalMs, 0);
  assert.deepEqual(o.backoff, { initialMs: 10, maxMs: 1000, multiplier: 2, jitter: 0.5 });
});

test('options: bad values are INVALID_ARGUMENT naming the option', () => {
  rejectsInvalid(() => resolveOptions({ seeds: [] }), /at least one node address/);
  rejectsInvalid(() => resolveOptions({ seeds: '' }), /at least one node address/);
  rejectsInvalid(() => resolveOptions({ seeds: ['localhost'] }), /"localhost" is not host:port/);
  rejectsInvalid(() => resolveOptions({ seeds: ['h:70000'] }), /not host:port/);
  rejectsInvalid(() => resolveOptions({ seeds: ['h:1'], timeoutMs: 0 }), /timeoutMs must be a number from 1/);
  rejectsInvalid(() => resolveOptions({ seeds: ['h:1'], timeoutMs: Number.NaN }), /timeoutMs/);
  rejectsInvalid(() => resolveOptions({ seeds: ['h:1'], retries: 1.5 }), /retries must be an integer/);
  rejectsInvalid(() => resolveOptions({ seeds: ['h:1'], retries: -1 }), /retries/);
  rejectsInvalid(() => resolveOptions({ seeds: ['h:1'], backoff: { jitter: 2 } }), /backoff.jitter/);
  rejectsInvalid(() => resolveOptions(undefined as never), /options must be an object/);
  rejectsInvalid(() => new CacheClient({ seeds: [] }), /seeds/);
  rejectsInvalid(() => resolveOptions({ seeds: ['h:1'], token: 'two words' }), /token must be a non-empty string of visible ASCII/);
  rejectsInvalid(() => resolveOptions({ seeds: ['h:1'], token: 'x\r\nevil: 1' }), /token/);
  rejectsInvalid(() => resolveOptions({ seeds: ['h:1'], tls: { cert: 'PEM' } }), /tls.cert and tls.key go together/);
  rejectsInvalid(() => resolveOptions({ seeds: ['h:1'], tls: { ca: 42 as never } }), /tls.ca must be PEM text/);
});

test('options: a token becomes the authorization header; TLS options are kept', () => {
  const o = resolveOptions({ seeds: 'h:1', token: 'abc.def-1', tls: { ca: 'PEM', serverName: 'cache1' } });
  assert.equal(o.authorization, 'Bearer abc.def-1');
  assert.deepEqual(o.tls, { ca: 'PEM', serverName: 'cache1' });
  assert.equal(resolveOptions({ seeds: 'h:1' }).authorization, undefined);
});

test('addresses: host:port, IPv6 in brackets', () => {
  for (const a of ['127.0.0.1:8080', 'cache-1.svc:1', '[::1]:9000', 'localhost:65535']) assert.ok(isAddress(a), a);
  for (const a of ['127.0.0.1', ':8080', 'h:0', 'h:65536', '::1:80', 'h :1', 'a:b']) assert.ok(!isAddress(a), a);
  assert.deepEqual(parseSeeds(' a:1 ,,b:2 '), ['a:1', 'b:2']);
});

test('consistency names map to the proto enum', () => {
  assert.equal(consistencyNumber(undefined), 0);
  assert.equal(consistencyNumber('one'), 1);
  assert.equal(consistencyNumber('quorum'), 2);
  assert.equal(consistencyNumber('all'), 3);
  rejectsInvalid(() => consistencyNumber('ALL' as never), /'one', 'quorum' or 'all'/);
  rejectsInvalid(() => consistencyNumber('toString' as never), /consistency/);
  rejectsInvalid(() => consistencyNumber(2 as never), /consistency/);
});

test('ttlMs must be a whole number >= 0', () => {
  assert.equal(checkTtl(undefined), 0);
  assert.equal(checkTtl(0), 0);
  assert.equal(checkTtl(60_000), 60_000);
  rejectsInvalid(() => checkTtl(-1), /ttlMs/);
  rejectsInvalid(() => checkTtl(1.5), /ttlMs/);
  rejectsInvalid(() => checkTtl('10s'), /ttlMs/);
});

test('retry policy: UNAVAILABLE always, DEADLINE_EXCEEDED for reads only, nothing else', () => {
  assert.equal(isRetryable(status.UNAVAILABLE, true), true);
  assert.equal(isRetryable(status.UNAVAILABLE, false), true);
  assert.equal(isRetryable(status.DEADLINE_EXCEEDED, true), true);
  assert.equal(isRetryable(status.DEADLINE_EXCEEDED, false), false);
  for (const code of [
    status.OK,
    status.INVALID_ARGUMENT,
    status.NOT_FOUND,
    status.RESOURCE_EXHAUSTED,
    status.INTERNAL,
    status.CANCELLED,
    status.UNKNOWN,
    status.FAILED_PRECONDITION,
    status.PERMISSION_DENIED,
    status.UNIMPLEMENTED,
  ]) {
    assert.equal(isRetryable(code, true), false, codeName(code));
    assert.equal(isRetryable(code, false), false, codeName(code));
  }
});

test('backoff: exponential, capped, jitter within bounds', () => {
  const b = { initialMs: 50, maxMs: 1000, multiplier: 2, jitter: 0.5 };
  assert.deepEqual(backoffBounds(7, b), [
    [25, 50],
    [50, 100],
    [100, 200],
    [200, 400],
    [400, 800],
    [500, 1000],
    [500, 1000],
  ]);
  // No jitter: exact schedule.
  const exact = { ...b, jitter: 0 };
  assert.deepEqual(
    [0, 1, 2, 3, 4, 5].map((i) => backoffDelay(i, exact, Math.random)),
    [50, 100, 200, 400, 800, 1000],
  );
  // Full jitter: anywhere in [0, base).
  assert.equal(
    backoffDelay(3, { ...b, jitter: 1 }, () => 0),
    0,
  );
  assert.equal(
    backoffDelay(3, { ...b, jitter: 1 }, () => 0.5),
    200,
  );
  // Random draws stay within the bounds and are not all equal.
  const draws = Array.from({ length: 200 }, () => backoffDelay(2, b));
  assert.ok(draws.every((d) => d >= 100 && d < 200));
  assert.ok(new Set(draws).size > 100);
});

test('CacheClientError: code name, number, details, message', () => {
  const e = new CacheClientError(status.UNAVAILABLE, 'connection refused', { method: 'Get', address: 'h:1', attempts: 4 });
  assert.ok(e instanceof Error);
  assert.equal(e.name, 'CacheClientError');
  assert.equal(e.code, 'UNAVAILABLE');
  assert.equal(e.grpcCode, 14);
  assert.equal(e.details, 'connection refused');
  assert.equal(e.attempts, 4);
  assert.equal(e.message, 'Get on h:1: UNAVAILABLE: connection refused');
  assert.equal(new CacheClientError('NOT_FOUND', 'x').grpcCode, 5);
  assert.equal(codeName(999), 'UNKNOWN');
});

const members = (states: Record<string, 0 | 1 | 2 | 3 | 4>, extra: Partial<MembersWire> = {}): MembersWire => ({
  members: Object.entries(states).map(([id, state]) => ({
    node_id: id,
    address: `addr-${id}:1`,
    state,
    incarnation: '1',
    clock_offset_ms: '0',
  })),
  ring_version: 'v1',
  replication_factor: 2,
  vnodes: 16,
  ...extra,
});

test('RingView builds the same ring as the nodes (non-LEFT members, vnodes from the answer)', () => {
  const view = RingView.from(members({ a: 1, b: 2, c: 3, d: 4 }))!;
  const ring = new HashRing(16);
  for (const id of ['a', 'b', 'c']) ring.add(id);
  assert.deepEqual(view.ring.nodes(), ['a', 'b', 'c']);
  for (let i = 0; i < 500; i++) {
    const key = `k${i}`;
    assert.deepEqual(
      view.replicas(key).map((m) => m.nodeId),
      ring.preferenceList(key, 2),
    );
    assert.deepEqual(
      view.replicas(key).map((m) => m.address),
      ring.preferenceList(key, 2).map((id) => `addr-${id}:1`),
    );
  }
  assert.equal(view.replicationFactor, 2);
  assert.equal(view.ringVersion, 'v1');
  assert.deepEqual(view.addresses().sort(), ['addr-a:1', 'addr-b:1', 'addr-c:1']);
});

test('RingView reuses the ring when the node set is unchanged, rebuilds it otherwise', () => {
  const v1 = RingView.from(members({ a: 1, b: 1 }))!;
  const v2 = RingView.from(members({ b: 2, a: 1 }), v1)!;
  assert.equal(v2.ring, v1.ring);
  assert.equal(v2.members.get('b')!.state, 2);
  const v3 = RingView.from(members({ a: 1, b: 1, c: 1 }), v2)!;
  assert.notEqual(v3.ring, v2.ring);
  const v4 = RingView.from(members({ a: 1, b: 1, c: 1 }, { vnodes: 8 }), v3)!;
  assert.notEqual(v4.ring, v3.ring);
  assert.equal(v4.ring.vnodesPerNode, 8);
});

test('RingView refuses answers it cannot route with', () => {
  assert.equal(RingView.from(members({})), undefined);
  assert.equal(RingView.from(members({ a: 4 })), undefined);
  assert.equal(RingView.from(members({ a: 1 }, { vnodes: 0 })), undefined);
  assert.equal(RingView.from(members({ a: 1 }, { replication_factor: 0 })), undefined);
});

test('candidates: replicas in preference order, then other members, then seeds; troubled ones last', () => {
  const view = RingView.from(members({ a: 1, b: 1, c: 1, d: 1 }))!;
  const key = 'user:1';
  const pref = view.replicas(key).map((m) => m.address);
  const others = ['addr-a:1', 'addr-b:1', 'addr-c:1', 'addr-d:1'].filter((a) => !pref.includes(a));
  const healthy = () => 0 as const;
  const list = candidates(view, key, ['seed:1', pref[1]!], healthy);
  assert.deepEqual(
    list.map((c) => c.address),
    [...pref, ...others.sort((x, y) => view.addresses().indexOf(x) - view.addresses().indexOf(y)), 'seed:1'],
  );
  assert.deepEqual(
    list.map((c) => c.replica),
    [true, true, false, false, false],
  );

  // The first replica failed recently: it goes last; the second replica comes first.
  const failed = candidates(view, key, ['seed:1'], (a) => (a === pref[0] ? 2 : 0));
  assert.equal(failed[0]!.address, pref[1]);
  assert.equal(failed.at(-1)!.address, pref[0]);

  // The view says the first replica is DEAD, the second SUSPECT: healthy non-replicas first.
  const states: Record<string, 0 | 1 | 2 | 3 | 4> = { a: 1, b: 1, c: 1, d: 1 };
  states[view.replicas(key)[0]!.nodeId] = 3;
  states[view.replicas(key)[1]!.nodeId] = 2;
  const v2 = RingView.from(members(states))!;
  const order = candidates(v2, key, [], healthy).map((c) => c.address);
  assert.deepEqual(order.slice(-2), [pref[1], pref[0]]);
});

test('candidates: without a key or a view, seeds first', () => {
  const view = RingView.from(members({ a: 1, b: 1 }))!;
  assert.deepEqual(
    candidates(undefined, 'k', ['s1:1', 's2:1'], () => 0).map((c) => c.address),
    ['s1:1', 's2:1'],
  );
  assert.deepEqual(
    candidates(view, undefined, ['s1:1'], () => 0).map((c) => c.address),
    ['s1:1', 'addr-a:1', 'addr-b:1'],
  );
  assert.deepEqual(
    candidates(undefined, undefined, ['s1:1', 's2:1'], (a) => (a === 's1:1' ? 2 : 0)).map((c) => c.address),
    ['s2:1', 's1:1'],
  );
  // A seed that the view knows as LEFT is tried last.
  const left = RingView.from(members({ a: 1, b: 4 }))!;
  assert.deepEqual(
    candidates(left, undefined, ['addr-b:1', 's:1'], () => 0).map((c) => c.address),
    ['s:1', 'addr-a:1', 'addr-b:1'],
  );
});

test('argument errors are thrown before anything is sent', async () => {
  const c = new CacheClient({ seeds: ['127.0.0.1:1'], retries: 0, timeoutMs: 100 });
  try {
    await assert.rejects(
      c.set('k', 42 as never),
      (e: CacheClientError) => e.code === 'INVALID_ARGUMENT' && /value must be a string, Buffer or Uint8Array/.test(e.details),
    );
    await assert.rejects(c.set('k', 'v', { ttlMs: -5 }), (e: CacheClientError) => e.code === 'INVALID_ARGUMENT' && e.method === 'Set');
    await assert.rejects(
      c.get(7 as never),
      (e: CacheClientError) => e.code === 'INVALID_ARGUMENT' && /key must be a string/.test(e.details),
    );
    await assert.rejects(c.delete('k', { consistency: 'most' as never }), (e: CacheClientError) => e.code === 'INVALID_ARGUMENT');
    await assert.rejects(
      c.get('k', { timeoutMs: -1 }),
      (e: CacheClientError) => e.code === 'INVALID_ARGUMENT' && /timeoutMs/.test(e.details),
    );
    await assert.rejects(c.stats('nohost'), (e: CacheClientError) => e.code === 'INVALID_ARGUMENT' && /not host:port/.test(e.details));
  } finally {
    c.close();
  }
  await assert.rejects(c.get('k'), (e: CacheClientError) => e.code === 'CANCELLED' && /closed/.test(e.details));
});
