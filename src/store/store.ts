import { CacheError } from '../errors/errors.js';
import { hash32 } from '../hash/hash.js';
import { compareVersions } from '../hlc/hlc.js';
import { CHANGE_DROP, type RemovalKind, type StoreObserver } from './changes.js';
import { deflated, HEADER_BYTES } from './compress.js';
import { type FlushMark, FlushMarks } from './flushes.js';
import { NodeTable } from './nodes.js';
import { encodeKey, FLAG_TOMBSTONE, FLAG_USED, Shard, UNKNOWN_SLOT } from './shard.js';

export type EvictionPolicyName = 'lru' | 'lfu' | 'fifo' | 'ttl' | 'random';

export interface StoreOptions {
  /** >= 1; key -> shard by hash32(key, SHARD_SEED) % shards */
  shards: number;
  /** max entries in total (0 = unlimited), split across shards: ceil(capacity/shards) each */
  capacity: number;
  /** max estimated bytes in total (0 = unlimited), split across shards evenly */
  maxMemoryBytes: number;
  policy: EvictionPolicyName;
  /** a tombstone is kept this long after the delete, then reclaimed */
  tombstoneGraceMs: number;
  /** ms clock; default Date.now */
  now?: () => number;
  /**
   * Values of at least this many bytes are stored compressed when that saves at least 1/8
   * of them (src/store/compress.ts); 0 or absent = never.
   */
  compressionThreshold?: number;
}

/** An entry's version and lifetime, without its value (what Merkle trees and scans need). */
export interface EntryVersion {
  /** version: HLC wall ms */
  wall: number;
  /** version: HLC logical counter (0..65535) */
  logical: number;
  /** version: writer node id (tie-breaker) */
  node: string;
  /** absolute ms; 0 = never expires */
  expiresAt: number;
  /** a delete marker */
  tombstone: boolean;
}

export interface EntryRecord extends EntryVersion {
  /** text value, or bytes stored as a latin1 string (one char per byte) when binary; '' for a tombstone */
  value: string;
  binary: boolean;
}

export interface StoreStats {
  items: number;
  tombstones: number;
  bytes: number;
  hits: number;
  misses: number;
  evictions: number;
  expirations: number;
  /** Entries removed because a flush covered them. */
  flushed: number;
  /** Entries whose value is stored compressed (COMPRESSION_THRESHOLD), dead ones not yet reclaimed included. */
  compressedItems: number;
  /** Their values' bytes as written minus as stored. */
  compressionSavedBytes: number;
  /** Their values' bytes as written divided by as stored (1 when there are none). */
  compressionRatio: number;
}

/** Seed for shard selection (hash32(key, SHARD_SEED) % shards), so shards do not correlate with ring placement. */
const SHARD_SEED = 0x5eed;

/**
 * Fixed per-entry memory overhead, in bytes, charged on top of the key and value bytes
 * (derived with scripts/bench-memory.ts; figures in docs/benchmarks/2026-11-23.md).
 * Per entry there is nothing on the V8 heap; the cost is all typed arrays:
 *   - columns: hash 4, ring position 4, chunk ref 4, key length 4, value length 4, wall 8,
 *     logical 2, node 2, flags 1, size 4, expiresAt 8, heap position 4, policy links 8 (LFU
 *     +4): 57 bytes a slot; they double, so 57-114 per entry
 *   - open-addressing index: 4 bytes a cell, kept at most 3/4 full: 5.3-10.7
 *   - slab: the key + value bytes rounded up to the chunk size (<= 7 bytes up to 128, then
 *     < 12.5 %), plus the unused tail of each size class's current page
 *   - expiry heap item, 4 bytes, only for entries with a TTL or tombstones
 * We charge a bit more than the average over a doubling cycle so that maxMemoryBytes bounds
 * the store's real use rather than its payload only. Not included: the process baseline.
 */
export const ENTRY_OVERHEAD_BYTES = 100;

/** How many dead entries an apply() reclaims from its shard before writing. */
const APPLY_RECLAIM_BUDGET = 2;

