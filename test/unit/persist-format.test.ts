/** DATA_DIR's file format (src/persist/format.ts), directly: headers, records, checksums, tail cutting, staleness. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { crc32 as zlibCrc32 } from 'node:zlib';
import {
  checkHeader,
  crc32,
  type DecodedRecord,
  decodeHeader,
  decodeRecords,
  encodeHeader,
  type FileHeader,
  FORMAT_VERSION,
  KIND_LOG,
  KIND_SNAPSHOT,
  RecordEncoder,
  staleReason,
  T_DROP,
  T_END,
  T_ENTRY,
  T_FLUSH,
} from '../../src/persist/format.ts';
import { rec } from '../helpers/records.ts';

const header = (extra: Partial<FileHeader> = {}): FileHeader => ({
  version: FORMAT_VERSION,
  kind: KIND_LOG,
  gen: 7,
  wall: 1_764_000_000_123,
  logical: 42,
  writtenAt: 1_764_000_000_456,
  node: 'nœud-1',
  ...extra,
});

/** Every record of buf from offset, copied out of the reused object. */
function all(buf: Buffer, offset: number) {
  const out: { type: number; key: string; rec: DecodedRecord['rec']; count: number }[] = [];
  const res = decodeRecords(buf, offset, (r) => out.push({ type: r.type, key: r.key, rec: { ...r.rec }, count: r.count }));
  return { out, res };
}

test('crc32 over a range is CRC-32 as zlib computes it, for every length and offset', () => {
  const b = Buffer.from(Array.from({ length: 300 }, (_, i) => (i * 131 + 7) & 255));
  for (let n = 0; n <= 40; n++)
    for (let start = 0; start <= 5; start++)
      assert.equal(crc32(b, start, start + n), zlibCrc32(b.subarray(start, start + n)), `${start}+${n}`);
  assert.equal(crc32(b), zlibCrc32(b));
  assert.equal(crc32(Buffer.from('123456789')), 0xcbf43926, 'the standard check value');
});

test('a header round-trips, and the records start right after it', () => {
  const h = header();
  const b = encodeHeader(h);
  const d = decodeHeader(Buffer.concat([b, Buffer.from([1, 2, 3])]));
  assert.ok('header' in d);
  assert.deepEqual(d.header, h);
  assert.equal(d.end, b.length);
});

test('a header is refused, saying why: not ours, another version (foreign), short or bad checksum (damaged)', () => {
  const b = encodeHeader(header());
  assert.deepEqual(decodeHeader(Buffer.from('RDB0001xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx')), {
    kind: 'foreign',
    reason: 'not a tscache data file',
  });
  const v2 = Buffer.from(b);
  v2.writeUInt16LE(FORMAT_VERSION + 1, 4);
  const r = decodeHeader(v2);
  assert.ok('kind' in r && r.kind === 'foreign' && /format version 2/.test(r.reason), JSON.stringify(r));
  for (const cut of [0, 2, 10, b.length - 1]) {
    const d = decodeHeader(b.subarray(0, cut));
    assert.ok('kind' in d && d.kind === 'damaged', `cut at ${cut}: ${JSON.stringify(d)}`);
  }
  for (let i = 6; i < b.length; i++) {
    const flipped = Buffer.from(b);
    flipped[i] ^= 0x10;
    const d = decodeHeader(flipped);
    assert.ok('kind' in d && d.kind === 'damaged', `byte ${i} flipped: ${JSON.stringify(d)}`);
  }
});

test('checkHeader: the node id and the kind must be the expected ones', () => {
  assert.equal(checkHeader(header(), 'nœud-1', KIND_LOG), undefined);
  assert.match(checkHeader(header(), 'other', KIND_LOG) ?? '', /written by node "nœud-1", this node is "other"/);
  assert.match(checkHeader(header({ kind: KIND_SNAPSHOT }), 'nœud-1', KIND_LOG) ?? '', /a snapshot where a log was expected/);
});

