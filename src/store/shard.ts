import { compareVersions } from '../hlc/hlc.js';
import type { EvictionPolicy } from './policy.js';
import { ExpiryHeap } from './heap.js';
import { LruPolicy } from './lru.js';
import { LfuPolicy } from './lfu.js';
import { FifoPolicy } from './fifo.js';
import type { NodeTable } from './nodes.js';
import type { EntryRecord, EvictionPolicyName } from './store.js';

export const FLAG_BINARY = 1;
export const FLAG_TOMBSTONE = 2;

const INITIAL_SLOTS = 16;

export function createPolicy(name: EvictionPolicyName, slots: number): EvictionPolicy {
  switch (name) {
    case 'lru': return new LruPolicy(slots);
    case 'lfu': return new LfuPolicy(slots);
    case 'fifo': return new FifoPolicy(slots);
    default: throw new RangeError(`store: unknown eviction policy ${JSON.stringify(name)}`);
  }
}

/**
 * One shard: struct-of-arrays storage for its entries, addressed by slot index.
 *
 *   map      Map<string, number>   key -> slot
 *   keys     string[]              key of each slot ('' when free)
 *   values   string[]              value ('' for tombstones and free slots)
 *   wall     Float64Array          version wall ms
 *   logical  Uint16Array           version logical counter
 *   node     Uint16Array           version node id, index into the shared NodeTable
 *   flags    Uint8Array            FLAG_BINARY | FLAG_TOMBSTONE
 *   sizes    Uint32Array           estimated bytes charged for the entry
 *   ttl      ExpiryHeap            expiresAt column (Float64Array) + min-heap of expiring slots
 *   policy   EvictionPolicy        its own per-slot arrays
 *
 * Freed slots go on a free list and are reused; the typed arrays grow by doubling (capped
 * at the shard's entry capacity when there is one) and never shrink.
 *
 * An entry whose expiresAt is non-zero and <= now is dead: it is never returned and is
 * reclaimed lazily (on access, a few per apply, by sweep, or before evicting a live entry).
 * This applies to tombstones too: a tombstone's expiresAt is the end of its grace period.
 */
export class Shard {
  readonly map = new Map<string, number>();
  keys: string[] = [];
  values: string[] = [];
  wall: Float64Array;
  logical: Uint16Array;
  node: Uint16Array;
  flags: Uint8Array;
  sizes: Uint32Array;
  readonly ttl: ExpiryHeap;
  readonly policy: EvictionPolicy;

  /** allocated slot columns */
  private slots = INITIAL_SLOTS;
  /** slots ever handed out (high-water mark) */
  private used = 0;
  private readonly free: number[] = [];

  live = 0;
  tombstones = 0;
  bytes = 0;
  evictions = 0;
  expirations = 0;

  constructor(
    policy: EvictionPolicyName,
    /** max entries (live + tombstones) in this shard; 0 = unlimited */
    readonly maxEntries: number,
    /** max estimated bytes in this shard; 0 = unlimited */
    readonly maxBytes: number,
    private readonly nodes: NodeTable,
  ) {
    const n = maxEntries > 0 ? Math.min(INITIAL_SLOTS, maxEntries) : INITIAL_SLOTS;
    this.slots = n;
    this.wall = new Float64Array(n);
    this.logical = new Uint16Array(n);
    this.node = new Uint16Array(n);
    this.flags = new Uint8Array(n);
    this.sizes = new Uint32Array(n);
    this.ttl = new ExpiryHeap(n);
    this.policy = createPolicy(policy, n);
  }

  /** Builds the public record for a slot (the only allocation on the read path). */
  record(slot: number): EntryRecord {
    const f = this.flags[slot];
    return {
      value: this.values[slot],
      binary: (f & FLAG_BINARY) !== 0,
      wall: this.wall[slot],
      logical: this.logical[slot],
      node: this.nodes.name(this.node[slot]),
      expiresAt: this.ttl.exp[slot],
      tombstone: (f & FLAG_TOMBSTONE) !== 0,
    };
  }

  /** Slot of a key that is present and not dead at `now`, else -1 (a dead entry is reclaimed). */
  find(key: string, now: number): number {
    const slot = this.map.get(key);
    if (slot === undefined) return -1;
    const e = this.ttl.exp[slot];
    if (e !== 0 && e <= now) {
      this.expire(slot);
      return -1;
    }
    return slot;
  }

