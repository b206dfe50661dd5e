import assert from 'node:assert/strict';
import { test } from 'node:test';
import { deflated, HEADER_BYTES, pack, plainLength, unpack, writeStored } from '../../src/store/compress.ts';
import { MAX_CHUNK } from '../../src/store/slab.ts';
import type { EntryRecord, StoreOptions } from '../../src/store/store.ts';
import { ENTRY_OVERHEAD_BYTES, EntryTooLargeError, entryBytes } from '../../src/store/store.ts';
import { seeded } from '../helpers/random.ts';
import { clockedStore } from '../helpers/records.ts';

const T = 1024;

const mk = (over: Partial<StoreOptions> = {}) => clockedStore({ compressionThreshold: T, ...over });

function rec(value: string, wall: number, extra: Partial<EntryRecord> = {}): EntryRecord {
  return { value, binary: false, wall, logical: 0, node: 'n1', expiresAt: 0, tombstone: false, ...extra };
}

/** Compressible JSON-like text of exactly `bytes` UTF-8 bytes (ASCII). */
function json(bytes: number, seed = 1): string {
  const rand = seeded(seed);
  let s = '';
  while (s.length < bytes) s += `{"id":${Math.floor(rand() * 1e6)},"name":"user-${Math.floor(rand() * 1000)}","active":${rand() < 0.5}},`;
  return s.slice(0, bytes);
}

/** `n` random bytes as a latin1 string (incompressible). */
function randomBytes(n: number, seed = 2): string {
  const rand = seeded(seed);
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(rand() * 256);
  return b.toString('latin1');
}

/** Binary but compressible: every byte value, repeating. */
function binaryPattern(n: number): string {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7) & 0xff;
  return b.toString('latin1');
}

// ---- the codec (src/store/compress.ts) ----

test('pack/unpack: text (ASCII and multi-byte UTF-8) and binary values come back identical', () => {
  const cases: [string, boolean][] = [
    [json(4096), false],
    ['héllo wörld — 日本語 🎉 '.repeat(200), false],
    [binaryPattern(5000), true],
  ];
  for (const [v, binary] of cases) {
    const bytes = binary ? v.length : Buffer.byteLength(v, 'utf8');
    const p = pack(v, binary, bytes);
    assert.ok(p !== undefined, 'compressible');
    assert.ok(p.length < bytes);
    assert.equal(plainLength(p, 0), bytes);
    assert.equal(unpack(p, 0, p.length, binary), v);
  }
});

test('pack: incompressible or barely compressible bytes are not packed', () => {
  assert.equal(pack(randomBytes(4096), true, 4096), undefined);
  // random bytes with a compressible tail of 1/16: saves well under 1/8
  const v = randomBytes(3840) + 'a'.repeat(256);
  assert.equal(pack(v, true, 4096), undefined);
});

test('pack/unpack: works at an offset inside a larger buffer (as in a slab page)', () => {
  const v = json(2000, 9);
  const p = pack(v, false, 2000) as Buffer;
  const page = Buffer.alloc(p.length + 100, 0xee);
  p.copy(page, 37);
  assert.equal(plainLength(page, 37), 2000);
  assert.equal(unpack(page, 37, 37 + p.length, false), v);
});

// ---- the store ----

test('values below the threshold are stored as they are; at and above it, compressed; all read back byte for byte', () => {
  const { store } = mk();
  const sizes = [T - 1, T, T + 1, 4096, 60_000];
  for (const n of sizes) store.apply(`k${n}`, rec(json(n, n), 10));
  for (const n of sizes) {
    assert.equal(store.get(`k${n}`)?.value, json(n, n));
    assert.equal(store.peek(`k${n}`)?.value, json(n, n));
  }
  const all = new Map(store.entries());
  for (const n of sizes) assert.equal(all.get(`k${n}`)?.value, json(n, n));
  const st = store.stats();
  assert.equal(st.compressedItems, sizes.length - 1, 'all but the one below the threshold');
  assert.ok(st.compressionRatio > 2, `ratio ${st.compressionRatio}`);
  assert.ok(st.compressionSavedBytes > 0);
});

test('the threshold counts UTF-8 bytes, not characters', () => {
  const { store } = mk();
  // 512 two-byte chars: 1024 bytes, at the threshold
  const v = 'é'.repeat(512);
  store.apply('k', rec(v, 10));
  assert.equal(store.stats().compressedItems, 1);
  assert.equal(store.get('k')?.value, v);
  const w = 'é'.repeat(511); // 1022 bytes
  store.apply('w', rec(w, 10));
  assert.equal(store.stats().compressedItems, 1);
  assert.equal(store.get('w')?.value, w);
});

