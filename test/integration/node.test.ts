/** One real node process, called over gRPC. */

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { _grpc_health_v1_HealthCheckResponse_ServingStatus as ServingStatus } from '../../src/protos/generated/health/grpc/health/v1/HealthCheckResponse.ts';
import { healthApi } from '../../src/protos/protos.ts';
import { cacheClient, status, type TestClient } from '../helpers/grpc.ts';
import { eventually, freePort, type NodeProc, ROOT, spawnNode, startNode } from '../helpers/procs.ts';

let node: NodeProc;
let c: TestClient;

before(async () => {
  node = await startNode({ MAX_KEY_SIZE: '64', MAX_RECV_MSG_SIZE: '64kb', MAX_SEND_MSG_SIZE: '64kb' });
  c = cacheClient(node.addr);
});
after(async () => {
  c?.close();
  await node?.stop('SIGKILL');
});

test('Set then Get returns the value and the version of the write', async () => {
  const s = await c.call<{ version: string }>('Set', { key: 'foo', value: 'bar' });
  assert.equal(s.err, undefined);
  assert.match(s.res!.version, /^\d+$/);
  assert.ok(BigInt(s.res!.version) > 0n);
  const g = await c.call<{ value: string; version: string; ttl_remaining_ms?: string }>('Get', { key: 'foo' });
  assert.equal(g.res!.value, 'bar');
  assert.equal(g.res!.version, s.res!.version);
});

test('a later Set gets a higher version and replaces the value', async () => {
  const a = await c.call<{ version: string }>('Set', { key: 'k2', value: 'one' });
  const b = await c.call<{ version: string }>('Set', { key: 'k2', value: 'two' });
  assert.ok(BigInt(b.res!.version) > BigInt(a.res!.version));
  assert.equal((await c.call<{ value: string }>('Get', { key: 'k2' })).res!.value, 'two');
});

test('binary values round-trip byte for byte', async () => {
  const data = Buffer.from([0, 1, 2, 254, 255, 0x80, 0xc3, 0x28]);
  await c.call('Set', { key: 'bin', data });
  const g = await c.call<{ data: Buffer; payload: string }>('Get', { key: 'bin' });
  assert.equal(g.res!.payload, 'data');
  assert.deepEqual(Buffer.from(g.res!.data), data);
});

test('unicode text values round-trip', async () => {
  await c.call('Set', { key: 'ключ', value: 'значение ✓ 😀' });
  assert.equal((await c.call<{ value: string }>('Get', { key: 'ключ' })).res!.value, 'значение ✓ 😀');
});

test('missing key answers NOT_FOUND', async () => {
  const g = await c.call('Get', { key: 'never-set' });
  assert.equal(g.err?.code, status.NOT_FOUND);
  assert.match(g.err!.details, /never-set/);
});

test('Delete removes the key and reports whether it existed', async () => {
  await c.call('Set', { key: 'gone', value: 'x' });
  const d = await c.call<{ deleted: boolean; version: string }>('Delete', { key: 'gone' });
  assert.equal(d.res!.deleted, true);
  assert.equal((await c.call('Get', { key: 'gone' })).err?.code, status.NOT_FOUND);
  const again = await c.call<{ deleted?: boolean }>('Delete', { key: 'gone' });
  assert.equal(again.res!.deleted ?? false, false);
});

test('ttl_ms expires the key; it is never returned afterwards', async () => {
  await c.call('Set', { key: 'short', value: 'v', ttl_ms: 300 });
  const g = await c.call<{ value: string; ttl_remaining_ms: string }>('Get', { key: 'short' });
  assert.equal(g.res!.value, 'v');
  assert.ok(Number(g.res!.ttl_remaining_ms) > 0 && Number(g.res!.ttl_remaining_ms) <= 300);
  await eventually(async () => (await c.call('Get', { key: 'short' })).err?.code === status.NOT_FOUND, 5_000, 50);
});

