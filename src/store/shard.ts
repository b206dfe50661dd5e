import { compareVersions } from '../hlc/hlc.js';
import { keyPosition } from '../ring/ring.js';
import { CHANGE_EVICT, CHANGE_EXPIRE, type RemovalKind } from './changes.js';
import { plainLength, unpack, writeStored } from './compress.js';
import { FifoPolicy } from './fifo.js';
import { ExpiryHeap } from './heap.js';
import { LfuPolicy } from './lfu.js';
import { LruPolicy } from './lru.js';
import type { NodeTable } from './nodes.js';
import type { EvictionPolicy } from './policy.js';
import { RandomPolicy } from './random.js';
import { MAX_CHUNK, offsetOf, pageOf, Slab } from './slab.js';
import type { EntryRecord, EntryVersion, EvictionPolicyName } from './store.js';
import { TtlPolicy } from './ttl.js';

const FLAG_BINARY = 1;
export const FLAG_TOMBSTONE = 2;
/** the slot holds an entry (free slots have flags 0) */
export const FLAG_USED = 4;
/** the value's bytes are stored compressed (src/store/compress.ts) */
const FLAG_COMPRESSED = 8;

const INITIAL_SLOTS = 16;
/** apply()'s `slot` when the caller has not looked the key up */
export const UNKNOWN_SLOT = -2;
/** ref of an entry kept outside the arena (key + value bytes > MAX_CHUNK) */
const OUTSIDE = 0xffffffff;
/** Fibonacci hashing: the index position is the top bits of h * 2^32/phi */
const GOLDEN = 0x9e3779b1;

/**
 * The UTF-8 bytes of the key of the operation in progress, written by encodeKey and read
 * by the shard's lookup and write paths (one operation at a time: the store is synchronous).
 */
let keyBuf = Buffer.allocUnsafe(4096);

/** Encodes a key's UTF-8 bytes into the shared key buffer; returns the byte length. */
export function encodeKey(key: string): number {
  const n = key.length;
  if (n * 3 > keyBuf.length) keyBuf = Buffer.allocUnsafe(Math.max(n * 3, keyBuf.length * 2));
  if (n <= 64) {
    const b = keyBuf;
    let i = 0;
    for (; i < n; i++) {
      const c = key.charCodeAt(i);
      if (c >= 0x80) break;
      b[i] = c;
    }
    if (i === n) return n;
  }
  return keyBuf.write(key, 0, 'utf8');
}

/** An entry kept outside the arena: its key, and its value (a string, or its compressed stored form). */
interface Outside {
  key: string;
  value: string | Buffer;
}

function createPolicy(name: EvictionPolicyName, slots: number, ttl: ExpiryHeap): EvictionPolicy {
  switch (name) {
    case 'lru':
      return new LruPolicy(slots);
    case 'lfu':
      return new LfuPolicy(slots);
    case 'fifo':
      return new FifoPolicy(slots);
    case 'ttl':
      return new TtlPolicy(slots, ttl);
    case 'random':
      return new RandomPolicy(slots);
    default:
      throw new RangeError(`store: unknown eviction policy ${JSON.stringify(name)}`);
  }
}