test('binary values: compressible ones are compressed, random bytes are stored as they are', () => {
  const { store } = mk();
  const pat = binaryPattern(T);
  const rnd = randomBytes(4096);
  store.apply('pat', rec(pat, 10, { binary: true }));
  store.apply('rnd', rec(rnd, 10, { binary: true }));
  const a = store.get('pat');
  const b = store.get('rnd');
  assert.equal(a?.binary, true);
  assert.equal(a?.value, pat);
  assert.equal(b?.binary, true);
  assert.equal(b?.value, rnd);
  const st = store.stats();
  assert.equal(st.compressedItems, 1, 'only the pattern');
  const rndOnly = mk().store;
  rndOnly.apply('rnd', rec(rnd, 10, { binary: true }));
  assert.equal(rndOnly.stats().bytes, entryBytes('rnd', rnd, true), 'random bytes charged at their plain size');
  assert.equal(rndOnly.stats().compressedItems, 0);
});

test('bytes counts the stored (compressed) size: overhead + key + stored form', () => {
  const v = json(4096);
  const on = mk().store;
  const off = mk({ compressionThreshold: 0 }).store;
  on.apply('key', rec(v, 10));
  off.apply('key', rec(v, 10));
  const stored = (pack(v, false, 4096) as Buffer).length;
  assert.equal(on.stats().bytes, ENTRY_OVERHEAD_BYTES + 3 + stored);
  assert.equal(off.stats().bytes, entryBytes('key', v, false));
  assert.equal(off.stats().compressedItems, 0, 'threshold 0: off');
  assert.equal(on.stats().compressionSavedBytes, 4096 - stored);
  assert.equal(on.stats().compressionRatio, 4096 / stored);
  assert.equal(off.stats().compressionRatio, 1);
});

test('MAX_MEMORY counts compressed sizes: what fits compressed would be evicted plain', () => {
  const n = 50;
  const values = Array.from({ length: n }, (_, i) => json(4096, 100 + i));
  const budget = n * (ENTRY_OVERHEAD_BYTES + 8 + 2000); // far below n plain 4 KB values
  const on = mk({ maxMemoryBytes: budget }).store;
  const off = mk({ maxMemoryBytes: budget, compressionThreshold: 0 }).store;
  values.forEach((v, i) => {
    on.apply(`key-${String(i).padStart(4, '0')}`, rec(v, 10));
    off.apply(`key-${String(i).padStart(4, '0')}`, rec(v, 10));
  });
  assert.equal(on.stats().evictions, 0);
  assert.equal(on.size, n);
  assert.ok(on.stats().bytes <= budget);
  assert.ok(off.stats().evictions > 0);
  for (const [i, v] of values.entries()) assert.equal(on.get(`key-${String(i).padStart(4, '0')}`)?.value, v);
});

test('an entry too large for the shard budget plain is accepted when its compressed form fits', () => {
  const v = json(8000);
  const { store } = mk({ maxMemoryBytes: 4000 });
  assert.equal(store.apply('k', rec(v, 10)), true);
  assert.equal(store.get('k')?.value, v);
  assert.throws(() => store.apply('r', rec(randomBytes(8000), 11, { binary: true })), EntryTooLargeError);
});

test('overwrites move between compressed and plain forms and keep the counters exact', () => {
  const { store } = mk();
  const big = json(4096, 3);
  const big2 = json(4100, 4); // likely the same size class once compressed: rewritten in place
  const small = 'tiny';
  const steps: [string, boolean][] = [
    [big, true],
    [big2, true],
    [small, false],
    [big, true],
    [randomBytes(2000), false],
    [big2, true],
  ];
  let wall = 10;
  for (const [v, packed] of steps) {
    const binary = v.length === 2000;
    assert.equal(store.apply('k', rec(v, wall++, { binary })), true);
    assert.equal(store.get('k')?.value, v);
    const st = store.stats();
    assert.equal(st.compressedItems, packed ? 1 : 0);
    const bytes = binary ? v.length : Buffer.byteLength(v);
    const stored = packed ? (pack(v, binary, bytes) as Buffer).length : bytes;
    assert.equal(st.bytes, ENTRY_OVERHEAD_BYTES + 1 + stored);
    assert.equal(st.compressionSavedBytes, packed ? bytes - stored : 0);
  }
  store.apply('k', rec('', wall++, { tombstone: true }));
  assert.equal(store.stats().compressedItems, 0);
  assert.equal(store.stats().compressionSavedBytes, 0);
  assert.equal(store.get('k'), undefined);
});

test('a write older than the stored version is refused without touching the entry', () => {
  const { store } = mk();
  const v = json(2048);
  store.apply('k', rec(v, 20));
  const before = store.stats();
  assert.equal(store.apply('k', rec(json(3000, 5), 19)), false);
  assert.equal(store.apply('k', rec(json(3000, 5), 20)), false, 'same version');
  assert.equal(store.get('k')?.value, v);
  assert.deepEqual({ ...store.stats(), hits: 0 }, { ...before, hits: 0 });
});