test('INVALID_ARGUMENT says what is wrong', async () => {
  const cases: [string, object, RegExp][] = [
    ['Set', { key: '', value: 'x' }, /key must not be empty/],
    ['Get', { key: '' }, /key must not be empty/],
    ['Delete', {}, /key must not be empty/],
    ['Set', { key: 'k'.repeat(65), value: 'x' }, /key is 65 bytes; the limit is 64 \(MAX_KEY_SIZE\)/],
    ['Get', { key: 'é'.repeat(40) }, /key is 80 bytes/],
    ['Set', { key: 'big', value: 'x'.repeat(64 * 1024) }, /value is 65536 bytes; the limit is/],
    ['Set', { key: 'bigbin', data: Buffer.alloc(64 * 1024) }, /value is 65536 bytes/],
    ['Get', { key: 'a', consistency: 7 }, /consistency 7 is not one of/],
    ['Set', { key: 'a', value: 'v', consistency: 9 }, /consistency 9/],
  ];
  for (const [method, req, re] of cases) {
    const r = await c.call(method, req);
    assert.equal(r.err?.code, status.INVALID_ARGUMENT, `${method} ${JSON.stringify(req).slice(0, 60)}`);
    assert.match(r.err!.details, re);
  }
});

test('a message far over MAX_RECV_MSG_SIZE is refused without harming the node', async () => {
  const r = await c.call('Set', { key: 'huge', value: 'x'.repeat(1024 * 1024) });
  assert.equal(r.err?.code, status.RESOURCE_EXHAUSTED);
  assert.equal((await c.call('Set', { key: 'after', value: 'ok' })).err, undefined);
});

test('a request that arrives after its absolute deadline (x-cache-deadline) is refused and not executed', async () => {
  const md = new grpc.Metadata();
  md.set('x-cache-deadline', String(Date.now() - 5_000)); // as if held up in the network for seconds
  const late = (await c.call('Set', { key: 'late', value: 'x' }, 2_000, md)).err;
  assert.equal(late?.code, status.DEADLINE_EXCEEDED);
  assert.match(late!.details, /after its deadline; not executed/);
  assert.equal((await c.call('Get', { key: 'late' })).err?.code, status.NOT_FOUND, 'the late write was not applied');
  const onTime = new grpc.Metadata();
  onTime.set('x-cache-deadline', String(Date.now() + 2_000));
  assert.equal((await c.call('Set', { key: 'late', value: 'y' }, 2_000, onTime)).err, undefined);
});

test('every consistency level is accepted by a single node', async () => {
  for (const consistency of [0, 1, 2, 3]) {
    assert.equal((await c.call('Set', { key: `c${consistency}`, value: 'v', consistency })).err, undefined);
    assert.equal((await c.call<{ value: string }>('Get', { key: `c${consistency}`, consistency })).res!.value, 'v');
  }
});

test('health service answers SERVING', async () => {
  const h = new (healthApi().Health)(node.addr, grpc.credentials.createInsecure());
  const check = (service: string) =>
    new Promise<number>((resolve, reject) => h.Check({ service }, (e, r) => (e || !r ? reject(e) : resolve(r.status))));
  assert.equal(await check(''), ServingStatus.SERVING);
  assert.equal(await check('cache.v1.CacheService'), ServingStatus.SERVING);
  h.close();
});

test('server reflection (v1 and v1alpha) lists the services', async () => {
  for (const version of ['v1', 'v1alpha']) {
    const def = protoLoader.loadSync(`${ROOT}node_modules/@grpc/reflection/build/proto/grpc/reflection/${version}/reflection.proto`, {
      keepCase: true,
    });
    const pkg = (grpc.loadPackageDefinition(def).grpc as any).reflection[version];
    const r = new pkg.ServerReflection(node.addr, grpc.credentials.createInsecure());
    const stream = r.ServerReflectionInfo();
    const got = new Promise<any>((resolve, reject) => {
      stream.on('data', resolve);
      stream.on('error', reject);
    });
    stream.write({ list_services: '*' });
    const msg = await got;
    stream.end();
    const names = msg.list_services_response.service.map((s: { name: string }) => s.name);
    assert.ok(names.includes('cache.v1.CacheService'), names.join(','));
    assert.ok(names.includes('grpc.health.v1.Health'), names.join(','));
    r.close();
  }
});

