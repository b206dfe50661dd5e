/**
 * The client's near cache: values read from a key's replica kept in process memory, dropped
 * when that replica says the key changed (CacheService/Invalidations). Pure: the adapter in
 * client.ts opens the streams, makes the reads and passes the time in.
 *
 * The contract:
 *  - A stream to a node is usable once its first message (seq 1, its id) arrived: open(). Each
 *    later message must carry the next seq; a gap clears every entry read through that node
 *    (a lost message may have named any of them), as does lost() (the stream ended or failed:
 *    the node no longer tracks anything for us) and ringChanged() (clears everything).
 *  - A read, or a write of this client, is cached only if the key was reserved before it was
 *    sent: reserve(key, address) returns a token (0: the node's stream is not usable, do not
 *    cache). Calls of one key through one node that are in flight together share the token
 *    (reserving again neither voids it nor drops a value held: while this client writes a key,
 *    its gets are answered the value held before, as for any concurrent calls). Any
 *    invalidation of the key, a clear of its node, or a reservation through another node voids
 *    the token; install() with a void token does nothing: a read that raced with an
 *    invalidation never installs the value it read.
 *  - install() keeps the newest version: an answer older than the value held (a read that
 *    overlapped a write of this client, an earlier write answered late) does not replace it.
 *  - written(): this client's own write was answered. With a void token the key is dropped,
 *    whatever is held: the node tracks the key again once this client's writes of it through
 *    that node are all answered, if it holds the newest of them, and a write whose install was
 *    voided may be that newest one. A failed write drops the key too (invalidate()).
 *  - abandon(): a read that failed or found nothing frees its reservation, unless a value was
 *    installed under it meanwhile.
 *  - lookup() answers an installed entry until min(maxTtlMs, the value's own TTL) after it was
 *    installed, never later. At most maxEntries keys (reservations included) are kept; past
 *    that, the least recently reserved key goes (no reordering on hits, to keep lookup cheap).
 */

export interface NearCacheOptions {
  /** Most keys kept (1 .. 10,000,000). */
  maxEntries: number;
  /** Longest an entry is served without asking a node again, in ms (1 .. 2^31 - 1). */
  maxTtlMs: number;
}

export interface NearCacheStats {
  /** Gets answered from process memory. */
  hits: number;
  /** Gets that went to a node (near cache on, no live entry). */
  misses: number;
  /** Keys named by the nodes' invalidations (and by this client's own writes). */
  invalidations: number;
  /** Whole-node or whole-cache clears: sequence gap, lost stream, ring change, flush, "all" message. */
  clears: number;
  /** Keys held now (reservations included). */
  entries: number;
}

interface Slot<V> {
  token: number;
  address: string;
  /** undefined while reserved. */
  value: V | undefined;
  /** The installed value's version. */
  version: bigint;
  expiresAt: number;
}

interface StreamState {
  id: string;
  /** The seq the next message must carry. */
  next: number;
}

export class NearCache<V> {
  private readonly slots = new Map<string, Slot<V>>();
  private readonly streams = new Map<string, StreamState>();
  private lastToken = 0;
  private readonly counts = { hits: 0, misses: 0, invalidations: 0, clears: 0 };

  constructor(private readonly o: NearCacheOptions) {}

  /** A live entry, or undefined (counted as a hit or a miss). */
  lookup(key: string, now: number): V | undefined {
    const s = this.slots.get(key);
    if (s !== undefined && s.value !== undefined) {
      if (s.expiresAt > now) {
        this.counts.hits++;
        return s.value;
      }
      this.slots.delete(key);
    }
    this.counts.misses++;
    return undefined;
  }

  /** A live entry, or undefined, without counting (a call that waited for another's read). */
  peek(key: string, now: number): V | undefined {
    const s = this.slots.get(key);
    return s !== undefined && s.value !== undefined && s.expiresAt > now ? s.value : undefined;
  }

  /** The id of the usable stream to address, if there is one (the Get sends it in its header). */
  streamId(address: string): string | undefined {
    return this.streams.get(address)?.id;
  }

  /** Reserves key for a read or a write about to be sent to address; 0 if that node's stream is not usable. */
  reserve(key: string, address: string): number {
    if (!this.streams.has(address)) return 0;
    const s = this.slots.get(key);
    if (s !== undefined) {
      this.slots.delete(key); // the most recently reserved goes last
      if (s.address === address) {
        this.slots.set(key, s);
        return s.token;
      }
    }
    const token = ++this.lastToken;
    this.slots.set(key, { token, address, value: undefined, version: 0n, expiresAt: 0 });
    if (this.slots.size > this.o.maxEntries) this.slots.delete(this.slots.keys().next().value as string);
    return token;
  }

  /**
   * Installs a read's (or this client's write's) value if its reservation still holds and no
   * newer version is held; ttlMs: the value's own (0 = none).
   */
  install(key: string, token: number, value: V, version: bigint, ttlMs: number, now: number): boolean {
    const s = this.slots.get(key);
    if (s === undefined || s.token !== token || (s.value !== undefined && s.version >= version)) return false;
    s.value = value;
    s.version = version;
    s.expiresAt = now + (ttlMs > 0 ? Math.min(ttlMs, this.o.maxTtlMs) : this.o.maxTtlMs);
    return true;
  }

  /** This client's write of key, reserved with token, was acknowledged with version: installed, or the key dropped if the token is void. */
  written(key: string, token: number, value: V, version: bigint, ttlMs: number, now: number): void {
    const s = this.slots.get(key);
    if (s === undefined || s.token !== token) this.invalidate(key);
    else this.install(key, token, value, version, ttlMs, now);
  }

  /** A reserved read that failed or found nothing: frees its reservation (not a value installed under it meanwhile). */
  abandon(key: string, token: number): void {
    const s = this.slots.get(key);
    if (s !== undefined && s.token === token && s.value === undefined) this.slots.delete(key);
  }

  /** Drops key (an invalidation, or this client wrote it). */
  invalidate(key: string): void {
    this.counts.invalidations++;
    this.slots.delete(key);
  }

  /** A stream's first message arrived (seq 1): reads through address may be cached from now on. */
  open(address: string, id: string): void {
    this.streams.set(address, { id, next: 2 });
  }

  /** A later message of the stream to address. */
  message(address: string, seq: number, keys: readonly string[], all: boolean): void {
    const st = this.streams.get(address);
    if (st === undefined) return;
    if (seq !== st.next || all) {
      st.next = seq + 1;
      this.clearNode(address);
      return;
    }
    st.next++;
    for (const k of keys) this.invalidate(k);
  }

  /** The stream to address ended or failed: nothing read through it may stay. */
  lost(address: string): void {
    if (!this.streams.delete(address)) return;
    this.clearNode(address);
  }

  /** The client's ring changed (or a flush): everything goes. */
  clear(): void {
    this.counts.clears++;
    this.slots.clear();
  }

  stats(): NearCacheStats {
    return { ...this.counts, entries: this.slots.size };
  }

  private clearNode(address: string): void {
    this.counts.clears++;
    for (const [k, s] of this.slots) if (s.address === address) this.slots.delete(k);
  }
}
