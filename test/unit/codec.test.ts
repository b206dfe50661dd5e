/** The hand-written codecs must agree with protobufjs on the real .proto, byte for byte. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import protobuf from 'protobufjs';
import { fileURLToPath } from 'node:url';
import { decodeKeyRequest, decodeSetRequest, encodeGetResponse, encodeWriteResponse } from '../../src/server/codec.ts';
import { packVersion } from '../../src/hlc/hlc.ts';

const root = new protobuf.Root().loadSync(fileURLToPath(new URL('../../proto/cache/v1/cache.proto', import.meta.url)), { keepCase: true });
const T = (n: string) => root.lookupType(`cache.v1.${n}`);
const wall = 1_763_900_000_123;

test('GetRequest / DeleteRequest decode', () => {
  for (const msg of [{ key: 'foo' }, { key: 'ключ 😀', consistency: 2 }, { key: 'k'.repeat(3000), consistency: 3 }, {}]) {
    const buf = Buffer.from(T('GetRequest').encode(T('GetRequest').fromObject(msg)).finish());
    assert.deepEqual(decodeKeyRequest(buf), { key: (msg as { key?: string }).key ?? '', consistency: (msg as { consistency?: number }).consistency ?? 0 });
  }
});

test('SetRequest decode: text, bytes, ttl, consistency, unknown fields skipped', () => {
  const t = T('SetRequest');
  const text = decodeSetRequest(Buffer.from(t.encode(t.fromObject({ key: 'a', value: 'héllo', ttl_ms: 60000, consistency: 1 })).finish()));
  assert.deepEqual({ ...text, data: undefined }, { key: 'a', value: 'héllo', binary: false, data: undefined, ttlMs: 60000, consistency: 1 });
  const bin = decodeSetRequest(Buffer.from(t.encode(t.fromObject({ key: 'b', data: Buffer.from([0, 255, 1]) })).finish()));
  assert.equal(bin.binary, true);
  assert.deepEqual([...bin.data!], [0, 255, 1]);
  const big = decodeSetRequest(Buffer.from(t.encode(t.fromObject({ key: 'c', value: 'v', ttl_ms: '18446744073709551615' })).finish()));
  assert.ok(big.ttlMs > 1e19, 'huge ttl decodes as a huge number (the handler range-checks it)');
  const withUnknown = Buffer.concat([Buffer.from([0x30, 0x07, 0x3a, 0x02, 0x61, 0x62]), Buffer.from(t.encode(t.fromObject({ key: 'd', value: 'x' })).finish())]);
  assert.equal(decodeSetRequest(withUnknown).key, 'd');
  assert.throws(() => decodeSetRequest(Buffer.from([0x0a, 0x05, 0x61])), /truncated/);
});

test('GetResponse encode equals protobufjs, text and binary, with and without ttl', () => {
  const t = T('GetResponse');
  for (const [value, binary, ttlMs, logical] of [['bar', false, 0, 0], ['', false, 5, 3], ['é😀', false, 123456, 65535], ['\u0000\u00ff\u0080', true, 0, 7]] as const) {
    const ours = encodeGetResponse({ value, binary, wall, logical, ttlMs });
    const obj: Record<string, unknown> = { version: packVersion(wall, logical) };
    if (binary) obj.data = Buffer.from(value, 'latin1'); else obj.value = value;
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
      const set = T('SetResponse').toObject(T('SetResponse').decode(encodeWriteResponse({ wall: w, logical })), { longs: String, defaults: true });
      assert.deepEqual(set, { version: v }, `${w}/${logical}`);
      if (w > 0) assert.deepEqual([...encodeWriteResponse({ wall: w, logical })], [...T('SetResponse').encode(T('SetResponse').fromObject({ version: v })).finish()]);
      for (const deleted of [true, false]) {
        const del = T('DeleteResponse').toObject(T('DeleteResponse').decode(encodeWriteResponse({ wall: w, logical, deleted })), { longs: String, defaults: true });
        assert.deepEqual(del, { deleted, version: v });
      }
    }
  }
});
