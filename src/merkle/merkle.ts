/**
 * Hash tree over the key-position space, for anti-entropy between replicas.
 *
 * Shape: a complete binary tree of the given depth. Leaf b (0 .. 2^depth - 1) is the bucket of
 * the keys whose position (keyPosition(key), uint32) has b as its top `depth` bits; node i at
 * level l covers the leaves i << (depth - l) .. ((i + 1) << (depth - l)) - 1.
 *
 * Hashes: every stored item (key, wall, logical, node, tombstone) has a 64-bit digest made of
 * two independent 32-bit lanes (different seeds), each a murmur3-style combination of
 * hash32(key), hash32(node) and the exact bits of wall, logical and the tombstone flag. The hash of
 * any tree node is the XOR of the digests of all items below it. Hence:
 *  - an update XORs (old digest ^ new digest) into the depth + 1 nodes on the key's path: O(depth);
 *  - the root depends only on the SET of items, not on the order of updates, and removing an
 *    item restores the previous hashes exactly;
 *  - a node's hash equals the XOR of its two children.
 * Hashes are shown as 16 lowercase hex digits (high 32 bits, then low 32 bits); an empty
 * subtree is '0000000000000000'.
 *
 * This is a checksum against accidental divergence (64 bits, not cryptographic).
 * Pure: no I/O, no timers.
 */
import { fmix32, hash32 } from '../hash/hash.js';
import { keyPosition } from '../ring/ring.js';

/** A key's stored version as the tree sees it. */
export interface MerkleLeafItem {
  key: string;
  wall: number;
  logical: number;
  node: string;
  tombstone: boolean;
}

const SEED_HI = 0x6d65726b; // 'merk'
const SEED_LO = 0x6c656166; // 'leaf'

/** Scratch for reading a number's IEEE-754 bits in a fixed (big-endian) byte order. */
const scratchF = new Float64Array(1);
const scratchW = new Uint32Array(scratchF.buffer);
/** Index in scratchW of the float's high (first big-endian) word: 1 on little-endian machines. */
const HIGH = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1 ? 1 : 0;
const LOW = 1 - HIGH;

