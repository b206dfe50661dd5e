import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hash32 } from '../../src/hash/hash.ts';

/** Reference: the same function over bytes produced by Buffer's UTF-8 encoder. */
function reference(s: string, seed = 0): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (const b of Buffer.from(s, 'utf8')) h = Math.imul(h ^ b, 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

test('hash32 hashes the UTF-8 bytes of the key (ASCII, 2-, 3- and 4-byte characters)', () => {
  for (const s of ['', 'foo', 'user:12345', 'café', 'ключ', '日本語キー', 'emoji 😀 key', 'lone \ud800 surrogate']) {
    assert.equal(hash32(s), reference(s), s);
    assert.equal(hash32(s, 7), reference(s, 7), s);
  }
});

test('hash32 spreads sequential keys evenly over 16 buckets', () => {
  const buckets = new Array(16).fill(0);
  for (let i = 0; i < 160_000; i++) buckets[hash32(`key-${i}`) & 15]++;
  for (const b of buckets) assert.ok(b > 9_000 && b < 11_000, `bucket ${b}`);
});

test('different seeds give unrelated hashes', () => {
  let same = 0;
  for (let i = 0; i < 1000; i++) if ((hash32(`k${i}`, 1) & 255) === (hash32(`k${i}`, 2) & 255)) same++;
  assert.ok(same < 20, `${same}`);
});