/**
 * One shard: struct-of-arrays storage for its entries, addressed by slot index. Nothing
 * per entry lives on the V8 heap: keys and values are bytes in the shard's Slab, found
 * through an open-addressing index, and everything else is a typed-array column.
 *
 *   table    Int32Array            open-addressing index (linear probing): slot + 1, 0 = empty
 *   hashes   Uint32Array           the key's hash32 (placed by its top bits, see GOLDEN)
 *   pos      Uint32Array           the key's ring position (keyPosition = hash32(key)): scans
 *                                  of Merkle buckets (Store.versionsInBuckets) decode no other key
 *   ref      Uint32Array           chunk in the slab holding key bytes then value bytes
 *   klen     Uint32Array           key bytes (UTF-8)
 *   vlen     Uint32Array           value bytes stored (UTF-8 text, or the raw bytes when binary;
 *                                  when compressed: compress.ts's stored form)
 *   wall     Float64Array          version wall ms
 *   logical  Uint16Array           version logical counter
 *   node     Uint16Array           version node id, index into the shared NodeTable
 *   flags    Uint8Array            FLAG_USED | FLAG_BINARY | FLAG_TOMBSTONE | FLAG_COMPRESSED
 *   sizes    Uint32Array           estimated bytes charged for the entry
 *   ttl      ExpiryHeap            expiresAt column (Float64Array) + min-heap of expiring slots
 *   policy   EvictionPolicy        its own per-slot arrays
 *
 * An entry whose key + value exceed MAX_CHUNK bytes keeps its key and value as strings in
 * `outside` (a large value is better left as one V8 string than split into pages; a
 * compressed one as its stored form, a Buffer).
 * Keys are compared by their UTF-8 bytes, so two JS strings with the same UTF-8 encoding
 * (possible only with lone surrogates, which UTF-8 cannot carry) are the same key.
 *
 * Freed slots go on a free list and are reused; the typed arrays grow by doubling (capped
 * at the shard's entry capacity when there is one) and never shrink.
 *
 * An entry whose expiresAt is non-zero and <= now is dead: it is never returned and is
 * reclaimed lazily (on access, a few per apply, by sweep, or before evicting a live entry).
 * This applies to tombstones too: a tombstone's expiresAt is the end of its grace period.
 */
export class Shard {
  private table = new Int32Array(16);
  private mask = 15;
  private shift = 28;
  private readonly slab = new Slab();
  private outsideMap: Map<number, Outside> | undefined;
  hashes: Uint32Array;
  pos: Uint32Array;
  ref: Uint32Array;
  klen: Uint32Array;
  vlen: Uint32Array;
  wall: Float64Array;
  logical: Uint16Array;
  node: Uint16Array;
  flags: Uint8Array;
  sizes: Uint32Array;
  readonly ttl: ExpiryHeap;
  readonly policy: EvictionPolicy;

  /** allocated slot columns */
  private slots = INITIAL_SLOTS;
  /** slots ever handed out (high-water mark); every used slot is below it */
  used = 0;
  private readonly free: number[] = [];

