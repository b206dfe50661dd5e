/** The hand-written codecs of the batch calls (MGet, MSet) must agree with protobufjs on the real .proto. */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import {
  decodeMGetRequest,
  decodeMGetResponse,
  decodeMSetRequest,
  decodeMSetResponse,
  encodeMGetRequest,
  encodeMGetResponse,
  encodeMSetRequest,
  encodeMSetResponse,
  type FoundValue,
  KeyFailure,
  type MSetWritten,
} from '../../src/wire/codec.ts';

/** The API's uint64 version of an HLC timestamp, computed independently of the codec. */
const packVersion = (wall: number, logical: number) => ((BigInt(wall) << 16n) | BigInt(logical)).toString();

const root = new protobuf.Root().loadSync(fileURLToPath(new URL('../../proto/cache/v1/cache.proto', import.meta.url)), { keepCase: true });
const T = (n: string) => root.lookupType(`cache.v1.${n}`);
const pbEncode = (n: string, obj: object) => Buffer.from(T(n).encode(T(n).fromObject(obj)).finish());
const pbDecode = (n: string, buf: Uint8Array) => T(n).toObject(T(n).decode(buf), { longs: String, oneofs: true, defaults: true });
const wall = 1_763_900_000_123;
const now = wall + 5;

test('MGetRequest decode equals protobufjs: keys in order (empty, Unicode, long, repeated), consistency', () => {
  for (const keys of [[], ['a'], ['', 'ключ 😀', 'k'.repeat(3000), 'a', 'a'], Array.from({ length: 1000 }, (_, i) => `key:${i}`)]) {
    for (const consistency of [0, 2]) {
      const m = decodeMGetRequest(pbEncode('MGetRequest', { keys, consistency }));
      assert.deepEqual(m, { keys, consistency, invalid: undefined });
    }
  }
  // unknown fields are skipped
  const withUnknown = Buffer.concat([Buffer.from([0x30, 0x07, 0x3a, 0x02, 0x61, 0x62]), pbEncode('MGetRequest', { keys: ['x'] })]);
  assert.deepEqual(decodeMGetRequest(withUnknown).keys, ['x']);
  assert.throws(() => decodeMGetRequest(Buffer.from([0x0a, 0x05, 0x61])), /truncated/);
});

test('MGetRequest: a key that is not valid UTF-8 is marked for its own error, the others decode', () => {
  const field = (bytes: number[]) => Buffer.from([0x0a, bytes.length, ...bytes]);
  const buf = Buffer.concat([
    field([0x61]),
    field([0xff]),
    field([0xed, 0xa0, 0x80]),
    field([...Buffer.from('é😀')]),
    Buffer.from([0x10, 0x01]),
  ]);
  const m = decodeMGetRequest(buf);
  assert.deepEqual(m.invalid, [1, 2]);
  assert.equal(m.keys.length, 4);
  assert.deepEqual([m.keys[0], m.keys[3], m.consistency], ['a', 'é😀', 1]);
  assert.ok(m.keys[1]!.includes('\ufffd'), 'the invalid key is shown with U+FFFD, never as another valid key');
});

test('MSetRequest decode equals protobufjs: text and bytes values, ttl, consistency', () => {
  const entries = [
    { key: 'a', value: 'héllo', ttl_ms: 60000 },
    { key: 'b', data: Buffer.from([0, 255, 1]) },
    { key: 'c', value: '' },
    { key: 'd', data: Buffer.alloc(0) },
    { key: 'e', value: 'v'.repeat(300), ttl_ms: '18446744073709551615' },
  ];
  const m = decodeMSetRequest(pbEncode('MSetRequest', { entries, consistency: 3 }));
  assert.equal(m.consistency, 3);
  assert.deepEqual(
    m.entries.map((e) => [e.key, e.binary, e.binary ? [...e.data!] : e.value, e.invalidKey, e.invalidValue]),
    [
      ['a', false, 'héllo', false, false],
      ['b', true, [0, 255, 1], false, false],
      ['c', false, '', false, false],
      ['d', true, [], false, false],
      ['e', false, 'v'.repeat(300), false, false],
    ],
  );
  assert.equal(m.entries[0]!.ttlMs, 60000);
  assert.equal(m.entries[1]!.ttlMs, 0);
  assert.ok(m.entries[4]!.ttlMs > 1e19, 'huge ttl decodes as a huge number (the handler range-checks it)');
  assert.deepEqual(decodeMSetRequest(pbEncode('MSetRequest', {})), { entries: [], consistency: 0 });
});