/** murmur3 32-bit block step: folds the 32-bit word k into the state h. */
function mix(h: number, k: number): number {
  k = Math.imul(k, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, 0x1b873593);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

/**
 * One 32-bit lane of an item's digest: murmur3-style, starting from `seed`, over the words
 * [keyHash, nodeHash, wall as big-endian float64 (2 words), logical as float64 (2 words),
 * tombstone ? 1 : 0], then the murmur3 finaliser. The high lane uses SEED_HI,
 * keyHash = hash32(key) (= keyPosition) and nodeHash = hash32(node, SEED_HI); the low lane
 * SEED_LO, hash32(key, SEED_LO) and hash32(node, SEED_LO). This is part of the
 * replica-to-replica protocol: every process must compute it identically.
 */
function lane(seed: number, keyHash: number, nodeHash: number, wall: number, logical: number, tombstone: boolean): number {
  let h = mix(seed, keyHash);
  h = mix(h, nodeHash);
  scratchF[0] = wall + 0; // + 0 turns -0 into 0
  h = mix(h, scratchW[HIGH]!);
  h = mix(h, scratchW[LOW]!);
  if (logical === 0) {
    // the bits of +0 (the common case)
    h = mix(h, 0);
    h = mix(h, 0);
  } else {
    scratchF[0] = logical;
    h = mix(h, scratchW[HIGH]!);
    h = mix(h, scratchW[LOW]!);
  }
  h = mix(h, tombstone ? 1 : 0);
  return fmix32(h ^ 28);
}

/** The low lane's hash of a key (the high lane's is keyPosition(key)). */
export function keyLaneLo(key: string): number {
  return hash32(key, SEED_LO);
}

/** The two lanes' hashes of a writer node id, [high, low] (worth memoising: a cluster has few). */
function nodeLanes(node: string): readonly [number, number] {
  return [hash32(node, SEED_HI), hash32(node, SEED_LO)];
}

/** nodeLanes memoised: a cluster has few node ids (past 1,024 different ones the memo starts over). */
export class NodeLanes {
  private readonly memo = new Map<string, readonly [number, number]>();

  of(node: string): readonly [number, number] {
    let h = this.memo.get(node);
    if (h === undefined) {
      if (this.memo.size >= 1024) this.memo.clear();
      h = nodeLanes(node);
      this.memo.set(node, h);
    }
    return h;
  }
}

/** A tree depth in 1..16, or a RangeError. */
function checkDepth(depth: number): void {
  if (!Number.isInteger(depth) || depth < 1 || depth > 16) {
    throw new RangeError(`depth must be an integer in 1..16, got ${depth}`);
  }
}

/**
 * XORs an item's digest into out[0] (high lane) and out[1] (low lane), from its key's hashes
 * (keyPosition, keyLaneLo), its writer's (nodeLanes) and its version: the same digest
 * MerkleTree.update uses, for callers that put one item into several trees (computed once).
 */
export function xorDigest(
  out: Uint32Array,
  position: number,
  keyLo: number,
  node: readonly [number, number],
  wall: number,
  logical: number,
  tombstone: boolean,
): void {
  out[0] ^= lane(SEED_HI, position, node[0], wall, logical, tombstone);
  out[1] ^= lane(SEED_LO, keyLo, node[1], wall, logical, tombstone);
}

function hex8(x: number): string {
  return (x >>> 0).toString(16).padStart(8, '0');
}

export class MerkleTree {
  readonly depth: number;
  /** Heap layout: node i of level l is at (1 << l) + i; slot 0 unused. */
  private readonly hi: Uint32Array;
  private readonly lo: Uint32Array;
  private readonly shift: number;
  private readonly nodes = new NodeLanes();
  /** Scratch for update's digest (both lanes). */
  private readonly digest = new Uint32Array(2);

  /** depth 1..16: 2^depth leaf buckets. */
  constructor(depth: number) {
    checkDepth(depth);
    this.depth = depth;
    this.shift = 32 - depth;
    this.hi = new Uint32Array(2 << depth);
    this.lo = new Uint32Array(2 << depth);
  }

  /** Number of leaf buckets (2^depth). */
  get buckets(): number {
    return 1 << this.depth;
  }

  /** Leaf bucket of a key: keyPosition(key) >>> (32 - depth). */
  bucketOf(key: string): number {
    return keyPosition(key) >>> this.shift;
  }

  /**
   * Records that the stored version of `key` changed from `prev` to `next` (prev undefined:
   * new key; next undefined: key dropped). The items' own `key` field must equal `key`.
   * O(depth). The caller must report every change exactly once, so that the tree always
   * reflects the current set of items.
   */
  update(key: string, prev: MerkleLeafItem | undefined, next: MerkleLeafItem | undefined): void {
    if (prev === undefined && next === undefined) return;
    const position = keyPosition(key);
    const kLo = hash32(key, SEED_LO);
    const d = this.digest;
    d[0] = 0;
    d[1] = 0;
    if (prev !== undefined) {
      if (prev.key !== key) throw new RangeError(`prev.key ${prev.key} differs from key ${key}`);
      xorDigest(d, position, kLo, this.nodes.of(prev.node), prev.wall, prev.logical, prev.tombstone);
    }
    if (next !== undefined) {
      if (next.key !== key) throw new RangeError(`next.key ${next.key} differs from key ${key}`);
      xorDigest(d, position, kLo, this.nodes.of(next.node), next.wall, next.logical, next.tombstone);
    }
    this.xorAt(position, d[0]!, d[1]!);
  }

  /** XORs a digest into the depth + 1 nodes on the path of a key at `position`. O(depth). */
  private xorAt(position: number, dHi: number, dLo: number): void {
    if (dHi === 0 && dLo === 0) return;
    const hi = this.hi;
    const lo = this.lo;
    for (let i = (1 << this.depth) + (position >>> this.shift); i >= 1; i >>>= 1) {
      hi[i] ^= dHi;
      lo[i] ^= dLo;
    }
  }

  /** The tree whose leaf buckets hold `leaves`' hashes (its inner nodes computed: O(2^depth)). */
  static fromLeaves(leaves: MerkleLeaves): MerkleTree {
    const t = new MerkleTree(leaves.depth);
    const width = 1 << leaves.depth;
    const h = leaves.hashes;
    for (let b = 0; b < width; b++) {
      t.hi[width + b] = h[2 * b]!;
      t.lo[width + b] = h[2 * b + 1]!;
    }
    for (let i = width - 1; i >= 1; i--) {
      t.hi[i] = t.hi[2 * i]! ^ t.hi[2 * i + 1]!;
      t.lo[i] = t.lo[2 * i]! ^ t.lo[2 * i + 1]!;
    }
    return t;
  }

  /** Root hash: 16 hex digits (see the module comment). */
  root(): string {
    return hex8(this.hi[1]!) + hex8(this.lo[1]!);
  }

  /** Hashes of the nodes at `level` (0 = root, depth = leaves) with the given indexes. */
  hashes(level: number, indexes: number[]): string[] {
    if (!Number.isInteger(level) || level < 0 || level > this.depth) {
      throw new RangeError(`level must be an integer in 0..${this.depth}, got ${level}`);
    }
    const width = 1 << level;
    const out = new Array<string>(indexes.length);
    for (let j = 0; j < indexes.length; j++) {
      const i = indexes[j]!;
      if (!Number.isInteger(i) || i < 0 || i >= width) {
        throw new RangeError(`index ${i} out of range 0..${width - 1} at level ${level}`);
      }
      out[j] = hex8(this.hi[width + i]!) + hex8(this.lo[width + i]!);
    }
    return out;
  }
}

/**
 * The leaf buckets of a tree only, for a tree kept up to date on every change: an update
 * XORs a digest into one bucket (O(1), both lanes side by side in one array), and
 * MerkleTree.fromLeaves makes the whole tree when it is read.
 */
export class MerkleLeaves {
  readonly depth: number;
  /** Bucket b's high lane at 2b, its low lane at 2b + 1. */
  readonly hashes: Uint32Array;
  private readonly shift: number;

  /** depth 1..16, as MerkleTree. */
  constructor(depth: number) {
    checkDepth(depth);
    this.depth = depth;
    this.shift = 32 - depth;
    this.hashes = new Uint32Array(2 << depth);
  }

  /** XORs a digest (xorDigest's two lanes) into the bucket of a key at `position`. */
  xorAt(position: number, dHi: number, dLo: number): void {
    const b = (position >>> this.shift) << 1;
    this.hashes[b] ^= dHi;
    this.hashes[b + 1] ^= dLo;
  }

  tree(): MerkleTree {
    return MerkleTree.fromLeaves(this);
  }
}

/**
 * Compares `local` with a remote tree of the same depth, top-down, and returns the leaf
 * buckets whose hashes differ, ascending. `remoteHashes` has the meaning of
 * MerkleTree.hashes on the remote; it is called once per level at most (depth + 1 calls),
 * only with the children of nodes that differed, and not at all below a matching root.
 */
export async function diffBuckets(
  local: MerkleTree,
  remoteHashes: (level: number, indexes: number[]) => Promise<string[]>,
): Promise<number[]> {
  let candidates = [0];
  for (let level = 0; ; level++) {
    const remote = await remoteHashes(level, candidates);
    if (!Array.isArray(remote) || remote.length !== candidates.length) {
      throw new Error(
        `remote returned ${Array.isArray(remote) ? remote.length : typeof remote} hashes for ${candidates.length} nodes at level ${level}`,
      );
    }
    const mine = local.hashes(level, candidates);
    const differing: number[] = [];
    for (let j = 0; j < candidates.length; j++) {
      if (mine[j] !== remote[j]) differing.push(candidates[j]!);
    }
    if (level === local.depth || differing.length === 0) return differing;
    candidates = new Array<number>(differing.length * 2);
    for (let j = 0; j < differing.length; j++) {
      candidates[2 * j] = differing[j]! * 2;
      candidates[2 * j + 1] = differing[j]! * 2 + 1;
    }
  }
}