/**
 * Estimated bytes charged for an entry:
 *   ENTRY_OVERHEAD_BYTES + UTF-8 bytes of the key + value bytes, where the value bytes are
 *   value.length for binary values (latin1, one char per byte: exactly what V8 stores) and
 *   the UTF-8 byte length for text, i.e. the size the client sent. For ASCII text (the
 *   common case) that is exactly V8's one-byte string storage. For other text V8 keeps the
 *   string at 1 byte/char if all chars are Latin-1 (we over-count: UTF-8 uses 2 for those)
 *   or else 2 bytes/char: CJK is over-counted (3 vs 2), mostly-ASCII text with a few
 *   non-Latin-1 chars is under-counted by up to 2x. Computing V8's exact layout would need
 *   a scan per write for a rare case; the UTF-8 size is what clients and quotas reason in.
 * A tombstone is charged key + overhead (its value is '').
 * A value stored compressed (compressionThreshold) is charged its stored size instead of
 * its plain bytes (Store.apply computes that; this function gives the plain figure).
 */
export function entryBytes(key: string, value: string, binary: boolean): number {
  return ENTRY_OVERHEAD_BYTES + Buffer.byteLength(key, 'utf8') + valueBytes(value, binary);
}

/** Bytes a value takes in the store: latin1 chars of a binary value, else UTF-8. */
function valueBytes(value: string, binary: boolean): number {
  return binary ? value.length : value.length === 0 ? 0 : Buffer.byteLength(value, 'utf8');
}

/** An entry that alone exceeds its shard's memory budget: bad input (INVALID_ARGUMENT). */
export class EntryTooLargeError extends CacheError {
  constructor(
    readonly size: number,
    readonly budget: number,
  ) {
    super('invalid', `entry of ${size} estimated bytes exceeds the per-shard memory budget of ${budget} bytes`);
    this.name = 'EntryTooLargeError';
  }
}

/**
 * Sharded in-memory key/value store with last-write-wins versions, TTL, tombstones and
 * eviction (LRU, LFU, FIFO, soonest expiry or random per shard). Pure: no timers, no I/O;
 * the clock is injected.
 *
 * Dead entries: an entry whose expiresAt is non-zero and <= now (a TTL'd value past its
 * expiry, or a tombstone past its grace) is invisible to get/peek/entries and to apply()'s
 * version check, i.e. it behaves exactly as if already reclaimed. It is physically removed
 * lazily: when touched, a few per apply(), by sweep(), or in preference to evicting a live
 * entry. Until then it still counts in size/stats (items, tombstones, bytes).
 *
 * Capacity and memory limits count tombstones too (they occupy a slot and memory), so a
 * tombstone can be evicted before its grace ends under pressure.
 */
export class Store {
  private readonly shardList: Shard[];
  private readonly nshards: number;
  private readonly nodes = new NodeTable();
  private readonly now: () => number;
  private readonly grace: number;
  private hits = 0;
  private misses = 0;
  private readonly marks = new FlushMarks();
  /** Flushed entries physically removed (by reclaimFlushed or when touched). */
  private flushedCount = 0;
  /** reclaimFlushed's position: a pass over every slot runs while `reclaimPending`. */
  private reclaimShard = 0;
  private reclaimSlot = 0;
  private reclaimPending = false;
  /** compress values of at least this many bytes; Infinity = off */
  private readonly packFrom: number;
  /** See observe(). */
  private observers: StoreObserver[] = [];