test('records round-trip: text and binary values, tombstones, TTLs, drops, flush marks, the end record', () => {
  const enc = new RecordEncoder(16); // small on purpose: the buffer grows
  const binary = String.fromCharCode(0, 255, 128, 10, 13);
  enc.entry('k1', rec(100, 'héllo wörld ✓'));
  enc.entry('k2', rec(101, binary, { binary: true, logical: 65535, node: 'b', expiresAt: 9e12 }));
  enc.entry('k3', rec(102, 'ignored', { tombstone: true, expiresAt: 5 }));
  enc.entry('', rec(103, ''));
  enc.drop('k1');
  enc.flush({ prefix: 'user:', wall: 104, logical: 3, node: 'c' });
  enc.end(6);
  enc.entry('after-end', rec(105));
  const buf = enc.take();
  assert.equal(enc.size, 0);
  const { out, res } = all(buf, 0);
  assert.equal(res.ended, true);
  assert.equal(res.problem, undefined);
  assert.equal(res.records, 7, 'decoding stops at the end record');
  assert.deepEqual(
    out.map((r) => [r.type, r.key]),
    [
      [T_ENTRY, 'k1'],
      [T_ENTRY, 'k2'],
      [T_ENTRY, 'k3'],
      [T_ENTRY, ''],
      [T_DROP, 'k1'],
      [T_FLUSH, 'user:'],
      [T_END, 'user:'],
    ],
  );
  assert.deepEqual(out[0].rec, rec(100, 'héllo wörld ✓'));
  assert.deepEqual(out[1].rec, rec(101, binary, { binary: true, logical: 65535, node: 'b', expiresAt: 9e12 }));
  assert.deepEqual(out[2].rec, rec(102, '', { tombstone: true, expiresAt: 0 }), "a tombstone's value and expiry are not written");
  assert.equal(out[3].rec.value, '');
  assert.deepEqual([out[5].rec.wall, out[5].rec.logical, out[5].rec.node], [104, 3, 'c']);
  assert.equal(out[6].count, 6);
});

test('a torn tail is cut at the last whole record, wherever the file ends', () => {
  const enc = new RecordEncoder();
  const ends: number[] = [];
  for (let i = 0; i < 5; i++) {
    enc.entry(`key-${i}`, rec(100 + i, 'x'.repeat(i * 7)));
    ends.push(enc.size);
  }
  const buf = enc.take();
  for (let cut = 0; cut <= buf.length; cut++) {
    const { out, res } = all(buf.subarray(0, cut), 0);
    const whole = ends.filter((e) => e <= cut);
    assert.equal(res.end, whole.length === 0 ? 0 : whole[whole.length - 1], `cut at ${cut}`);
    assert.equal(out.length, whole.length, `cut at ${cut}`);
    assert.equal(res.problem === undefined, ends.includes(cut) || cut === 0, `cut at ${cut}: ${res.problem}`);
    assert.equal(res.ended, false);
  }
});

test('a flipped byte anywhere in a record stops decoding before it (checksum); nothing after it is trusted', () => {
  const enc = new RecordEncoder();
  enc.entry('a', rec(1));
  const first = enc.size;
  enc.entry('b', rec(2, 'value-b'));
  const second = enc.size;
  enc.entry('c', rec(3));
  const buf = enc.take();
  for (let i = first; i < second; i++) {
    const bad = Buffer.from(buf);
    bad[i] ^= 0x01;
    const { out, res } = all(bad, 0);
    assert.deepEqual(
      out.map((r) => r.key),
      ['a'],
      `byte ${i}`,
    );
    assert.equal(res.end, first, `byte ${i}`);
    assert.ok(res.problem, `byte ${i}`);
  }
});

test('an intact checksum over a payload whose layout does not add up is refused too', () => {
  const enc = new RecordEncoder();
  enc.drop('key');
  const buf = enc.take();
  // Rewrite the inner key length to overrun, with a matching checksum.
  const payload = Buffer.from(buf.subarray(8));
  payload.writeUInt32LE(99, 1);
  const bad = Buffer.concat([buf.subarray(0, 4), Buffer.alloc(4), payload]);
  bad.writeUInt32LE(crc32(payload), 4);
  const { out, res } = all(bad, 0);
  assert.equal(out.length, 0);
  assert.match(res.problem ?? '', /malformed record/);
  const zero = Buffer.alloc(16);
  assert.match(all(zero, 0).res.problem ?? '', /implausible record length 0/);
});

test('staleReason: data older than the tombstone grace is not loaded', () => {
  assert.equal(staleReason(1000, 1000 + 600_000, 600_000), undefined);
  assert.match(staleReason(1000, 1001 + 600_000, 600_000) ?? '', /longer than TOMBSTONE_GRACE \(600s\)/);
});
