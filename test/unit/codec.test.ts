/** The hand-written codecs must agree with protobufjs on the real .proto, byte for byte. */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import {
  decodeDeleteResponse,
  decodeGetResponse,
  decodeKeyRequest,
  decodeSetRequest,
  decodeSetResponse,
  encodeGetResponse,
  encodeKeyRequest,
  encodeSetRequest,
  encodeWriteResponse,
  WireError,
} from '../../src/wire/codec.ts';

/** The API's uint64 version of an HLC timestamp, computed independently of the codec. */
const packVersion = (wall: number, logical: number) => ((BigInt(wall) << 16n) | BigInt(logical)).toString();

const root = new protobuf.Root().loadSync(fileURLToPath(new URL('../../proto/cache/v1/cache.proto', import.meta.url)), { keepCase: true });
const T = (n: string) => root.lookupType(`cache.v1.${n}`);
const wall = 1_763_900_000_123;

test('GetRequest / DeleteRequest decode', () => {
  for (const msg of [{ key: 'foo' }, { key: 'ключ 😀', consistency: 2 }, { key: 'k'.repeat(3000), consistency: 3 }, {}]) {
    const buf = Buffer.from(T('GetRequest').encode(T('GetRequest').fromObject(msg)).finish());
    assert.deepEqual(decodeKeyRequest(buf), {
      key: (msg as { key?: string }).key ?? '',
      consistency: (msg as { consistency?: number }).consistency ?? 0,
    });
  }
});

test('SetRequest decode: text, bytes, ttl, consistency, unknown fields skipped', () => {
  const t = T('SetRequest');
  const text = decodeSetRequest(Buffer.from(t.encode(t.fromObject({ key: 'a', value: 'héllo', ttl_ms: 60000, consistency: 1 })).finish()));
  assert.deepEqual(
    { ...text, data: undefined },
    { key: 'a', value: 'héllo', binary: false, data: undefined, ttlMs: 60000, consistency: 1, leaseToken: '' },
  );
  const leased = decodeSetRequest(Buffer.from(t.encode(t.fromObject({ key: 'a', value: 'v', lease_token: 'tök-1' })).finish()));
  assert.equal(leased.leaseToken, 'tök-1', 'lease_token (field 6)');
  const bin = decodeSetRequest(Buffer.from(t.encode(t.fromObject({ key: 'b', data: Buffer.from([0, 255, 1]) })).finish()));
  assert.equal(bin.binary, true);
  assert.deepEqual([...bin.data!], [0, 255, 1]);
  const big = decodeSetRequest(Buffer.from(t.encode(t.fromObject({ key: 'c', value: 'v', ttl_ms: '18446744073709551615' })).finish()));
  assert.ok(big.ttlMs > 1e19, 'huge ttl decodes as a huge number (the handler range-checks it)');
  const withUnknown = Buffer.concat([
    Buffer.from([0x30, 0x07, 0x3a, 0x02, 0x61, 0x62]),
    Buffer.from(t.encode(t.fromObject({ key: 'd', value: 'x' })).finish()),
  ]);
  assert.equal(decodeSetRequest(withUnknown).key, 'd');
  assert.throws(() => decodeSetRequest(Buffer.from([0x0a, 0x05, 0x61])), /truncated/);
});

test('GetResponse encode equals protobufjs, text and binary, with and without ttl', () => {
  const t = T('GetResponse');
  for (const [value, binary, ttlMs, logical] of [
    ['bar', false, 0, 0],
    ['', false, 5, 3],
    ['é😀', false, 123456, 65535],
    ['\u0000\u00ff\u0080', true, 0, 7],
  ] as const) {
    const ours = encodeGetResponse({ value, binary, wall, logical, ttlMs });
    const obj: Record<string, unknown> = { version: packVersion(wall, logical) };
    if (binary) obj.data = Buffer.from(value, 'latin1');
    else obj.value = value;
    if (ttlMs) obj.ttl_remaining_ms = ttlMs;
    assert.deepEqual([...ours], [...t.encode(t.fromObject(obj)).finish()], JSON.stringify(value));
    const back = t.toObject(t.decode(ours), { longs: String, oneofs: true });
    assert.equal(back.version, packVersion(wall, logical));
  }
});