test('removal by drop, expiry and eviction takes compressed entries out of the counters', () => {
  const { store, clock } = mk({ capacity: 2 });
  store.apply('a', rec(json(2000, 1), 10));
  store.apply('b', rec(json(2000, 2), 10, { expiresAt: 2_000 }));
  assert.equal(store.stats().compressedItems, 2);
  store.apply('c', rec(json(2000, 3), 10)); // evicts a (LRU)
  assert.equal(store.stats().evictions, 1);
  assert.equal(store.stats().compressedItems, 2);
  clock.t = 3_000;
  assert.equal(store.sweep(10), 1);
  assert.equal(store.stats().compressedItems, 1);
  assert.equal(store.drop('c'), true);
  const st = store.stats();
  assert.equal(st.compressedItems, 0);
  assert.equal(st.compressionSavedBytes, 0);
  assert.equal(st.bytes, 0);
});

test('values larger than a slab chunk: compressed into the arena, or kept outside compressed, or plain', () => {
  const { store } = mk();
  // compresses far below MAX_CHUNK: lives in the arena compressed
  const a = json(300_000, 7);
  // base64 of random bytes: ~3/4 after deflate, still above MAX_CHUNK: outside, compressed
  const rand = seeded(5);
  const raw = Buffer.alloc(200_000);
  for (let i = 0; i < raw.length; i++) raw[i] = Math.floor(rand() * 256);
  const b = raw.toString('base64');
  // random bytes above MAX_CHUNK: outside, as they are
  const c = randomBytes(MAX_CHUNK + 10);
  store.apply('a', rec(a, 10));
  store.apply('b', rec(b, 10));
  store.apply('c', rec(c, 10, { binary: true }));
  assert.equal(store.get('a')?.value, a);
  assert.equal(store.get('b')?.value, b);
  assert.equal(store.get('c')?.value, c);
  assert.equal(store.stats().compressedItems, 2);
  const sb = (pack(b, false, b.length) as Buffer).length;
  assert.ok(sb > MAX_CHUNK, 'b stays outside the arena');
  // overwrite the outside compressed one with a plain small value, then remove everything
  store.apply('b', rec('x', 11));
  assert.equal(store.get('b')?.value, 'x');
  for (const k of ['a', 'b', 'c']) store.drop(k);
  assert.deepEqual([store.stats().compressedItems, store.stats().compressionSavedBytes, store.stats().bytes], [0, 0, 0]);
});

test('the stored form starts with the plain byte count', () => {
  const v = json(1500);
  const p = pack(v, false, 1500) as Buffer;
  assert.equal(p.readUInt32LE(0), 1500);
  assert.ok(p.length > HEADER_BYTES);
});

test('deflated + writeStored write exactly the stored form pack gives, at any offset; deflated declines what pack declines', () => {
  const cases: [string, boolean][] = [
    [json(1500), false],
    [json(300_000, 3), false], // a body longer than zlib's default output chunk
    [`${'é'.repeat(700)}${json(800)}`, false],
    [binaryPattern(5000), true],
    [randomBytes(4096), true],
  ];
  for (const [v, binary] of cases) {
    const bytes = binary ? v.length : Buffer.byteLength(v);
    const p = pack(v, binary, bytes);
    const body = deflated(v, binary, bytes);
    assert.equal(body === undefined, p === undefined, `${bytes} bytes: both decline or neither`);
    if (p === undefined || body === undefined) continue;
    assert.equal(HEADER_BYTES + body.length, p.length);
    const page = Buffer.alloc(p.length + 50, 0xaa);
    writeStored(page, 13, bytes, body);
    assert.ok(page.subarray(13, 13 + p.length).equals(p), `${bytes} bytes: same stored form`);
    assert.ok(
      page.subarray(0, 13).every((b) => b === 0xaa) && page.subarray(13 + p.length).every((b) => b === 0xaa),
      'nothing else written',
    );
    assert.equal(unpack(page, 13, 13 + p.length, binary), v);
  }
});

test('a compressed write over an expired entry of its key: the old one is expired once (told, counted), the new one stored', () => {
  const { store, clock } = mk();
  const told: string[] = [];
  store.observe({
    applied: (key, r, prev) => told.push(`applied ${key}@${r.wall} replacing ${prev ? prev.wall : 'none'}`),
    removed: (_kind, key, wall) => told.push(`removed ${key}@${wall}`),
    flushed: () => {},
  });
  store.apply('k', rec(json(2000, 1), 10, { expiresAt: 2_000 }));
  clock.t = 2_000;
  const v = json(3000, 2);
  assert.equal(store.apply('k', rec(v, 9)), true, 'an older version than the dead one is stored');
  assert.deepEqual(told, ['applied k@10 replacing none', 'removed k@10', 'applied k@9 replacing none']);
  const st = store.stats();
  assert.deepEqual([st.expirations, st.items, st.compressedItems], [1, 1, 1]);
  assert.equal(store.get('k')?.value, v);
  assert.equal(store.apply('k', rec(json(3000, 3), 9)), false, 'the same version again is refused');
  assert.equal(told.length, 3);
});

test('compressionThreshold must be a non-negative integer', () => {
  assert.throws(() => mk({ compressionThreshold: -1 }), /compressionThreshold/);
  assert.throws(() => mk({ compressionThreshold: 1.5 }), /compressionThreshold/);
});