  constructor(opts: StoreOptions) {
    const { shards, capacity, maxMemoryBytes, policy, tombstoneGraceMs } = opts;
    if (!Number.isInteger(shards) || shards < 1 || shards > 65536) throw new RangeError('store: shards must be an integer in 1..65536');
    if (!Number.isInteger(capacity) || capacity < 0) throw new RangeError('store: capacity must be an integer >= 0');
    if (!Number.isFinite(maxMemoryBytes) || maxMemoryBytes < 0) throw new RangeError('store: maxMemoryBytes must be >= 0');
    if (!Number.isFinite(tombstoneGraceMs) || tombstoneGraceMs < 0) throw new RangeError('store: tombstoneGraceMs must be >= 0');
    this.nshards = shards;
    this.now = opts.now ?? Date.now;
    this.grace = tombstoneGraceMs;
    const threshold = opts.compressionThreshold ?? 0;
    if (!Number.isInteger(threshold) || threshold < 0) throw new RangeError('store: compressionThreshold must be an integer >= 0');
    this.packFrom = threshold === 0 ? Infinity : threshold;
    const perShardEntries = capacity > 0 ? Math.ceil(capacity / shards) : 0;
    const perShardBytes = maxMemoryBytes > 0 ? Math.max(1, Math.floor(maxMemoryBytes / shards)) : 0;
    this.shardList = [];
    for (let i = 0; i < shards; i++) this.shardList.push(new Shard(policy, perShardEntries, perShardBytes, this.nodes));
  }

  /**
   * Tells o of every change from now on (src/store/changes.ts: applied writes and deletes,
   * expiries, evictions, drops, new flushes); returns the function that stops it.
   */
  observe(o: StoreObserver): () => void {
    this.observers = [...this.observers, o];
    this.observed();
    return () => {
      this.observers = this.observers.filter((x) => x !== o);
      this.observed();
    };
  }

  /** Shards report expiries and evictions only while someone observes (no key is decoded otherwise). */
  private observed(): void {
    const list = this.observers;
    const removed =
      list.length === 0
        ? undefined
        : (kind: RemovalKind, key: string, wall: number, logical: number, node: string, tombstone: boolean, position: number) => {
            for (const o of list) o.removed(kind, key, wall, logical, node, tombstone, position);
          };
    for (const sh of this.shardList) sh.onRemoved = removed;
  }

  shardOf(key: string): number {
    return hash32(key, SHARD_SEED) % this.nshards;
  }

  /** Live entry or undefined (missing, expired, tombstone). Counts a hit or miss and an access for the eviction policy. */
  get(key: string): EntryRecord | undefined {
    const h = hash32(key, SHARD_SEED);
    const sh = this.shardList[h % this.nshards];
    const slot = sh.lookup(key, h, encodeKey(key));
    if (slot === -1 || (sh.flags[slot] & FLAG_TOMBSTONE) !== 0) {
      this.misses++;
      return undefined;
    }
    const e = sh.ttl.exp[slot];
    if (e !== 0 && e <= this.now()) {
      sh.expire(slot);
      this.misses++;
      return undefined;
    }
    if (this.marks.size !== 0 && this.flushed(sh, slot, key)) {
      sh.remove(slot);
      this.flushedCount++;
      this.misses++;
      return undefined;
    }
    sh.policy.onAccess(slot);
    this.hits++;
    return sh.record(slot);
  }

  /**
   * Entry including tombstones (never a dead entry: expired value or tombstone past grace);
   * no stats, no policy access, no reclaiming. For replication, read repair, anti-entropy.
   */
  peek(key: string): EntryRecord | undefined {
    const h = hash32(key, SHARD_SEED);
    const sh = this.shardList[h % this.nshards];
    const slot = this.held(sh, key, h);
    return slot === -1 ? undefined : sh.record(slot);
  }

  /** peek's version fields only: the value is neither decoded nor decompressed. */
  peekVersion(key: string): EntryVersion | undefined {
    const h = hash32(key, SHARD_SEED);
    const sh = this.shardList[h % this.nshards];
    const slot = this.held(sh, key, h);
    return slot === -1 ? undefined : sh.version(slot);
  }

  /** The slot of key's entry as peek sees it (tombstones included, dead and flushed entries not), or -1. */
  private held(sh: Shard, key: string, h: number): number {
    const slot = sh.lookup(key, h, encodeKey(key));
    if (slot === -1) return -1;
    const e = sh.ttl.exp[slot];
    if (e !== 0 && e <= this.now()) return -1;
    if (this.marks.size !== 0 && this.flushed(sh, slot, key)) return -1;
    return slot;
  }

