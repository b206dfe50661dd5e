/**
 * A shard's byte arena: keys and values live here as bytes, in fixed-size chunks carved
 * from pages of up to 1 MiB, instead of as one JS string each on the V8 heap. The pages are
 * ArrayBuffers (outside the garbage-collected heap, never moved or scanned by the GC), so
 * a store of a million entries adds almost nothing to V8's heap and nothing to its GC work.
 *
 * Size classes: a chunk holds one entry's key and value bytes, rounded up to the class
 * size: multiples of 8 up to 128 bytes, then steps of ~12.5 % up to MAX_CHUNK. Each class
 * takes whole pages as it needs them (bump allocation within its current page) and keeps a
 * free list of chunks given back; a freed chunk is reused by the next entry of the same
 * class. Memory never moves between classes (as in memcached's slab allocator): a workload
 * that shifts from small to large values keeps the small chunks' pages. Internal waste is
 * at most 7 bytes up to 128 bytes and under 12.5 % above.
 *
 * A class's first page is 1 KiB (or one chunk, if larger); each further page is twice the
 * size of the previous one, up to 1 MiB. So a store of many shards holding little data
 * (NUM_SHARDS up to 4096, a few entries per size class each) does not reserve a megabyte per
 * shard and class (measurements: docs/benchmarks/2026-11-23.md).
 *
 * A chunk is named by a 32-bit ref: page index << 17 | (offset in page / 8), page index
 * below 32767: up to ~32 GiB per arena. Pure: no I/O.
 */

/** Largest page. */
export const PAGE_BYTES = 1 << 20;
const FIRST_PAGE_MIN = 1024;
/** Largest chunk; an entry whose key + value bytes exceed it is kept outside the arena. */
export const MAX_CHUNK = 64 * 1024;
const OFFSET_BITS = 17;
const OFFSET_MASK = (1 << OFFSET_BITS) - 1;
/** (page 32767 with the top offset would collide with the all-ones ref callers reserve) */
const MAX_PAGES = (1 << (32 - OFFSET_BITS)) - 1;

/** Chunk sizes, ascending. */
export const CLASS_SIZES: readonly number[] = (() => {
  const sizes: number[] = [];
  for (let s = 8; s <= 128; s += 8) sizes.push(s);
  let s = 128;
  while (s < MAX_CHUNK) {
    s = Math.min(MAX_CHUNK, Math.ceil((s * 9) / 8 / 8) * 8);
    sizes.push(s);
  }
  return sizes;
})();

/** Size class index for `bytes` (1..MAX_CHUNK; 0 bytes use the smallest class). */
export function classOf(bytes: number): number {
  if (bytes <= 128) return bytes <= 8 ? 0 : ((bytes + 7) >> 3) - 1;
  let lo = 16;
  let hi = CLASS_SIZES.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (CLASS_SIZES[mid] >= bytes) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

export function pageOf(ref: number): number {
  return ref >>> OFFSET_BITS;
}

export function offsetOf(ref: number): number {
  return (ref & OFFSET_MASK) << 3;
}

/** One size class's state in an arena; created when the class is first used. */
class SizeClass {
  /** chunks given back, reused first */
  readonly free: number[] = [];
  /** page being carved (-1 none), the next free offset in it, and its size */
  page = -1;
  bump = 0;
  pageBytes = 0;
  constructor(readonly size: number) {}
}

export class Slab {
  readonly pages: Buffer[] = [];
  /** by class index; sparse: a shard only pays for the classes its entries use */
  private readonly classes: (SizeClass | undefined)[] = [];

  /** A chunk of at least `bytes` (<= MAX_CHUNK) bytes. */
  alloc(bytes: number): number {
    const c = classOf(bytes);
    const k = this.classes[c] ?? (this.classes[c] = new SizeClass(CLASS_SIZES[c]));
    const size = k.size;
    if (k.free.length > 0) return k.free.pop() as number;
    let p = k.page;
    let off = k.bump;
    if (p === -1 || off + size > k.pageBytes) {
      p = this.pages.length;
      if (p >= MAX_PAGES) throw new RangeError('store: shard arena is full (32 GiB)');
      const n = k.page === -1 ? Math.min(PAGE_BYTES, Math.max(FIRST_PAGE_MIN, size)) : Math.min(PAGE_BYTES, k.pageBytes * 2);
      this.pages.push(Buffer.alloc(n));
      k.page = p;
      k.pageBytes = n;
      off = 0;
    }
    k.bump = off + size;
    return ((p << OFFSET_BITS) | (off >>> 3)) >>> 0;
  }

  /** Gives back a chunk allocated for `bytes` bytes (the same figure passed to alloc). */
  free(ref: number, bytes: number): void {
    (this.classes[classOf(bytes)] as SizeClass).free.push(ref);
  }

  /** Whether a chunk allocated for `had` bytes can be kept, as is, for `bytes` bytes. */
  static sameClass(had: number, bytes: number): boolean {
    return classOf(had) === classOf(bytes);
  }
}