  /**
   * Last-write-wins store of an already validated record. `exp` is the expiry to store
   * (for tombstones: end of grace). `deadOnArrival` = a tombstone with no grace: it removes
   * an older entry but is not kept itself.
   */
  apply(
    key: string, rec: EntryRecord, tombstone: boolean, value: string, size: number,
    exp: number, deadOnArrival: boolean, now: number, reclaimBudget: number,
  ): boolean {
    if (reclaimBudget > 0) this.reclaim(now, reclaimBudget);
    const slot = this.find(key, now);
    if (slot !== -1 && compareVersions(
      rec.wall, rec.logical, rec.node,
      this.wall[slot], this.logical[slot], this.nodes.name(this.node[slot]),
    ) <= 0) return false;

    if (deadOnArrival) {
      if (slot !== -1) this.remove(slot);
      return true;
    }

    const flags = (tombstone ? FLAG_TOMBSTONE : 0) | (!tombstone && rec.binary ? FLAG_BINARY : 0);
    const ni = this.nodes.acquire(rec.node);
    if (slot !== -1) {
      // overwrite in place: keeps the slot, counts as an access for the policy
      this.nodes.release(this.node[slot]);
      if ((this.flags[slot] & FLAG_TOMBSTONE) !== 0) this.tombstones--;
      else this.live--;
      this.bytes += size - this.sizes[slot];
      this.fill(slot, value, rec, ni, flags, size, exp);
      this.policy.onAccess(slot);
      this.makeRoom(0, 0, slot, now);
      return true;
    }

    this.makeRoom(1, size, -1, now);
    const s = this.alloc();
    this.keys[s] = key;
    this.map.set(key, s);
    this.bytes += size;
    this.fill(s, value, rec, ni, flags, size, exp);
    this.policy.onInsert(s);
    return true;
  }

  private fill(
    slot: number, value: string, rec: EntryRecord, ni: number, flags: number, size: number, exp: number,
  ): void {
    this.values[slot] = value;
    this.wall[slot] = rec.wall;
    this.logical[slot] = rec.logical;
    this.node[slot] = ni;
    this.flags[slot] = flags;
    this.sizes[slot] = size;
    if ((flags & FLAG_TOMBSTONE) !== 0) this.tombstones++;
    else this.live++;
    this.ttl.set(slot, exp);
  }

  /**
   * Evicts until `extraEntries` more entries and `extraBytes` more bytes fit. Dead entries
   * at the top of the expiry heap go first (reclaimed, not counted as evictions); then the
   * policy's victims, never `exclude` (the slot being written).
   */
  private makeRoom(extraEntries: number, extraBytes: number, exclude: number, now: number): void {
    const maxE = this.maxEntries;
    const maxB = this.maxBytes;
    while ((maxE > 0 && this.map.size + extraEntries > maxE) || (maxB > 0 && this.bytes + extraBytes > maxB)) {
      const t = this.ttl.top();
      if (t !== -1 && t !== exclude && this.ttl.exp[t] <= now) {
        this.expire(t);
        continue;
      }
      const v = this.policy.victim(exclude);
      if (v === -1) return;
      this.remove(v);
      this.evictions++;
    }
  }

  private alloc(): number {
    if (this.free.length > 0) return this.free.pop() as number;
    if (this.used === this.slots) this.grow();
    return this.used++;
  }

  private grow(): void {
    let n = this.slots * 2;
    if (this.maxEntries > 0 && n > this.maxEntries) n = Math.max(this.maxEntries, this.slots + 1);
    const wall = new Float64Array(n); wall.set(this.wall); this.wall = wall;
    const logical = new Uint16Array(n); logical.set(this.logical); this.logical = logical;
    const node = new Uint16Array(n); node.set(this.node); this.node = node;
    const flags = new Uint8Array(n); flags.set(this.flags); this.flags = flags;
    const sizes = new Uint32Array(n); sizes.set(this.sizes); this.sizes = sizes;
    this.ttl.resize(n);
    this.policy.resize(n);
    this.slots = n;
  }

  /** Earliest expiry in this shard if it is <= now, else Infinity. */
  dueAt(now: number): number {
    const t = this.ttl.top();
    if (t === -1) return Infinity;
    const e = this.ttl.exp[t];
    return e <= now ? e : Infinity;
  }

  /** Reclaims up to `budget` dead entries, earliest expiry first. */
  reclaim(now: number, budget: number): number {
    let n = 0;
    while (n < budget) {
      const t = this.ttl.top();
      if (t === -1 || this.ttl.exp[t] > now) break;
      this.expire(t);
      n++;
    }
    return n;
  }

  /** Reclaims the top of the expiry heap (caller checked it is due). */
  reclaimTop(): void {
    this.expire(this.ttl.top());
  }

  /** Reclaims a dead entry; a TTL'd value counts as an expiration, a tombstone does not. */
  expire(slot: number): void {
    if ((this.flags[slot] & FLAG_TOMBSTONE) === 0) this.expirations++;
    this.remove(slot);
  }

  /** Removes a slot's entry outright and frees the slot. */
  remove(slot: number): void {
    this.map.delete(this.keys[slot]);
    this.keys[slot] = '';
    this.values[slot] = '';
    this.nodes.release(this.node[slot]);
    if ((this.flags[slot] & FLAG_TOMBSTONE) !== 0) this.tombstones--;
    else this.live--;
    this.bytes -= this.sizes[slot];
    this.sizes[slot] = 0;
    this.flags[slot] = 0;
    this.ttl.clear(slot);
    this.policy.onRemove(slot);
    this.free.push(slot);
  }
}