  /**
   * An expired value still physically held for key (expired at most `withinMs` ago, not yet
   * reclaimed by a sweep or a write, not flushed), or undefined; never a live entry or a
   * tombstone. For stale-while-revalidate answers (src/replication/replica.ts, LEASE).
   */
  peekExpired(key: string, withinMs: number): EntryRecord | undefined {
    const h = hash32(key, SHARD_SEED);
    const sh = this.shardList[h % this.nshards];
    const slot = sh.lookup(key, h, encodeKey(key));
    if (slot === -1 || (sh.flags[slot] & FLAG_TOMBSTONE) !== 0) return undefined;
    const e = sh.ttl.exp[slot];
    const now = this.now();
    if (e === 0 || e > now || e < now - withinMs) return undefined;
    if (this.marks.size !== 0 && this.flushed(sh, slot, key)) return undefined;
    return sh.record(slot);
  }

  /**
   * Last-write-wins: stores rec if the key is absent (or dead) or rec's version (wall,
   * logical, node) is strictly newer than the stored one's, tombstones included. Returns
   * true if stored. An already expired non-tombstone rec is not stored (false). A tombstone
   * is stored with expiresAt = now + tombstoneGraceMs (rec.expiresAt is ignored); with a
   * grace of 0 it removes an older entry and is not kept itself (returns true).
   * Evicts by policy when the shard is over capacity or memory; throws EntryTooLargeError
   * if the entry alone exceeds the shard's memory budget (checked before the version, but
   * for a value to be compressed: see below).
   * Also reclaims a few dead entries of the shard. A rec a flush mark covers is not stored
   * (false); a stored entry a mark covers needs no special case, since anything the mark
   * does not cover is newer than it.
   * The record object is not retained (its fields are copied).
   * A value of at least compressionThreshold bytes is compressed once its version is known
   * to be newer (a refused write costs no compression) and stored compressed if that saves
   * at least 1/8; its size (bytes, maxMemoryBytes, EntryTooLargeError) is then the stored one,
   * so the budget is checked after the version for such a value.
   */
  apply(key: string, rec: EntryRecord): boolean {
    const logical = rec.logical;
    if (!(logical >= 0 && logical <= 0xffff && (logical | 0) === logical)) {
      throw new RangeError(`store: logical counter out of range: ${logical}`);
    }
    const now = this.now();
    const tombstone = rec.tombstone === true;
    if (!tombstone && rec.expiresAt !== 0 && rec.expiresAt <= now) return false;
    if (this.isFlushed(key, rec)) return false;
    const h = hash32(key, SHARD_SEED);
    const sh = this.shardList[h % this.nshards];
    const value = tombstone ? '' : rec.value;
    const kl = encodeKey(key);
    const plain = valueBytes(value, !tombstone && rec.binary);
    let vbytes = plain;
    let body: Buffer | undefined;
    let slot = UNKNOWN_SLOT;
    if (plain >= this.packFrom) {
      // the one lookup of the key, before compressing (a refused write costs none)
      slot = sh.find(key, h, kl, now);
      if (sh.refuses(slot, rec)) return false;
      body = deflated(value, rec.binary, plain);
      if (body !== undefined) vbytes = HEADER_BYTES + body.length;
    }
    const size = ENTRY_OVERHEAD_BYTES + kl + vbytes;
    if (sh.maxBytes > 0 && size > sh.maxBytes) throw new EntryTooLargeError(size, sh.maxBytes);
    const exp = tombstone ? now + this.grace : rec.expiresAt;
    const deadOnArrival = tombstone && this.grace === 0;
    const stored = sh.apply(
      slot,
      key,
      h,
      kl,
      rec,
      tombstone,
      value,
      body,
      plain,
      vbytes,
      size,
      exp,
      deadOnArrival,
      now,
      APPLY_RECLAIM_BUDGET,
    );
    if (stored && this.observers.length !== 0) {
      const prev = sh.replaced ? sh.prev : undefined;
      const position = sh.position;
      for (const o of this.observers) o.applied(key, rec, prev, position);
    }
    return stored;
  }

