import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CLASS_SIZES, classOf, MAX_CHUNK, offsetOf, PAGE_BYTES, pageOf, Slab } from '../../src/store/slab.ts';

test('size classes: ascending multiples of 8, up to MAX_CHUNK, steps of at most 12.5 % above 128', () => {
  assert.equal(CLASS_SIZES[0], 8);
  assert.equal(CLASS_SIZES[CLASS_SIZES.length - 1], MAX_CHUNK);
  for (let i = 1; i < CLASS_SIZES.length; i++) {
    const a = CLASS_SIZES[i - 1];
    const b = CLASS_SIZES[i];
    assert.equal(b % 8, 0);
    assert.ok(b > a);
    if (a >= 128) assert.ok(b - a <= Math.ceil(a / 8 / 8) * 8, `${a} -> ${b}`);
    else assert.equal(b - a, 8);
  }
});

test('classOf picks the smallest class that holds the bytes', () => {
  assert.equal(classOf(0), 0);
  for (let n = 1; n <= MAX_CHUNK; n++) {
    const c = classOf(n);
    assert.ok(CLASS_SIZES[c] >= n, `class of ${n}`);
    if (c > 0) assert.ok(CLASS_SIZES[c - 1] < n, `class of ${n} is not the smallest`);
  }
});

test('chunks do not overlap, and a freed chunk is reused by its own class only', () => {
  const slab = new Slab();
  const sizes = [5, 8, 9, 100, 112, 113, 129, 1000, 4000];
  const refs: Array<[number, number]> = [];
  for (let round = 0; round < 50; round++) {
    for (const n of sizes) refs.push([slab.alloc(n), n]);
  }
  // fill every chunk with a byte unique to it, then check nothing was overwritten
  for (const [i, [r, n]] of refs.entries()) slab.pages[pageOf(r)].fill(i & 0xff, offsetOf(r), offsetOf(r) + n);
  refs.forEach(([r, n], i) => {
    const p = slab.pages[pageOf(r)];
    for (let j = 0; j < n; j++) assert.equal(p[offsetOf(r) + j], i & 0xff);
    assert.ok(offsetOf(r) + CLASS_SIZES[classOf(n)] <= PAGE_BYTES);
  });

  const [r100] = refs[3];
  slab.free(r100, 100);
  assert.notEqual(slab.alloc(120), r100, 'another class does not take it');
  assert.equal(slab.alloc(97), r100, 'same class (104) reuses it');
});

test('a class takes a new page when its page is full: 1 KiB or one chunk first, then doubling to 1 MiB', () => {
  const slab = new Slab();
  // 64 KiB chunks: pages of 1, 2, 4, 8, 16, 16, ... chunks
  const refs: number[] = [];
  for (let i = 0; i < 1 + 2 + 4 + 8 + 16 + 1; i++) refs.push(slab.alloc(MAX_CHUNK));
  assert.deepEqual(
    slab.pages.map((p) => p.length / MAX_CHUNK),
    [1, 2, 4, 8, 16, 16],
  );
  assert.equal(PAGE_BYTES, 16 * MAX_CHUNK);
  const perPage = [1, 2, 4, 8, 16, 1];
  let i = 0;
  perPage.forEach((n, page) => {
    for (let j = 0; j < n; j++, i++) {
      assert.equal(pageOf(refs[i]), page, `chunk ${i}`);
      assert.equal(offsetOf(refs[i]), j * MAX_CHUNK, `chunk ${i}`);
    }
  });
  // a small class starts its own 1 KiB page rather than sharing one being carved by another class
  const small = slab.alloc(10);
  assert.equal(pageOf(small), 6);
  assert.equal(slab.pages[6].length, 1024);
  for (let k = 1; k < 1024 / 16; k++) assert.equal(pageOf(slab.alloc(16)), 6);
  assert.equal(pageOf(slab.alloc(16)), 7);
  assert.equal(slab.pages[7].length, 2048);
});
