/**
 * The edges of a node, with real processes: requests that cannot be decoded, keys that are
 * not UTF-8, health that tells the truth before and after the node joined its cluster, and
 * a node whose PEERS name only itself.
 */

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { healthApi } from '../../src/protos/protos.ts';
import { cacheClient, status } from '../helpers/grpc.ts';
import { eventually, freePort, type NodeProc, spawnNode, startNode } from '../helpers/procs.ts';

const cleanup: NodeProc[] = [];
const clients: grpc.Client[] = [];
after(async () => {
  for (const c of clients) c.close();
  await Promise.all(cleanup.map((n) => n.stop('SIGKILL')));
});

let node: NodeProc;
before(async () => {
  node = await startNode();
  cleanup.push(node);
});

/** Calls `path` with these exact request bytes; resolves with the status and the raw answer. */
function raw(addr: string, path: string, body: Buffer): Promise<{ code: number; details: string; res?: Buffer }> {
  const c = new grpc.Client(addr, grpc.credentials.createInsecure());
  clients.push(c);
  return new Promise((resolve) => {
    c.makeUnaryRequest(
      path,
      (b: Buffer) => b,
      (b: Buffer) => b,
      body,
      new grpc.Metadata(),
      { deadline: Date.now() + 5_000 },
      (err, res) => resolve(err ? { code: err.code, details: err.details } : { code: status.OK, details: '', res }),
    );
  });
}

/** A length-delimited field: tag (field, wire type 2), length, bytes. */
const field = (n: number, bytes: number[] | Buffer) => Buffer.from([(n << 3) | 2, bytes.length, ...bytes]);

test('a request body that cannot be decoded gets INVALID_ARGUMENT saying why, on every service', async () => {
  const truncated = Buffer.from([0x0a, 0x05, 0x61]); // field 1 claims 5 bytes, 1 follows
  for (const path of ['/cache.v1.CacheService/Get', '/cache.v1.CacheService/Set', '/cache.v1.CacheService/Delete']) {
    const r = await raw(node.addr, path, truncated);
    assert.equal(r.code, status.INVALID_ARGUMENT, path);
    assert.match(r.details, /^cannot decode the (Get|Set|Delete) request: truncated length-delimited field$/, path);
  }
  for (const path of [
    '/cache.v1.ClusterService/Members',
    '/cache.v1.ClusterService/Join',
    '/grpc.health.v1.Health/Check',
    '/cache.peer.v1.PeerService/Ping',
  ]) {
    const r = await raw(node.addr, path, Buffer.from([0x17])); // field 2 with wire type 7, which does not exist
    assert.equal(r.code, status.INVALID_ARGUMENT, `${path}: ${r.details}`);
    assert.match(r.details, /^cannot decode the \w+ request: /, path);
  }
});

test('a message on the peer stream that cannot be decoded ends the stream with INVALID_ARGUMENT', async () => {
  const c = new grpc.Client(node.addr, grpc.credentials.createInsecure());
  clients.push(c);
  const stream = c.makeBidiStreamRequest(
    '/cache.peer.v1.PeerService/Exchange',
    (b: Buffer) => b,
    (b: Buffer) => b,
  );
  const ended = new Promise<grpc.ServiceError>((resolve) => stream.on('error', resolve));
  stream.on('data', () => undefined);
  stream.write(Buffer.from([0x12, 0x09, 0x08])); // an Op of 9 bytes with 1 present
  const err = await ended;
  assert.equal(err.code, status.INVALID_ARGUMENT);
  assert.match(err.details, /^cannot decode the Exchange request: truncated/);
});

test('a key or text value that is not valid UTF-8 is refused; \\xff and \\xfe do not collide', async () => {
  for (const bad of [[0xff], [0xfe]]) {
    const set = await raw(node.addr, '/cache.v1.CacheService/Set', Buffer.concat([field(1, bad), field(2, [0x76])]));
    assert.equal(set.code, status.INVALID_ARGUMENT);
    assert.equal(set.details, 'cannot decode the Set request: key is not valid UTF-8');
    const get = await raw(node.addr, '/cache.v1.CacheService/Get', field(1, bad));
    assert.equal(get.code, status.INVALID_ARGUMENT);
  }
  const value = await raw(node.addr, '/cache.v1.CacheService/Set', Buffer.concat([field(1, [0x6b]), field(2, [0x61, 0xc3])]));
  assert.equal(value.code, status.INVALID_ARGUMENT);
  assert.equal(value.details, 'cannot decode the Set request: value is not valid UTF-8');
  const c = cacheClient(node.addr);
  try {
    assert.equal((await c.call('Get', { key: '\ufffd' })).err?.code, status.NOT_FOUND, 'nothing was stored under U+FFFD');
    assert.equal((await c.call('Get', { key: 'k' })).err?.code, status.NOT_FOUND, 'nor the key of the bad value');
    // bytes are bytes: a binary value may hold anything
    assert.equal(
      (await raw(node.addr, '/cache.v1.CacheService/Set', Buffer.concat([field(1, [0x62]), field(5, [0xff, 0xfe])]))).code,
      status.OK,
    );
  } finally {
    c.close();
  }
});

