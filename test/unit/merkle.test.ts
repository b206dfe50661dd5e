import assert from 'node:assert/strict';
import { test } from 'node:test';
import { diffBuckets, keyLaneLo, type MerkleLeafItem, MerkleLeaves, MerkleTree, NodeLanes, xorDigest } from '../../src/merkle/merkle.ts';
import { keyPosition } from '../../src/ring/ring.ts';
import { seeded } from '../helpers/random.ts';

function item(key: string, wall: number, logical = 0, node = 'n1', tombstone = false): MerkleLeafItem {
  return { key, wall, logical, node, tombstone };
}

/** A replica's store: key -> item, mirrored into a tree through update(). */
class Replica {
  readonly items = new Map<string, MerkleLeafItem>();
  constructor(readonly tree: MerkleTree) {}
  put(it: MerkleLeafItem): void {
    this.tree.update(it.key, this.items.get(it.key), it);
    this.items.set(it.key, it);
  }
  drop(key: string): void {
    this.tree.update(key, this.items.get(key), undefined);
    this.items.delete(key);
  }
}

function remoteOf(tree: MerkleTree, log?: Array<{ level: number; count: number }>) {
  return async (level: number, indexes: number[]): Promise<string[]> => {
    log?.push({ level, count: indexes.length });
    return tree.hashes(level, indexes);
  };
}