  live = 0;
  tombstones = 0;
  bytes = 0;
  evictions = 0;
  expirations = 0;
  /** entries stored compressed, their values' plain bytes and stored bytes */
  packedItems = 0;
  packedPlain = 0;
  packedStored = 0;
  /**
   * Told of each entry this shard expires (a tombstone's grace ending included) or evicts, with
   * its version (set by Store.observe; undefined = nobody observes).
   */
  onRemoved:
    | ((kind: RemovalKind, key: string, wall: number, logical: number, node: string, tombstone: boolean, position: number) => void)
    | undefined = undefined;
  /**
   * While someone observes (onRemoved set): the version the last apply() that stored replaced
   * (`replaced` false: none, or a dead one). One object, rewritten by every apply().
   */
  replaced = false;
  /** The ring position (keyPosition) of the key the last apply() that stored wrote: the column's, or computed once for a new key. */
  position = 0;
  readonly prev: EntryVersion = { wall: 0, logical: 0, node: '', expiresAt: 0, tombstone: false };

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
    this.hashes = new Uint32Array(n);
    this.pos = new Uint32Array(n);
    this.ref = new Uint32Array(n);
    this.klen = new Uint32Array(n);
    this.vlen = new Uint32Array(n);
    this.wall = new Float64Array(n);
    this.logical = new Uint16Array(n);
    this.node = new Uint16Array(n);
    this.flags = new Uint8Array(n);
    this.sizes = new Uint32Array(n);
    this.ttl = new ExpiryHeap(n);
    this.policy = createPolicy(policy, n, this.ttl);
  }

  /** Entries kept outside the arena, by slot (created on first use). */
  private get outside(): Map<number, Outside> {
    return (this.outsideMap ??= new Map());
  }

  /** Slot of the key whose UTF-8 bytes encodeKey just wrote (`kl` of them, hash `h`), or -1. Dead entries included. */
  lookup(key: string, h: number, kl: number): number {
    const t = this.table;
    const mask = this.mask;
    const hashes = this.hashes;
    const klen = this.klen;
    let i = Math.imul(h, GOLDEN) >>> this.shift;
    for (;;) {
      const v = t[i];
      if (v === 0) return -1;
      const s = v - 1;
      if (hashes[s] === h && klen[s] === kl && this.keyIs(s, key, kl)) return s;
      i = (i + 1) & mask;
    }
  }

  private keyIs(s: number, key: string, kl: number): boolean {
    const r = this.ref[s];
    if (r === OUTSIDE) return (this.outside.get(s) as Outside).key === key;
    const p = this.slab.pages[pageOf(r)];
    const o = offsetOf(r);
    const kb = keyBuf;
    for (let i = 0; i < kl; i++) if (p[o + i] !== kb[i]) return false;
    return true;
  }

  /** The key of a used slot. */
  keyOf(slot: number): string {
    const r = this.ref[slot];
    if (r === OUTSIDE) return (this.outside.get(slot) as Outside).key;
    const o = offsetOf(r);
    return this.slab.pages[pageOf(r)].toString('utf8', o, o + this.klen[slot]);
  }

  private valueOf(slot: number, binary: boolean, f: number): string {
    const r = this.ref[slot];
    if (r === OUTSIDE) {
      const v = (this.outside.get(slot) as Outside).value;
      return typeof v === 'string' ? v : unpack(v, 0, v.length, binary);
    }
    const n = this.vlen[slot];
    if (n === 0) return '';
    const o = offsetOf(r) + this.klen[slot];
    if ((f & FLAG_COMPRESSED) !== 0) return unpack(this.slab.pages[pageOf(r)], o, o + n, binary);
    return this.slab.pages[pageOf(r)].toString(binary ? 'latin1' : 'utf8', o, o + n);
  }

  /** Builds the public record for a slot (decodes the value: the read path's allocations). */
  record(slot: number): EntryRecord {
    const f = this.flags[slot];
    const binary = (f & FLAG_BINARY) !== 0;
    return {
      value: this.valueOf(slot, binary, f),
      binary,
      wall: this.wall[slot],
      logical: this.logical[slot],
      node: this.nodes.name(this.node[slot]),
      expiresAt: this.ttl.exp[slot],
      tombstone: (f & FLAG_TOMBSTONE) !== 0,
    };
  }

  /** The version fields of a slot's entry, without decoding its value. */
  version(slot: number): EntryVersion {
    return {
      wall: this.wall[slot],
      logical: this.logical[slot],
      node: this.nodes.name(this.node[slot]),
      expiresAt: this.ttl.exp[slot],
      tombstone: (this.flags[slot] & FLAG_TOMBSTONE) !== 0,
    };
  }

  /** Like lookup, but -1 for a dead entry too (which is then reclaimed). */
  find(key: string, h: number, kl: number, now: number): number {
    const slot = this.lookup(key, h, kl);
    if (slot === -1) return -1;
    const e = this.ttl.exp[slot];
    if (e !== 0 && e <= now) {
      this.expire(slot);
      return -1;
    }
    return slot;
  }

  /** Whether apply() refuses rec as not newer than the live entry in `slot` (find's answer; -1: none). */
  refuses(slot: number, rec: EntryRecord): boolean {
    return (
      slot !== -1 &&
      compareVersions(rec.wall, rec.logical, rec.node, this.wall[slot], this.logical[slot], this.nodes.name(this.node[slot])) <= 0
    );
  }

  /**
   * Last-write-wins store of an already validated record, for the key encodeKey just
   * encoded (`kl` bytes, hash `h`), after reclaiming up to `reclaimBudget` dead entries.
   * `slot`: UNKNOWN_SLOT, or the key's slot as find() gave it with rec checked against it
   * (refuses(); find() and that check then are not done again: the slot stays valid, since
   * reclaiming removes dead entries only). `vbytes` is the value's byte length (UTF-8, or
   * latin1 when binary); `body`, when given, is the deflate body of its compressed stored
   * form (compress.ts), which is kept instead, `plain` being the value's byte length (in its
   * header) and `vbytes` the stored form's. `exp` is the expiry to store (for tombstones: end of grace).
   * `deadOnArrival` = a tombstone with no grace: it removes an older entry but is not kept.
   */
  apply(
    slot: number,
    key: string,
    h: number,
    kl: number,
    rec: EntryRecord,
    tombstone: boolean,
    value: string,
    body: Buffer | undefined,
    plain: number,
    vbytes: number,
    size: number,
    exp: number,
    deadOnArrival: boolean,
    now: number,
    reclaimBudget: number,
  ): boolean {
    if (reclaimBudget > 0) this.reclaim(now, reclaimBudget);
    if (slot === UNKNOWN_SLOT) {
      slot = this.find(key, h, kl, now);
      if (this.refuses(slot, rec)) return false;
    }

    this.replaced = false;
    if (slot !== -1 && this.onRemoved !== undefined) {
      const p = this.prev;
      p.wall = this.wall[slot];
      p.logical = this.logical[slot];
      p.node = this.nodes.name(this.node[slot]);
      p.expiresAt = this.ttl.exp[slot];
      p.tombstone = (this.flags[slot] & FLAG_TOMBSTONE) !== 0;
      this.replaced = true;
    }
    if (deadOnArrival) {
      if (slot !== -1) {
        this.position = this.pos[slot];
        this.remove(slot);
      } else this.position = keyPosition(key);
      return true;
    }

    const binary = !tombstone && rec.binary;
    const flags = FLAG_USED | (tombstone ? FLAG_TOMBSTONE : 0) | (binary ? FLAG_BINARY : 0) | (body !== undefined ? FLAG_COMPRESSED : 0);
    const ni = this.nodes.acquire(rec.node);
    if (slot !== -1) {
      // overwrite in place: keeps the slot (and the chunk if the size class is the same),
      // counts as an access for the policy
      this.nodes.release(this.node[slot]);
      if ((this.flags[slot] & FLAG_TOMBSTONE) !== 0) this.tombstones--;
      else this.live--;
      this.bytes += size - this.sizes[slot];
      this.position = this.pos[slot];
      this.rewrite(slot, key, kl, value, body, plain, vbytes, binary);
      this.fill(slot, rec, ni, flags, size, exp);
      this.policy.onAccess(slot);
      this.makeRoom(0, 0, slot, now);
      return true;
    }

    this.makeRoom(1, size, -1, now);
    const s = this.alloc();
    this.hashes[s] = h;
    const position = keyPosition(key);
    this.pos[s] = position;
    this.position = position;
    this.klen[s] = kl;
    this.place(s, key, kl, value, body, plain, vbytes, binary);
    this.index(s, h);
    this.bytes += size;
    this.fill(s, rec, ni, flags, size, exp);
    this.policy.onInsert(s);
    return true;
  }

  /** Puts a new slot's key (from keyBuf) and value (see apply) into a fresh chunk, or outside the arena. */
  private place(
    s: number,
    key: string,
    kl: number,
    value: string,
    body: Buffer | undefined,
    plain: number,
    vbytes: number,
    binary: boolean,
  ): void {
    this.vlen[s] = vbytes;
    if (body !== undefined) this.countPacked(plain, vbytes, 1);
    const total = kl + vbytes;
    if (total > MAX_CHUNK) {
      this.ref[s] = OUTSIDE;
      let stored: string | Buffer = value;
      if (body !== undefined) {
        stored = Buffer.allocUnsafe(vbytes);
        writeStored(stored, 0, plain, body);
      }
      this.outside.set(s, { key, value: stored });
      return;
    }
    const r = this.slab.alloc(total);
    this.ref[s] = r;
    const p = this.slab.pages[pageOf(r)];
    const o = offsetOf(r);
    const kb = keyBuf;
    if (kl <= 32) for (let i = 0; i < kl; i++) p[o + i] = kb[i];
    else kb.copy(p, o, 0, kl);
    writeValue(p, o + kl, value, body, plain, vbytes, binary);
  }

  /** Adds (`sign` 1) or takes away (-1) a compressed value from the counters: `plain` bytes as written, `stored` as stored. */
  private countPacked(plain: number, stored: number, sign: 1 | -1): void {
    this.packedItems += sign;
    this.packedPlain += sign * plain;
    this.packedStored += sign * stored;
  }

  /** Takes a slot's value out of the compression counters if it is compressed (before it is replaced or removed). */
  private uncount(s: number): void {
    if ((this.flags[s] & FLAG_COMPRESSED) === 0) return;
    const r = this.ref[s];
    if (r === OUTSIDE) {
      const v = (this.outside.get(s) as Outside).value as Buffer;
      this.countPacked(plainLength(v, 0), v.length, -1);
    } else this.countPacked(plainLength(this.slab.pages[pageOf(r)], offsetOf(r) + this.klen[s]), this.vlen[s], -1);
  }

  /** Replaces a used slot's value: in its chunk if the size class stays, else in a new place. */
  private rewrite(
    s: number,
    key: string,
    kl: number,
    value: string,
    body: Buffer | undefined,
    plain: number,
    vbytes: number,
    binary: boolean,
  ): void {
    this.uncount(s);
    const r = this.ref[s];
    const had = kl + this.vlen[s];
    const total = kl + vbytes;
    if (r !== OUTSIDE && total <= MAX_CHUNK && Slab.sameClass(had, total)) {
      this.vlen[s] = vbytes;
      if (body !== undefined) this.countPacked(plain, vbytes, 1);
      writeValue(this.slab.pages[pageOf(r)], offsetOf(r) + kl, value, body, plain, vbytes, binary);
      return;
    }
    this.release(s);
    this.place(s, key, kl, value, body, plain, vbytes, binary);
  }

  /** Frees a slot's key and value storage. */
  private release(s: number): void {
    const r = this.ref[s];
    if (r === OUTSIDE) this.outside.delete(s);
    else this.slab.free(r, this.klen[s] + this.vlen[s]);
  }

  private fill(slot: number, rec: EntryRecord, ni: number, flags: number, size: number, exp: number): void {
    this.wall[slot] = rec.wall;
    this.logical[slot] = rec.logical;
    this.node[slot] = ni;
    this.flags[slot] = flags;
    this.sizes[slot] = size;
    if ((flags & FLAG_TOMBSTONE) !== 0) this.tombstones++;
    else this.live++;
    this.ttl.set(slot, exp);
  }

  /** Adds a slot to the index (its key is not in it yet). */
  private index(slot: number, h: number): void {
    // called before fill() counts the new entry: live + tombstones is what the index holds
    if ((this.live + this.tombstones + 1) * 4 > this.table.length * 3) this.rehash(this.table.length * 2);
    const t = this.table;
    const mask = this.mask;
    let i = Math.imul(h, GOLDEN) >>> this.shift;
    while (t[i] !== 0) i = (i + 1) & mask;
    t[i] = slot + 1;
  }

  /** Removes a slot from the index; backward-shift deletion keeps probe runs without holes. */
  private unindex(slot: number): void {
    const t = this.table;
    const mask = this.mask;
    const shift = this.shift;
    const hashes = this.hashes;
    let i = Math.imul(hashes[slot], GOLDEN) >>> shift;
    while (t[i] !== slot + 1) i = (i + 1) & mask;
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      const v = t[j];
      if (v === 0) break;
      const k = Math.imul(hashes[v - 1], GOLDEN) >>> shift;
      // v may fill the hole at i unless its home lies cyclically in (i, j]
      if (i <= j ? k <= i || k > j : k <= i && k > j) {
        t[i] = v;
        i = j;
      }
    }
    t[i] = 0;
  }

  private rehash(size: number): void {
    const old = this.table;
    const t = new Int32Array(size);
    const mask = size - 1;
    const shift = 32 - Math.log2(size);
    const hashes = this.hashes;
    for (let j = 0; j < old.length; j++) {
      const v = old[j];
      if (v === 0) continue;
      let i = Math.imul(hashes[v - 1], GOLDEN) >>> shift;
      while (t[i] !== 0) i = (i + 1) & mask;
      t[i] = v;
    }
    this.table = t;
    this.mask = mask;
    this.shift = shift;
  }

  /**
   * Evicts until `extraEntries` more entries and `extraBytes` more bytes fit. Dead entries
   * at the top of the expiry heap go first (reclaimed, not counted as evictions); then the
   * policy's victims, never `exclude` (the slot being written).
   */
  private makeRoom(extraEntries: number, extraBytes: number, exclude: number, now: number): void {
    const maxE = this.maxEntries;
    const maxB = this.maxBytes;
    while ((maxE > 0 && this.live + this.tombstones + extraEntries > maxE) || (maxB > 0 && this.bytes + extraBytes > maxB)) {
      const t = this.ttl.top();
      if (t !== -1 && t !== exclude && this.ttl.exp[t] <= now) {
        this.expire(t);
        continue;
      }
      const v = this.policy.victim(exclude);
      if (v === -1) return;
      if (this.onRemoved !== undefined)
        this.onRemoved(CHANGE_EVICT, this.keyOf(v), this.wall[v], this.logical[v], this.nodeOf(v), this.isTombstone(v), this.pos[v]);
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
    // x2: growing by less leaves more freed old columns that malloc keeps, which costs more
    // resident memory than the emptier new tail saves (docs/benchmarks/2026-11-23.md)
    let n = this.slots * 2;
    if (this.maxEntries > 0 && n > this.maxEntries) n = Math.max(this.maxEntries, this.slots + 1);
    const hashes = new Uint32Array(n);
    hashes.set(this.hashes);
    this.hashes = hashes;
    const pos = new Uint32Array(n);
    pos.set(this.pos);
    this.pos = pos;
    const ref = new Uint32Array(n);
    ref.set(this.ref);
    this.ref = ref;
    const klen = new Uint32Array(n);
    klen.set(this.klen);
    this.klen = klen;
    const vlen = new Uint32Array(n);
    vlen.set(this.vlen);
    this.vlen = vlen;
    const wall = new Float64Array(n);
    wall.set(this.wall);
    this.wall = wall;
    const logical = new Uint16Array(n);
    logical.set(this.logical);
    this.logical = logical;
    const node = new Uint16Array(n);
    node.set(this.node);
    this.node = node;
    const flags = new Uint8Array(n);
    flags.set(this.flags);
    this.flags = flags;
    const sizes = new Uint32Array(n);
    sizes.set(this.sizes);
    this.sizes = sizes;
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
    const tombstone = this.isTombstone(slot);
    if (!tombstone) this.expirations++;
    if (this.onRemoved !== undefined)
      this.onRemoved(CHANGE_EXPIRE, this.keyOf(slot), this.wall[slot], this.logical[slot], this.nodeOf(slot), tombstone, this.pos[slot]);
    this.remove(slot);
  }

  /** The writer node id of a used slot's version. */
  nodeOf(slot: number): string {
    return this.nodes.name(this.node[slot]);
  }

  isTombstone(slot: number): boolean {
    return (this.flags[slot] & FLAG_TOMBSTONE) !== 0;
  }

  /** Removes a slot's entry outright and frees the slot. */
  remove(slot: number): void {
    this.unindex(slot);
    this.uncount(slot);
    this.release(slot);
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

/** Writes a value (see Shard.apply) at p[at]: its compressed stored form when `body` is given, else its `vbytes` bytes. */
function writeValue(p: Buffer, at: number, value: string, body: Buffer | undefined, plain: number, vbytes: number, binary: boolean): void {
  if (body !== undefined) writeStored(p, at, plain, body);
  else if (vbytes > 0) p.write(value, at, vbytes, binary ? 'latin1' : 'utf8');
}
