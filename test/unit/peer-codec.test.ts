/** The peer Exchange codecs must agree with protobufjs on proto/cache/peer/v1/peer.proto. */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import {
  decodeBatch,
  decodeBatchReply,
  encodeBatch,
  encodeBatchReply,
  type PeerBatch,
  type PeerBatchReply,
  Reader,
  Writer,
} from '../../src/wire/codec.ts';

const OpKind = { Write: 1, Read: 2 } as const;

import type { EntryRecord } from '../../src/store/store.ts';

const root = new protobuf.Root().loadSync(fileURLToPath(new URL('../../proto/cache/peer/v1/peer.proto', import.meta.url)), {
  keepCase: true,
});
const Batch = root.lookupType('cache.peer.v1.Batch');
const Reply = root.lookupType('cache.peer.v1.BatchReply');
const asObject = (t: protobuf.Type, buf: Buffer) => t.toObject(t.decode(buf), { longs: Number, defaults: false, oneofs: false });

const wall = 1_763_900_000_123;
const text: EntryRecord = {
  value: 'héllo 😀',
  binary: false,
  wall,
  logical: 7,
  node: 'node-a',
  expiresAt: wall + 60_000,
  tombstone: false,
};
const binary: EntryRecord = {
  value: '\u0000\u00ff\u0001',
  binary: true,
  wall: wall + 1,
  logical: 0,
  node: 'node-b',
  expiresAt: 0,
  tombstone: false,
};
const tomb: EntryRecord = {
  value: '',
  binary: false,
  wall: wall + 2,
  logical: 65535,
  node: 'node-c',
  expiresAt: wall + 9,
  tombstone: true,
};
const big: EntryRecord = { ...text, value: 'v'.repeat(70_000) }; // length prefixes of 3 bytes inside nested messages

test('Batch: our encoding is what protobufjs reads, and decodes back to the same ops', () => {
  const b: PeerBatch = {
    seq: 4_000_000_000,
    hlcWall: wall,
    hlcLogical: 3,
    from: 'node-a',
    ops: [
      { kind: OpKind.Write, key: 'k1', rec: text },
      { kind: OpKind.Write, key: 'k2', rec: binary },
      { kind: OpKind.Write, key: 'k3', rec: tomb },
      { kind: OpKind.Write, key: 'k4', rec: big },
      { kind: OpKind.Read, key: 'ключ' },
      { kind: OpKind.Read, key: 'k5', have: { ...text, value: '', expiresAt: 0 } },
    ],
  };
  const buf = encodeBatch(b);
  const o = asObject(Batch, buf) as Record<string, any>;
  assert.equal(o.seq, b.seq);
  assert.equal(o.hlc_wall, wall);
  assert.equal(o.from, 'node-a');
  assert.equal(o.ops[0].entry.text, text.value);
  assert.equal(o.ops[0].entry.expires_at, text.expiresAt);
  assert.deepEqual([...o.ops[1].entry.data], [0, 255, 1]);
  assert.equal(o.ops[2].entry.tombstone, true);
  assert.equal(o.ops[2].entry.logical, 65535);
  assert.equal(o.ops[3].entry.text.length, 70_000);
  assert.equal(o.ops[4].key, 'ключ');
  assert.equal(o.ops[5].have_wall, wall);
  assert.equal(o.ops[5].have_node, 'node-a');

  const back = decodeBatch(buf);
  assert.deepEqual(back, { ...b, ops: b.ops.map((op) => (op.have ? { ...op, have: { ...op.have, value: '' } } : op)) });
});

test('Batch: what protobufjs encodes (any field order, unknown fields) decodes correctly', () => {
  const msg = Batch.fromObject({
    seq: 9,
    from: 'x',
    hlc_wall: wall,
    hlc_logical: 1,
    ops: [
      { kind: 1, entry: { key: 'a', data: Buffer.from([1, 2]), wall, logical: 2, node: 'n' } },
      { kind: 2, key: 'b' },
    ],
  });
  const unknown = Buffer.from([0x98, 0x06, 0x05]); // field 99, varint 5
  const buf = Buffer.concat([unknown, Buffer.from(Batch.encode(msg).finish())]);
  const b = decodeBatch(buf);
  assert.equal(b.seq, 9);
  assert.equal(b.ops.length, 2);
  assert.deepEqual(b.ops[0], {
    kind: 1,
    key: 'a',
    rec: { value: '\u0001\u0002', binary: true, wall, logical: 2, node: 'n', expiresAt: 0, tombstone: false },
  });
  assert.deepEqual(b.ops[1], { kind: 2, key: 'b' });
});