function shuffled<T>(xs: T[], rnd: () => number): T[] {
  const a = xs.slice();
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

const sameKey = (a: MerkleLeafItem | undefined, b: MerkleLeafItem | undefined): boolean =>
  a === b ||
  (a !== undefined && b !== undefined && a.wall === b.wall && a.logical === b.logical && a.node === b.node && a.tombstone === b.tombstone);

test('constructor validates depth; bucketOf uses the top bits of keyPosition', () => {
  assert.throws(() => new MerkleTree(0), RangeError);
  assert.throws(() => new MerkleTree(17), RangeError);
  const t = new MerkleTree(10);
  assert.equal(t.depth, 10);
  assert.equal(t.buckets, 1024);
  for (const k of ['a', 'b', 'user:1']) assert.equal(t.bucketOf(k), keyPosition(k) >>> 22);
  assert.equal(new MerkleTree(16).bucketOf('a'), keyPosition('a') >>> 16);
  assert.equal(t.root(), '0000000000000000');
  assert.match(new MerkleTree(1).root(), /^[0-9a-f]{16}$/);
});

test('same items in different insertion orders give equal roots', () => {
  const rnd = seeded(1);
  const items = Array.from({ length: 2_000 }, (_, i) => item(`k${i}`, 1_000 + i, i % 3, `n${i % 4}`, i % 7 === 0));
  const a = new Replica(new MerkleTree(10));
  const b = new Replica(new MerkleTree(10));
  for (const it of items) a.put(it);
  // b goes through older versions and deletions first, then converges to the same set
  for (const it of shuffled(items, rnd)) {
    b.put({ ...it, wall: it.wall - 500 });
    if (rnd() < 0.3) b.drop(it.key);
  }
  for (const it of shuffled(items, rnd)) b.put(it);
  assert.equal(b.tree.root(), a.tree.root());
  assert.notEqual(a.tree.root(), '0000000000000000');
  for (let level = 0; level <= 10; level++) {
    const idx = Array.from({ length: 1 << level }, (_, i) => i);
    assert.deepEqual(b.tree.hashes(level, idx), a.tree.hashes(level, idx));
  }
});

test('an inner hash is the XOR of its children', () => {
  const r = new Replica(new MerkleTree(4));
  for (let i = 0; i < 100; i++) r.put(item(`k${i}`, i));
  for (let level = 0; level < 4; level++) {
    for (let i = 0; i < 1 << level; i++) {
      const [p] = r.tree.hashes(level, [i]);
      const [l, rr] = r.tree.hashes(level + 1, [2 * i, 2 * i + 1]);
      assert.equal(BigInt(`0x${p}`), BigInt(`0x${l}`) ^ BigInt(`0x${rr}`));
    }
  }
});

test('one differing version: roots differ and diffBuckets returns exactly that bucket', async () => {
  for (const field of ['wall', 'logical', 'node', 'tombstone'] as const) {
    const a = new Replica(new MerkleTree(10));
    const b = new Replica(new MerkleTree(10));
    for (let i = 0; i < 1_000; i++) {
      a.put(item(`k${i}`, 5_000, 1, 'n1'));
      b.put(item(`k${i}`, 5_000, 1, 'n1'));
    }
    const changed = { ...b.items.get('k42')! };
    if (field === 'wall') changed.wall++;
    else if (field === 'logical') changed.logical++;
    else if (field === 'node') changed.node = 'n2';
    else changed.tombstone = true;
    b.put(changed);
    assert.notEqual(a.tree.root(), b.tree.root(), field);
    assert.deepEqual(await diffBuckets(a.tree, remoteOf(b.tree)), [a.tree.bucketOf('k42')], field);
    assert.deepEqual(await diffBuckets(b.tree, remoteOf(a.tree)), [a.tree.bucketOf('k42')], field);
  }
});

test('a removed key shows as a differing bucket, and removal restores the earlier root', async () => {
  const a = new Replica(new MerkleTree(8));
  const b = new Replica(new MerkleTree(8));
  for (let i = 0; i < 500; i++) {
    a.put(item(`k${i}`, i));
    b.put(item(`k${i}`, i));
  }
  const before = a.tree.root();
  a.put(item('extra', 1));
  assert.notEqual(a.tree.root(), before);
  assert.deepEqual(await diffBuckets(a.tree, remoteOf(b.tree)), [a.tree.bucketOf('extra')]);
  a.drop('extra');
  assert.equal(a.tree.root(), before);

  b.drop('k7');
  assert.deepEqual(await diffBuckets(a.tree, remoteOf(b.tree)), [a.tree.bucketOf('k7')]);
  // remove every key: back to the empty root
  for (const k of [...a.items.keys()]) a.drop(k);
  assert.equal(a.tree.root(), new MerkleTree(8).root());
});

test('update with no change is a no-op; mismatched item keys are refused', () => {
  const t = new MerkleTree(6);
  t.update('k', undefined, undefined);
  assert.equal(t.root(), '0000000000000000');
  const it = item('k', 1);
  t.update('k', undefined, it);
  const r = t.root();
  t.update('k', it, { ...it });
  assert.equal(t.root(), r);
  assert.throws(() => t.update('other', undefined, it), RangeError);
  assert.throws(() => t.update('other', it, undefined), RangeError);
  assert.throws(() => t.hashes(7, [0]), RangeError);
  assert.throws(() => t.hashes(2, [4]), RangeError);
});

test('diffBuckets on equal trees returns [] after a single root request', async () => {
  const a = new Replica(new MerkleTree(12));
  const b = new Replica(new MerkleTree(12));
  for (let i = 0; i < 3_000; i++) {
    a.put(item(`k${i}`, i));
    b.put(item(`k${i}`, i));
  }
  const log: Array<{ level: number; count: number }> = [];
  assert.deepEqual(await diffBuckets(a.tree, remoteOf(b.tree, log)), []);
  assert.deepEqual(log, [{ level: 0, count: 1 }]);
  assert.deepEqual(await diffBuckets(new MerkleTree(3), remoteOf(new MerkleTree(3))), []);
});

test('many random differences are found exactly (against a brute-force diff), one request per level', async () => {
  for (const [seed, depth, changes] of [
    [7, 10, 50],
    [8, 10, 3_000],
    [9, 4, 200],
    [10, 16, 400],
  ] as const) {
    const rnd = seeded(seed);
    const a = new Replica(new MerkleTree(depth));
    const b = new Replica(new MerkleTree(depth));
    const keys = Array.from({ length: 5_000 }, (_, i) => `user:${seed}:${i}`);
    for (const k of keys) {
      const it = item(k, 1_700_000_000_000 + Math.floor(rnd() * 1e6), Math.floor(rnd() * 10), `n${Math.floor(rnd() * 3)}`);
      a.put(it);
      b.put(it);
    }
    for (let c = 0; c < changes; c++) {
      const k = rnd() < 0.9 ? keys[Math.floor(rnd() * keys.length)]! : `new:${seed}:${c}`;
      const target = rnd() < 0.5 ? a : b;
      const roll = rnd();
      if (roll < 0.2) target.drop(k);
      else target.put(item(k, 1_800_000_000_000 + c, 0, 'n9', roll > 0.9));
    }
    // brute force: buckets of keys whose items differ (or exist on one side only)
    const expected = new Set<number>();
    for (const k of new Set([...a.items.keys(), ...b.items.keys()])) {
      if (!sameKey(a.items.get(k), b.items.get(k))) expected.add(a.tree.bucketOf(k));
    }
    const log: Array<{ level: number; count: number }> = [];
    const got = await diffBuckets(a.tree, remoteOf(b.tree, log));
    assert.deepEqual(
      got,
      [...expected].sort((x, y) => x - y),
      `seed ${seed}`,
    );
    assert.ok(log.length <= depth + 1, `${log.length} requests`);
    assert.deepEqual(
      log.map((l) => l.level),
      Array.from({ length: log.length }, (_, i) => i),
    );
    if (expected.size > 0) assert.equal(log.length, depth + 1);
    // each level asks only for children of differing nodes
    for (let i = 1; i < log.length; i++) assert.ok(log[i]!.count <= 2 * log[i - 1]!.count);
  }
});

test('diffBuckets rejects a remote answer of the wrong length', async () => {
  const t = new MerkleTree(4);
  await assert.rejects(
    diffBuckets(t, async () => []),
    /hashes for 1 nodes/,
  );
});

test('leaves kept by xorDigest + MerkleLeaves make the same tree as update(), inner levels included', () => {
  const depth = 5;
  const full = new MerkleTree(depth);
  const leaves = new MerkleLeaves(depth);
  const d = new Uint32Array(2);
  const item = (i: number) => ({ key: `key${i}`, wall: 1000 + i, logical: i % 3, node: `n${i % 4}`, tombstone: i % 5 === 0 });
  const nodes = new NodeLanes();
  /** XORs the item's digest into its leaf (in or out: the same move). */
  const toggle = (it: MerkleLeafItem) => {
    d[0] = 0;
    d[1] = 0;
    xorDigest(d, keyPosition(it.key), keyLaneLo(it.key), nodes.of(it.node), it.wall, it.logical, it.tombstone);
    leaves.xorAt(keyPosition(it.key), d[0]!, d[1]!);
  };
  for (let i = 0; i < 500; i++) {
    const it = item(i);
    full.update(it.key, undefined, it);
    toggle(it);
  }
  // take some out again, the same way
  for (let i = 0; i < 500; i += 3) {
    const it = item(i);
    full.update(it.key, it, undefined);
    toggle(it);
  }
  const t = leaves.tree();
  for (let level = 0; level <= depth; level++) {
    const idx = Array.from({ length: 1 << level }, (_, i) => i);
    assert.deepEqual(t.hashes(level, idx), full.hashes(level, idx), `level ${level}`);
  }
  assert.notEqual(t.root(), '0000000000000000');
  assert.throws(() => new MerkleLeaves(17), RangeError);
});

test('digests are part of the node-to-node protocol: fixed values every version must reproduce', () => {
  // computed by the code of d03a9be (before the kept trees) and unchanged since: a change here
  // means nodes of two versions would see every bucket differ
  const one = new MerkleTree(4);
  one.update('k', undefined, { key: 'k', wall: 1_700_000_000_000, logical: 3, node: 'n1', tombstone: false });
  assert.equal(one.root(), '628e9cf53c847983');
  const many = new MerkleTree(12);
  const item = (i: number) => ({
    key: `key:${i}`,
    wall: 1_700_000_000_000 + i * 7,
    logical: i % 5,
    node: `10.0.0.${i % 7}:7000`,
    tombstone: i % 11 === 0,
  });
  for (let i = 0; i < 20_000; i++) many.update(item(i).key, undefined, item(i));
  for (let i = 0; i < 20_000; i += 3) many.update(item(i).key, item(i), undefined);
  assert.equal(many.root(), '6db3a29512eb9cd3');
});
