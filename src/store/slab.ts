/**
 * A shard's byte arena: keys and values live here as bytes, in fixed-size chunks carved
 * from 1 MiB pages, instead of as one JS string each on the V8 heap. The pages are
 * ArrayBuffers (outside the garbage-collected heap, never moved or scanned by the GC), so
 * a store of a million entries adds almost nothing to V8's heap and nothing to its GC work.
 *
 * Size classes: a chunk holds one entry's key and value bytes, rounded up to the class
 * size: multiples of 8 up to 128 bytes, then steps of ~12.5 % up to MAX_CHUNK. Each class
 * takes whole pages as it needs them (bump allocation within its current page) and keeps a
 * free list of chunks given back; a freed chunk is reused by the next entry of the same
 * class. Memory never moves between classes (as in memcached's slab allocator): a workload
 * that shifts from small to large values keeps the small chunks' pages. Internal waste is
 * at most 7 bytes up to 128 bytes and under 12.5 % above. Pages are allocated zero-filled,
 * so the untouched tail of a page costs address space, not resident memory.
 *
 * A chunk is named by a 32-bit ref: page index << 17 | (offset in page / 8). That allows
 * 32768 pages (32 GiB) per arena. Pure: no I/O.
 */

export const PAGE_BYTES = 1 << 20;
/** Largest chunk; an entry whose key + value bytes exceed it is kept outside the arena. */
export const MAX_CHUNK = 64 * 1024;
const OFFSET_BITS = 17;
const OFFSET_MASK = (1 << OFFSET_BITS) - 1;
const MAX_PAGES = 1 << (32 - OFFSET_BITS);

/** Chunk sizes, ascending. */
export const CLASS_SIZES: readonly number[] = (() => {
  const sizes: number[] = [];
  for (let s = 8; s <= 128; s += 8) sizes.push(s);
  let s = 128;
  while (s < MAX_CHUNK) {
    s = Math.min(MAX_CHUNK, (Math.ceil((s * 9) / 8 / 8)) * 8);
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

export class Slab {
  readonly pages: Buffer[] = [];
  /** per class: chunks given back, reused first */
  private readonly freeLists: number[][] = CLASS_SIZES.map(() => []);
  /** per class: page being carved (-1 none) and the next free offset in it */
  private readonly cur = new Int32Array(CLASS_SIZES.length).fill(-1);
  private readonly bump = new Int32Array(CLASS_SIZES.length);
  /** chunks handed out and not freed, and their total size */
  chunks = 0;
  chunkBytes = 0;

  /** A chunk of at least `bytes` (<= MAX_CHUNK) bytes. */
  alloc(bytes: number): number {
    const c = classOf(bytes);
    const size = CLASS_SIZES[c];
    this.chunks++;
    this.chunkBytes += size;
    const fl = this.freeLists[c];
    if (fl.length > 0) return fl.pop() as number;
    let p = this.cur[c];
    let off = this.bump[c];
    if (p === -1 || off + size > PAGE_BYTES) {
      p = this.pages.length;
      if (p >= MAX_PAGES) throw new RangeError('store: shard arena is full (32 GiB)');
      this.pages.push(Buffer.alloc(PAGE_BYTES));
      this.cur[c] = p;
      off = 0;
    }
    this.bump[c] = off + size;
    return (p << OFFSET_BITS | (off >>> 3)) >>> 0;
  }

  /** Gives back a chunk allocated for `bytes` bytes (the same figure passed to alloc). */
  free(ref: number, bytes: number): void {
    const c = classOf(bytes);
    this.chunks--;
    this.chunkBytes -= CLASS_SIZES[c];
    this.freeLists[c].push(ref);
  }

  /** Whether a chunk allocated for `had` bytes can be kept, as is, for `bytes` bytes. */
  static sameClass(had: number, bytes: number): boolean {
    return classOf(had) === classOf(bytes);
  }
}