  /** Removes a key outright, no tombstone (used after handing a key to its new owners). Returns whether it existed (a dead entry is reclaimed and does not count). */
  drop(key: string): boolean {
    const h = hash32(key, SHARD_SEED);
    const sh = this.shardList[h % this.nshards];
    const slot = sh.lookup(key, h, encodeKey(key));
    if (slot === -1) return false;
    const e = sh.ttl.exp[slot];
    if (e !== 0 && e <= this.now()) {
      sh.expire(slot);
      return false;
    }
    if (this.observers.length !== 0) {
      for (const o of this.observers)
        o.removed(CHANGE_DROP, key, sh.wall[slot], sh.logical[slot], sh.nodeOf(slot), sh.isTombstone(slot), sh.pos[slot]);
    }
    sh.remove(slot);
    return true;
  }

  /**
   * Reclaims at most `budget` dead entries (expired values / tombstones past grace), earliest
   * expiry first across all shards; returns how many. Expired values count in
   * stats().expirations, reclaimed tombstones do not. Cost O(budget * (shards + log n)).
   */
  sweep(budget: number): number {
    const now = this.now();
    const shards = this.shardList;
    if (shards.length === 1) return shards[0].reclaim(now, budget);
    let n = 0;
    while (n < budget) {
      let best = -1;
      let bestAt = Infinity;
      for (let i = 0; i < shards.length; i++) {
        const at = shards[i].dueAt(now);
        if (at < bestAt) {
          bestAt = at;
          best = i;
        }
      }
      if (best === -1) break;
      shards[best].reclaimTop();
      n++;
    }
    return n;
  }

  /**
   * All entries including tombstones, excluding dead ones (judged against the clock read
   * when iteration starts), shard by shard in slot order (no particular key order). Keys and
   * records are built when reached. Not a snapshot: mutating the store while iterating does
   * not break the iterator (keys removed before being reached are skipped, keys added may
   * or may not be visited, a key overwritten before being reached is seen with its new
   * record), but gives no consistent point-in-time view. Nothing is reclaimed.
   */
  *entries(): IterableIterator<[string, EntryRecord]> {
    for (const [sh, slot] of this.slots()) yield [sh.keyOf(slot), sh.record(slot)];
  }

  /** Like entries(), without decoding values: for Merkle trees and other scans over versions. */
  *versions(): IterableIterator<[string, EntryVersion]> {
    for (const [sh, slot] of this.slots()) yield [sh.keyOf(slot), sh.version(slot)];
  }

  /** The keys entries() would visit, in the same order. */
  *keys(): IterableIterator<string> {
    for (const [sh, slot] of this.slots()) yield sh.keyOf(slot);
  }

  /** How long a tombstone is kept (0: a delete removes the older entry and keeps nothing). */
  get tombstoneGraceMs(): number {
    return this.grace;
  }

  // ---- scans in parts (a scan that must tell, for any key, whether it has visited it) ----
  // Part i (0 .. shards * 2^bits - 1) holds the keys of shard i >> bits whose hash32(key,
  // SHARD_SEED) has i & (2^bits - 1) as its top `bits` bits: a key's part follows from the
  // key alone, and a part is scanned synchronously, so a scan in part order has visited a key
  // iff its part is below the scan's.

  /** The fewest bits (0..16) that cut every shard into parts of about `perPart` slots or fewer. */
  partBits(perPart: number): number {
    let most = 0;
    for (const sh of this.shardList) if (sh.used > most) most = sh.used;
    let bits = 0;
    while (bits < 16 && most > perPart << bits) bits++;
    return bits;
  }

  /** Number of parts with `bits`. */
  partCount(bits: number): number {
    return this.nshards * 2 ** bits;
  }