test('MSetRequest: a key or text value that is not valid UTF-8 marks only its entry; bytes values are anything', () => {
  const ld = (field: number, bytes: number[]) => Buffer.from([(field << 3) | 2, bytes.length, ...bytes]);
  const entry = (...fields: Buffer[]) => {
    const body = Buffer.concat(fields);
    return Buffer.concat([Buffer.from([0x0a, body.length]), body]);
  };
  const m = decodeMSetRequest(
    Buffer.concat([
      entry(ld(1, [0xff]), ld(2, [0x61])),
      entry(ld(1, [0x6b]), ld(2, [0xc0, 0xaf])),
      entry(ld(1, [0x6b]), ld(3, [0xff, 0xfe])),
      entry(ld(1, [0x6b]), ld(2, [0xff]), ld(3, [0x01])), // oneof: the last payload field wins
    ]),
  );
  assert.deepEqual(
    m.entries.map((e) => [e.invalidKey, e.invalidValue, e.binary]),
    [
      [true, false, false],
      [false, true, false],
      [false, false, true],
      [false, false, true],
    ],
  );
});

/** What the generic codec was given for one MGet result (src/server/batch.ts before the hand codec), without defaults. */
function genericMGetResult(key: string, r: FoundValue | null | KeyFailure): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  if (key) o.key = key;
  if (r instanceof KeyFailure) o.error = { code: r.code, message: r.message };
  else if (r) {
    o.found = true;
    if (r.binary) o.data = Buffer.from(r.value, 'latin1');
    else o.value = r.value;
    o.version = packVersion(r.wall, r.logical);
    const ttl = r.expiresAt === 0 ? 0 : Math.max(1, r.expiresAt - now);
    if (ttl) o.ttl_remaining_ms = ttl;
  }
  return o;
}

const found = (value: string, binary: boolean, w: number, logical: number, expiresAt: number): FoundValue => ({
  value,
  binary,
  wall: w,
  logical,
  expiresAt,
});

test('MGetResponse encode equals protobufjs byte for byte: found text and bytes, missing, errors, long bodies', () => {
  const keys: string[] = [];
  const results: (FoundValue | null | KeyFailure)[] = [];
  const add = (k: string, r: FoundValue | null | KeyFailure) => {
    keys.push(k);
    results.push(r);
  };
  add('a', found('bar', false, wall, 0, 0));
  add('ключ 😀', found('é😀', false, wall, 65535, now + 60_000));
  add('bin', found('\u0000\u00ff\u0080', true, wall, 7, 0));
  add('empty-text', found('', false, wall, 1, 0));
  add('empty-bytes', found('', true, wall, 1, 0));
  add('expiring-now', found('x', false, wall, 1, now - 10)); // ttl is at least 1 while the value is returned
  add('missing', null);
  add('', new KeyFailure(3, 'key must not be empty'));
  add('quorum', new KeyFailure(14, 'read quorum not reached: 1 of 3 replicas answered, 2 required (é)'));
  for (const len of [100, 115, 116, 127, 128, 16_383, 16_384, 70_000])
    add(`v${len}`, found('v'.repeat(len), false, wall + len, len % 7, 0));
  for (const w of [1, 127, 128, 65535, 65536, 2 ** 32, 2 ** 47 - 1]) add(`w${w}`, found('x', false, w, 300, 0));
  const ours = encodeMGetResponse({ keys, results, now });
  const theirs = pbEncode('MGetResponse', { results: keys.map((k, i) => genericMGetResult(k, results[i]!)) });
  assert.equal(ours.length, theirs.length);
  assert.ok(ours.equals(theirs), 'same bytes as protobufjs');
  const back = pbDecode('MGetResponse', ours).results as Record<string, unknown>[];
  assert.equal(back.length, keys.length);
  assert.deepEqual(back[0], {
    key: 'a',
    found: true,
    value: 'bar',
    payload: 'value',
    version: packVersion(wall, 0),
    ttl_remaining_ms: '0',
    error: null,
  });
  assert.equal(back[1]!.ttl_remaining_ms, '60000');
  assert.deepEqual([...(back[2]!.data as Buffer)], [0, 255, 128]);
  assert.deepEqual([back[3]!.payload, back[3]!.value, back[4]!.payload, (back[4]!.data as Buffer).length], ['value', '', 'data', 0]);
  assert.equal(back[5]!.ttl_remaining_ms, '1');
  assert.deepEqual([back[6]!.key, back[6]!.found, back[6]!.payload, back[6]!.error], ['missing', false, undefined, null]);
  assert.deepEqual(back[7], {
    key: '',
    found: false,
    version: '0',
    ttl_remaining_ms: '0',
    error: { code: 3, message: 'key must not be empty' },
  });
  assert.equal(encodeMGetResponse({ keys: [], results: [], now }).length, 0);
});