test('BatchReply round trip: values, same, absent, errors, existed, newer', () => {
  const r: PeerBatchReply = {
    seq: 12,
    hlcWall: wall,
    hlcLogical: 0,
    results: [
      { found: true, rec: text },
      { found: true, same: true },
      {},
      { error: 'node is leaving the cluster' },
      { existed: true },
      { found: true, rec: big },
      { newer: true, rec: { ...text, value: '' } },
    ],
  };
  const buf = encodeBatchReply(r);
  const o = asObject(Reply, buf) as Record<string, any>;
  assert.equal(o.results[0].entry.text, text.value);
  assert.equal(o.results[1].same, true);
  assert.equal(o.results[3].error, 'node is leaving the cluster');
  assert.deepEqual([o.results[6].newer, o.results[6].entry.wall], [true, text.wall]);
  const back = decodeBatchReply(buf);
  assert.equal(back.seq, 12);
  assert.deepEqual(back.results[0], { found: true, rec: text });
  assert.deepEqual(back.results[1], { found: true, same: true });
  assert.deepEqual(back.results[2], {});
  assert.equal(back.results[3].error, 'node is leaving the cluster');
  assert.equal(back.results[4].existed, true);
  assert.equal(back.results[5].rec!.value.length, 70_000);
  assert.deepEqual(back.results[6], { newer: true, rec: { ...text, value: '' } });
});

test('truncated or malformed messages throw instead of reading past the end', () => {
  const buf = encodeBatch({ seq: 1, hlcWall: wall, hlcLogical: 0, from: 'a', ops: [{ kind: OpKind.Write, key: 'k', rec: text }] });
  for (let cut = 1; cut < buf.length; cut++) {
    try {
      decodeBatch(buf.subarray(0, cut));
    } catch (e) {
      assert.match((e as Error).message, /truncated|wire type|too long/);
    }
  }
  assert.throws(() => decodeBatch(Buffer.from([0x12, 0x05, 0x08])), /truncated/);
});

test('Writer: nested lengths of every size, varints up to 2^53', () => {
  for (const n of [0, 1, 127, 128, 16_383, 16_384, 2_097_152]) {
    const w = new Writer(4);
    w.begin(1);
    w.stringField(2, 'x'.repeat(n), 'latin1');
    w.end();
    w.varintField(3, Number.MAX_SAFE_INTEGER);
    const r = new Reader(w.finish());
    assert.equal(r.varint(), (1 << 3) | 2);
    const inner = r.sub();
    assert.equal(inner.varint(), (2 << 3) | 2);
    assert.equal(inner.latin1().length, n);
    assert.equal(r.varint(), 3 << 3);
    const before = r.pos;
    assert.equal(r.varint(), Number.MAX_SAFE_INTEGER);
    assert.equal(r.pos - before, 8, '2^53 - 1 takes 8 bytes');
    assert.ok(r.done);
  }
});

test('LEASE and LEASE_WRITE ops and their results agree with protobufjs', () => {
  const b: PeerBatch = {
    seq: 3,
    hlcWall: wall,
    hlcLogical: 1,
    from: 'a',
    ops: [
      { kind: 4, key: 'k', leaseMs: 5000 },
      { kind: 5, key: 'k', rec: text, leaseToken: 'tok' },
    ],
  };
  const o = asObject(Batch, encodeBatch(b)) as Record<string, any>;
  assert.deepEqual([o.ops[0].kind, o.ops[0].key, o.ops[0].lease_ms], [4, 'k', 5000]);
  assert.deepEqual([o.ops[1].kind, o.ops[1].entry.key, o.ops[1].lease_token], [5, 'k', 'tok']);
  const ops = decodeBatch(Buffer.from(Batch.encode(Batch.fromObject(o)).finish())).ops;
  assert.deepEqual(ops[0], { kind: 4, key: 'k', leaseMs: 5000 });
  assert.deepEqual(ops[1], { kind: 5, key: 'k', rec: text, leaseToken: 'tok' });
  const r: PeerBatchReply = {
    seq: 3,
    hlcWall: wall,
    hlcLogical: 0,
    results: [{ leaseToken: 'tok' }, { waitMs: 1234, stale: true, rec: text }, { refused: 'the lease has expired' }],
  };
  const ro = asObject(Reply, encodeBatchReply(r)) as Record<string, any>;
  assert.deepEqual(
    [ro.results[0].lease_token, ro.results[1].wait_ms, ro.results[1].stale, ro.results[2].refused],
    ['tok', 1234, true, 'the lease has expired'],
  );
  const back = decodeBatchReply(Buffer.from(Reply.encode(Reply.fromObject(ro)).finish())).results;
  assert.deepEqual(back, r.results);
});