  /** The part of key with `bits`. */
  partOf(key: string, bits: number): number {
    const h = hash32(key, SHARD_SEED);
    return (h % this.nshards) * 2 ** bits + (bits === 0 ? 0 : h >>> (32 - bits));
  }

  /**
   * The entries of one part, tombstones included and dead ones too (an entry past its expiry
   * is held, and told to observers when reclaimed), but none a flush covers.
   */
  *heldInPart(part: number, bits: number): IterableIterator<[string, EntryVersion]> {
    const sh = this.shardList[Math.floor(part / 2 ** bits)];
    const sub = part % 2 ** bits;
    const shift = 32 - bits;
    for (let slot = 0; slot < sh.used; slot++) {
      if ((sh.flags[slot] & FLAG_USED) === 0) continue;
      if (bits !== 0 && sh.hashes[slot] >>> shift !== sub) continue;
      if (this.marks.size !== 0 && this.flushed(sh, slot)) continue;
      yield [sh.keyOf(slot), sh.version(slot)];
    }
  }

  /**
   * Like versions(), for the keys whose ring position (keyPosition) has its top `depth` bits
   * b with wanted[b] !== 0 (a Merkle tree's leaf buckets): only those keys are decoded.
   */
  *versionsInBuckets(depth: number, wanted: Uint8Array): IterableIterator<[string, EntryVersion]> {
    const now = this.now();
    const shift = 32 - depth;
    for (const sh of this.shardList) {
      for (let slot = 0; slot < sh.used; slot++) {
        if ((sh.flags[slot] & FLAG_USED) === 0 || wanted[sh.pos[slot] >>> shift] === 0) continue;
        const e = sh.ttl.exp[slot];
        if (e !== 0 && e <= now) continue;
        if (this.marks.size !== 0 && this.flushed(sh, slot)) continue;
        yield [sh.keyOf(slot), sh.version(slot)];
      }
    }
  }

  /**
   * The entries peek() would give (tombstones included, dead and flushed ones not, judged when
   * each is reached) of the keys whose ring position p has its top `depth` bits b with
   * wanted[b] !== 0 and accept(p) true: other keys are not decoded, and no key is looked up.
   * For anti-entropy's bucket entries (accept: the positions a peer shares with this node).
   */
  *entriesInBuckets(depth: number, wanted: Uint8Array, accept: (position: number) => boolean): IterableIterator<[string, EntryRecord]> {
    const shift = 32 - depth;
    for (const sh of this.shardList) {
      for (let slot = 0; slot < sh.used; slot++) {
        if ((sh.flags[slot] & FLAG_USED) === 0) continue;
        const p = sh.pos[slot];
        if (wanted[p >>> shift] === 0 || !accept(p)) continue;
        const e = sh.ttl.exp[slot];
        if (e !== 0 && e <= this.now()) continue;
        if (this.marks.size !== 0 && this.flushed(sh, slot)) continue;
        yield [sh.keyOf(slot), sh.record(slot)];
      }
    }
  }

  /** Used, not dead slots (see entries() for the iteration guarantees); the pair is reused. */
  private *slots(): Generator<[Shard, number]> {
    const now = this.now();
    const at: [Shard, number] = [this.shardList[0], 0];
    for (const sh of this.shardList) {
      at[0] = sh;
      for (let slot = 0; slot < sh.used; slot++) {
        if ((sh.flags[slot] & FLAG_USED) === 0) continue;
        const e = sh.ttl.exp[slot];
        if (e !== 0 && e <= now) continue;
        if (this.marks.size !== 0 && this.flushed(sh, slot)) continue;
        at[1] = slot;
        yield at;
      }
    }
  }

  // ---- flushes (see src/store/flushes.ts for the marks' contract) ----

  /**
   * Merges flush marks; true if they cover anything new. From then on the store behaves as if
   * every covered entry were gone (get, peek, apply, iteration); reclaimFlushed() frees them.
   */
  flush(marks: readonly FlushMark[]): boolean {
    if (!this.marks.mergeAll(marks)) return false;
    for (const o of this.observers) o.flushed(marks);
    this.reclaimPending = true;
    this.reclaimShard = 0;
    this.reclaimSlot = 0;
    return true;
  }