test('SetResponse / DeleteResponse encode equals protobufjs over many versions', () => {
  for (const w of [0, 1, 127, 128, 65535, 65536, 2 ** 32, wall, 2 ** 47 - 1]) {
    for (const logical of [0, 1, 300, 65535]) {
      const v = packVersion(w, logical);
      const set = T('SetResponse').toObject(T('SetResponse').decode(encodeWriteResponse({ wall: w, logical })), {
        longs: String,
        defaults: true,
      });
      assert.deepEqual(set, { version: v }, `${w}/${logical}`);
      if (w > 0)
        assert.deepEqual(
          [...encodeWriteResponse({ wall: w, logical })],
          [
            ...T('SetResponse')
              .encode(T('SetResponse').fromObject({ version: v }))
              .finish(),
          ],
        );
      for (const deleted of [true, false]) {
        const del = T('DeleteResponse').toObject(T('DeleteResponse').decode(encodeWriteResponse({ wall: w, logical, deleted })), {
          longs: String,
          defaults: true,
        });
        assert.deepEqual(del, { deleted, version: v });
      }
    }
  }
});

test('responses decode back (the load generator reads them): every version exactly, text and bytes', () => {
  for (const w of [0, 1, 65535, 65536, 2 ** 32, wall, 2 ** 47 - 1]) {
    for (const logical of [0, 1, 300, 65535]) {
      assert.deepEqual(decodeSetResponse(encodeWriteResponse({ wall: w, logical })), { wall: w, logical });
      assert.deepEqual(decodeDeleteResponse(encodeWriteResponse({ wall: w, logical, deleted: true })), { wall: w, logical, deleted: true });
      const t = T('GetResponse');
      const viaProtobufjs = Buffer.from(
        t.encode(t.fromObject({ value: 'x', version: packVersion(w, logical), ttl_remaining_ms: 5 })).finish(),
      );
      assert.deepEqual(decodeGetResponse(viaProtobufjs), { value: 'x', binary: false, wall: w, logical, ttlMs: 5 });
    }
  }
  const bin = { value: '\u0000\u00ff', binary: true, wall, logical: 2, ttlMs: 0 };
  assert.deepEqual(decodeGetResponse(encodeGetResponse(bin)), bin);
});

test('requests encode as protobufjs reads them', () => {
  const get = T('GetRequest').toObject(T('GetRequest').decode(encodeKeyRequest({ key: 'ключ', consistency: 2 })));
  assert.deepEqual(get, { key: 'ключ', consistency: 2 });
  const s = T('SetRequest');
  assert.deepEqual(
    s.toObject(
      s.decode(encodeSetRequest({ key: 'k', value: 'v', binary: false, data: undefined, ttlMs: 1000, consistency: 0, leaseToken: '' })),
      { longs: Number },
    ),
    { key: 'k', value: 'v', ttl_ms: 1000 },
  );
  assert.equal(
    s.toObject(
      s.decode(encodeSetRequest({ key: 'k', value: 'v', binary: false, data: undefined, ttlMs: 0, consistency: 0, leaseToken: 'abc' })),
    ).lease_token,
    'abc',
  );
  const b = s.toObject(
    s.decode(
      encodeSetRequest({ key: 'k', value: '', binary: true, data: Buffer.from([0, 255]), ttlMs: 0, consistency: 3, leaseToken: '' }),
    ),
  );
  assert.deepEqual([...b.data], [0, 255]);
  assert.equal(b.consistency, 3);
});

test('a key or text value that is not valid UTF-8 is refused, never turned into U+FFFD', () => {
  const setWith = (field: number, bytes: number[]) => Buffer.from([(field << 3) | 2, bytes.length, ...bytes]);
  for (const bad of [[0xff], [0xfe], [0x61, 0xc3], [0xed, 0xa0, 0x80] /* a lone surrogate */, [0xc0, 0xaf] /* overlong */]) {
    assert.throws(
      () => decodeKeyRequest(setWith(1, bad)),
      (e: Error) => e instanceof WireError && e.message === 'key is not valid UTF-8',
      JSON.stringify(bad),
    );
    assert.throws(() => decodeSetRequest(Buffer.concat([setWith(1, [0x6b]), setWith(2, bad)])), /value is not valid UTF-8/);
    assert.throws(() => decodeSetRequest(Buffer.concat([setWith(1, [0x6b]), setWith(6, bad)])), /lease_token is not valid UTF-8/);
  }
  // valid multi-byte text passes, and binary values (field 5) are bytes: anything goes
  assert.equal(decodeKeyRequest(setWith(1, [...Buffer.from('é😀')])).key, 'é😀');
  assert.deepEqual([...decodeSetRequest(Buffer.concat([setWith(1, [0x6b]), setWith(5, [0xff, 0xfe])])).data!], [0xff, 0xfe]);
});