function health(addr: string, service = ''): Promise<string> {
  const h = new (healthApi().Health)(addr, grpc.credentials.createInsecure());
  clients.push(h);
  return new Promise((resolve, reject) =>
    h.Check({ service }, { deadline: Date.now() + 3_000 }, (err, res) => {
      if (err || !res) reject(err ?? new Error('empty answer'));
      else resolve(['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'][res.status] ?? String(res.status));
    }),
  );
}

test('health says NOT_SERVING until the node has joined its cluster, SERVING after', async () => {
  const [pa, pb] = [await freePort(), await freePort()];
  const [a, b] = [`127.0.0.1:${pa}`, `127.0.0.1:${pb}`];
  const env = { HEARTBEAT_INTERVAL: '100ms', SUSPECT_TIMEOUT: '500ms', DEAD_TIMEOUT: '1s' };
  const first = await startNode({ ...env, ADDR: a, PEERS: b });
  cleanup.push(first);
  assert.equal(await health(a), 'NOT_SERVING', 'the node that has not joined yet');
  assert.equal(await health(a, 'cache.v1.CacheService'), 'NOT_SERVING');
  assert.equal(await health(a, 'liveness'), 'SERVING', 'alive all the same (the liveness probe must not kill a node that is joining)');
  const c = cacheClient(a);
  const refused = await c.call('Get', { key: 'k' });
  c.close();
  assert.equal(refused.err?.code, status.UNAVAILABLE);
  assert.match(refused.err!.details, /has not joined its cluster yet/);
  const second = await startNode({ ...env, ADDR: b, PEERS: a });
  cleanup.push(second);
  await eventually(async () => (await health(a)) === 'SERVING' && (await health(b)) === 'SERVING');
  assert.equal(await health(a, 'cache.v1.ClusterService'), 'SERVING');
  assert.equal(first.lines.filter((l) => l.includes('serving client calls')).length, 1);
});

test('a node whose PEERS name only itself serves alone and says so once (not on every join attempt)', async () => {
  const port = await freePort();
  const alone = spawnNode({ ADDR: `127.0.0.1:${port}`, PEERS: `localhost:${port}` });
  cleanup.push(alone);
  await alone.waitFor(/serving client calls: every PEERS entry is this node itself/);
  assert.equal(await health(`127.0.0.1:${port}`), 'SERVING');
  // the seed keeps being tried (a name may later resolve to other nodes) at its backoff, silently
  const linesNow = alone.lines.length;
  await new Promise((r) => setTimeout(r, 1_500)); // ~7 join ticks of 200 ms
  const later = alone.lines.slice(linesNow);
  assert.deepEqual(
    later.filter((l) => /joined the cluster|serving/.test(l)),
    [],
    later.join('\n'),
  );
  assert.equal(alone.lines.filter((l) => l.includes('serving client calls')).length, 1);
});

test('request metadata over 16 KiB is refused at once with RESOURCE_EXHAUSTED; far larger fails at once too, and the node serves on', async () => {
  const c = cacheClient(node.addr);
  try {
    const md = (bytes: number) => {
      const m = new grpc.Metadata();
      m.set('x-big', 'a'.repeat(bytes));
      return m;
    };
    assert.equal((await c.call('Set', { key: 'm', value: 'v' }, 10_000, md(8 * 1024))).err, undefined, '8 KiB is fine');
    const over = (await c.call('Set', { key: 'm2', value: 'v' }, 10_000, md(20 * 1024))).err;
    assert.equal(over?.code, status.RESOURCE_EXHAUSTED);
    assert.match(over!.details, /^request metadata is \d+ bytes; the limit is 16384/);
    assert.equal((await c.call('Get', { key: 'm2' })).err?.code, status.NOT_FOUND, 'the refused call did not run');
    // 256 KiB breaks HTTP/2's own header limits: the transport resets the connection, which the
    // client sees at once (no hang until its deadline); the server cannot answer it with a status.
    const huge = (await c.call('Set', { key: 'm3', value: 'v' }, 10_000, md(256 * 1024))).err;
    assert.ok(huge && huge.code !== status.DEADLINE_EXCEEDED, `failed at once: ${huge?.code} ${huge?.details}`);
  } finally {
    c.close();
  }
  const again = cacheClient(node.addr);
  try {
    assert.equal((await again.call<{ value: string }>('Get', { key: 'm' })).res?.value, 'v');
  } finally {
    again.close();
  }
});