  /** Whether a flush covers this version of key (such an entry is gone: see flush()). */
  isFlushed(key: string, v: EntryVersion): boolean {
    return this.marks.size !== 0 && this.marks.covers(key, v.wall, v.logical, v.node);
  }

  /**
   * What keeps `v` from being stored, if anything is newer than it: the version of the entry
   * held for key (tombstones included), or the newest flush mark covering key. For a writer
   * that must order its write after it (see Replica's WRITE). `cur`: the caller's peek(key),
   * if it has one (saves a second lookup).
   */
  newerThan(key: string, v: EntryVersion, cur: EntryRecord | undefined = this.peek(key)): EntryVersion | undefined {
    if (cur && compareVersions(cur.wall, cur.logical, cur.node, v.wall, v.logical, v.node) > 0) return cur;
    const m = this.marks.size !== 0 ? this.marks.newestFor(key) : undefined;
    if (m && compareVersions(m.wall, m.logical, m.node, v.wall, v.logical, v.node) >= 0) {
      return { wall: m.wall, logical: m.logical, node: m.node, expiresAt: 0, tombstone: true };
    }
    return undefined;
  }

  /** The flush marks this store holds. */
  flushMarks(): FlushMarks {
    return this.marks;
  }

  /**
   * Frees the memory of flushed entries: visits at most `budget` slots from where the last
   * call stopped; returns how many entries it removed. A pass over the whole store follows
   * every flush() that covered something new; `reclaiming` says whether one is under way.
   */
  reclaimFlushed(budget: number): number {
    let removed = 0;
    let visited = 0;
    const shards = this.shardList;
    while (this.reclaimPending && visited < budget) {
      const sh = shards[this.reclaimShard];
      if (this.reclaimSlot >= sh.used) {
        this.reclaimSlot = 0;
        if (++this.reclaimShard === shards.length) {
          this.reclaimShard = 0;
          this.reclaimPending = false;
        }
        continue;
      }
      const slot = this.reclaimSlot++;
      visited++;
      if ((sh.flags[slot] & FLAG_USED) !== 0 && this.flushed(sh, slot)) {
        sh.remove(slot);
        removed++;
      }
    }
    this.flushedCount += removed;
    return removed;
  }

  get reclaiming(): boolean {
    return this.reclaimPending;
  }

  private flushed(sh: Shard, slot: number, key?: string): boolean {
    const k = key ?? (this.marks.coversAllKeys ? '' : sh.keyOf(slot));
    return this.marks.covers(k, sh.wall[slot], sh.logical[slot], this.nodes.name(sh.node[slot]));
  }

  /** Live (non-tombstone) entry count, including dead values not yet reclaimed. */
  get size(): number {
    let n = 0;
    for (const sh of this.shardList) n += sh.live;
    return n;
  }

  /** items/tombstones/bytes include dead entries not yet reclaimed. */
  stats(): StoreStats {
    let items = 0,
      tombstones = 0,
      bytes = 0,
      evictions = 0,
      expirations = 0,
      packedItems = 0,
      packedPlain = 0,
      packedStored = 0;
    for (const sh of this.shardList) {
      items += sh.live;
      tombstones += sh.tombstones;
      bytes += sh.bytes;
      evictions += sh.evictions;
      expirations += sh.expirations;
      packedItems += sh.packedItems;
      packedPlain += sh.packedPlain;
      packedStored += sh.packedStored;
    }
    return {
      items,
      tombstones,
      bytes,
      hits: this.hits,
      misses: this.misses,
      evictions,
      expirations,
      flushed: this.flushedCount,
      compressedItems: packedItems,
      compressionSavedBytes: packedPlain - packedStored,
      compressionRatio: packedStored === 0 ? 1 : packedPlain / packedStored,
    };
  }
}