test('MGetResponse decodes back (ours and protobufjs bytes): the same values, versions, ttls and errors', () => {
  const keys = ['t', 'b', 'm', 'e'];
  const results = [
    found('héllo', false, wall, 3, now + 5000),
    found('\u0000\u00ff', true, 2 ** 47 - 1, 65535, 0),
    null,
    new KeyFailure(14, 'down'),
  ];
  const expected = {
    keys,
    results: [found('héllo', false, wall, 3, 5000), found('\u0000\u00ff', true, 2 ** 47 - 1, 65535, 0), null, new KeyFailure(14, 'down')],
    now: 0,
  };
  assert.deepEqual(decodeMGetResponse(encodeMGetResponse({ keys, results, now })), expected);
  const viaProtobufjs = pbEncode('MGetResponse', {
    results: keys.map((k, i) => ({ ...genericMGetResult(k, results[i]!), found: results[i] instanceof KeyFailure ? false : !!results[i] })),
  });
  assert.deepEqual(decodeMGetResponse(viaProtobufjs), expected);
});

test('MSetResponse encode equals protobufjs byte for byte: versions, errors, superseded with and without a version', () => {
  const keys = ['a', 'ключ', '', 'dup', 'dup', 'gone', 'gone'];
  const results: (MSetWritten | KeyFailure)[] = [
    { wall, logical: 0 },
    { wall: 2 ** 47 - 1, logical: 65535 },
    new KeyFailure(3, 'key must not be empty'),
    { wall, logical: 9, superseded: true },
    { wall, logical: 9 },
    { wall: 0, logical: 0, superseded: true },
    new KeyFailure(14, 'write quorum not reached'),
  ];
  const generic = results.map((r, i) => {
    const o: Record<string, unknown> = {};
    if (keys[i]) o.key = keys[i];
    if (r instanceof KeyFailure) o.error = { code: r.code, message: r.message };
    else {
      if (r.wall) o.version = packVersion(r.wall, r.logical);
      if (r.superseded) o.superseded = true;
    }
    return o;
  });
  const ours = encodeMSetResponse({ entries: keys.map((key) => ({ key })), results });
  assert.ok(ours.equals(pbEncode('MSetResponse', { results: generic })), 'same bytes as protobufjs');
  const back = pbDecode('MSetResponse', ours).results as Record<string, unknown>[];
  assert.deepEqual(back[3], { key: 'dup', version: packVersion(wall, 9), error: null, superseded: true });
  assert.deepEqual(back[5], { key: 'gone', version: '0', error: null, superseded: true });
  assert.deepEqual(decodeMSetResponse(ours), { entries: keys.map((key) => ({ key })), results });
});

test('MGetRequest / MSetRequest encode as protobufjs reads them', () => {
  assert.deepEqual(pbDecode('MGetRequest', encodeMGetRequest({ keys: ['a', '', 'ключ'], consistency: 2 })), {
    keys: ['a', '', 'ключ'],
    consistency: 2,
  });
  const m = pbDecode(
    'MSetRequest',
    encodeMSetRequest({
      entries: [
        { key: 'k', value: 'v'.repeat(200), data: undefined, ttlMs: 1000 },
        { key: 'b', value: '', data: Buffer.from([0, 255]), ttlMs: 0 },
      ],
      consistency: 0,
    }),
  );
  const e = m.entries as Record<string, unknown>[];
  assert.deepEqual([e[0]!.key, e[0]!.value, e[0]!.ttl_ms, e[0]!.payload], ['k', 'v'.repeat(200), '1000', 'value']);
  assert.deepEqual([e[1]!.key, [...(e[1]!.data as Buffer)], e[1]!.payload], ['b', [0, 255], 'data']);
  assert.equal(m.consistency, 0);
});