test('RESOURCE_EXHAUSTED when over RATE_LIMIT, at once and without queueing', async () => {
  const limited = await startNode({ RATE_LIMIT: '5', RATE_LIMIT_BURST: '5' });
  const lc = cacheClient(limited.addr);
  try {
    await lc.call('Set', { key: 'warm', value: 'x' }); // connect first
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => lc.call('Set', { key: `r${i}`, value: 'x' }, 2_000)));
    const refused = results.filter((r) => r.err?.code === status.RESOURCE_EXHAUSTED);
    const ok = results.filter((r) => !r.err);
    assert.ok(refused.length >= 25, `refused ${refused.length}`);
    assert.ok(ok.length >= 1 && ok.length <= 10, `ok ${ok.length}`);
    assert.match(refused[0].err!.details, /rate limit/);
  } finally {
    lc.close();
    await limited.stop('SIGKILL');
  }
});

test('SIGTERM: NOT_SERVING, calls refused, exit code 0', async () => {
  const n = await startNode();
  const nc = cacheClient(n.addr);
  assert.equal((await nc.call('Set', { key: 'a', value: 'b' })).err, undefined);
  const r = await n.stop('SIGTERM');
  assert.equal(r.code, 0);
  assert.ok(n.lines.some((l) => /shutting down/.test(l)));
  nc.close();
});

test('SIGTERM exits 0 when stdout has no reader any more (e.g. piped into head)', async () => {
  const n = await startNode();
  try {
    n.proc.stdout!.destroy(); // our end of the pipe closes: the node's next log line gets EPIPE
    const r = await n.stop('SIGTERM', 10_000); // SIGKILL after 10 s would leave code null
    assert.deepEqual(r, { code: 0, signal: null });
  } finally {
    await n.stop('SIGKILL');
  }
});

test('bad configuration exits non-zero before binding, naming the variable', async () => {
  const port = await freePort();
  for (const [env, re] of [
    [{ NUM_SHARDS: 'abc' }, /NUM_SHARDS="abc": a whole number from 1 to 4096/],
    [{ CAPACITY: '-1' }, /CAPACITY="-1"/],
    [{ EVICTION_POLICY: 'mru' }, /EVICTION_POLICY="mru": one of lru, lfu, fifo/],
  ] as [Record<string, string>, RegExp][]) {
    const p = spawnNode({ ADDR: `127.0.0.1:${port}`, ...env });
    const r = await p.exited;
    assert.equal(r.code, 2);
    assert.equal(p.lines.length, 1, p.lines.join('\n'));
    assert.match(p.lines[0], re);
    assert.ok(!p.lines.some((l) => /listening/.test(l)));
  }
});

test('CAPACITY evicts least recently used entries', async () => {
  const small = await startNode({ CAPACITY: '4', NUM_SHARDS: '1' });
  const sc = cacheClient(small.addr);
  try {
    for (const k of ['a', 'b', 'c', 'd']) await sc.call('Set', { key: k, value: k });
    await sc.call('Get', { key: 'a' }); // a is now most recently used
    await sc.call('Set', { key: 'e', value: 'e' }); // evicts b
    assert.equal((await sc.call('Get', { key: 'b' })).err?.code, status.NOT_FOUND);
    for (const k of ['a', 'c', 'd', 'e']) assert.equal((await sc.call<{ value: string }>('Get', { key: k })).res?.value, k);
  } finally {
    sc.close();
    await small.stop('SIGKILL');
  }
});
