/**
 * The node's tracking table for client near caches: which keys each client (one
 * CacheService/Invalidations stream) was served, so that the node can tell it when one changes.
 *
 * The contract:
 *  - track(client, key) remembers that the client may hold key. A client holds at most
 *    `maxKeysPerClient` keys; tracking one more forgets its oldest (least recently tracked) key
 *    and queues an invalidation of it, so the client drops it: a client never holds a key the
 *    node does not track for it.
 *  - changed(key) queues an invalidation of key for every client tracking it and forgets the
 *    key for them (one-shot: a client that reads the key again tracks it again).
 *    changedPrefix(prefix) does so for every tracked key starting with prefix ('' = all).
 *  - invalidateAll() queues "drop everything" for every client and forgets all their keys
 *    (the node's ring changed: what it replicates may have moved).
 *  - Queued invalidations wait in the client's outbox until take(client) hands them over (the
 *    adapter sends them, one message per client per event-loop turn); `onPending` is called
 *    once whenever a client's outbox goes from empty to not empty.
 *  - writing(client, key) forgets key for the client without an invalidation (the client is
 *    writing the key itself: its own write must not invalidate what it will hold once the write
 *    is answered) and counts the write in flight; written(client, key, outcome) counts it done.
 *    While other writes of the key by the client are in flight it answers `undefined` (the last
 *    one to finish decides); then the newest acknowledged of those writes (the client keeps the
 *    newest it wrote), or `null` if one of them failed (it may have been applied in part: the
 *    client drops the key). The adapter tracks the key again if the node still holds that write,
 *    else it refuses it (NearTracking.written).
 *  - close(client) forgets the client and everything it tracked.
 *  - `active` is false while no client is open: the adapters then skip tracking altogether.
 *
 * Pure: no I/O, no timers.
 */
import { compareVersions } from '../hlc/hlc.js';

/** The request header in which a Get names the caller's Invalidations stream (src/server/invalidations.ts, src/client/near.ts). */
export const NEAR_STREAM_HEADER = 'x-near-stream';

export interface TrackedClient {
  readonly id: string;
  /** The keys the client may hold, oldest first (Set order: re-tracking moves a key last). */
  readonly keys: Set<string>;
  /** The client's own writes in flight through this node, by key (see writing / written). */
  readonly writes: Map<string, OwnWrites>;
  /** Keys to invalidate, in order; `all`: drop everything (then `outbox` is empty). */
  outbox: string[];
  all: boolean;
  open: boolean;
}

/** An acknowledged write: its version and whether the writer gave it a TTL. */
export interface WriteOutcome {
  wall: number;
  logical: number;
  ttlGiven: boolean;
}

/** A client's writes of one key in flight: how many, the newest acknowledged so far, whether one failed. */
interface OwnWrites {
  inFlight: number;
  newest: WriteOutcome | undefined;
  failed: boolean;
}

export interface TrackingStats {
  clients: number;
  trackedKeys: number;
  /** Keys queued for invalidation (bound evictions included), and "drop everything" messages. */
  invalidations: number;
  /** Keys forgotten because a client held maxKeysPerClient already. */
  boundEvictions: number;
}

export class TrackingTable {
  private readonly clients = new Map<string, TrackedClient>();
  /** key -> the clients tracking it (usually one). */
  private readonly byKey = new Map<string, TrackedClient | TrackedClient[]>();
  private tracked = 0;
  private invalidations = 0;
  private boundEvictions = 0;

  constructor(
    private readonly maxKeysPerClient: number,
    private readonly onPending: (client: TrackedClient) => void,
  ) {
    if (!Number.isInteger(maxKeysPerClient) || maxKeysPerClient < 1) throw new RangeError('tracking: maxKeysPerClient must be >= 1');
  }

  get active(): boolean {
    return this.clients.size !== 0;
  }

  open(id: string): TrackedClient {
    if (this.clients.has(id)) throw new Error(`tracking: client ${id} is open already`);
    const c: TrackedClient = { id, keys: new Set(), writes: new Map(), outbox: [], all: false, open: true };
    this.clients.set(id, c);
    return c;
  }

  client(id: string): TrackedClient | undefined {
    return this.clients.get(id);
  }

  close(c: TrackedClient): void {
    if (!c.open) return;
    c.open = false;
    this.clients.delete(c.id);
    for (const k of c.keys) this.unlink(k, c);
    this.tracked -= c.keys.size;
    c.keys.clear();
    c.writes.clear();
    c.outbox = [];
  }

  track(c: TrackedClient, key: string): void {
    if (!c.open) return;
    if (c.keys.has(key)) {
      c.keys.delete(key);
      c.keys.add(key);
      return;
    }
    if (c.keys.size >= this.maxKeysPerClient) {
      const oldest = c.keys.values().next().value as string;
      c.keys.delete(oldest);
      this.tracked--;
      this.unlink(oldest, c);
      this.boundEvictions++;
      this.queue(c, oldest);
    }
    c.keys.add(key);
    this.tracked++;
    const cur = this.byKey.get(key);
    if (cur === undefined) this.byKey.set(key, c);
    else if (Array.isArray(cur)) cur.push(c);
    else this.byKey.set(key, [cur, c]);
  }

  /** The client writes key through this node: untracked (no invalidation), the write counted in flight. */
  writing(c: TrackedClient, key: string): void {
    if (!c.open) return;
    if (c.keys.delete(key)) {
      this.tracked--;
      this.unlink(key, c);
    }
    const w = c.writes.get(key);
    if (w === undefined) c.writes.set(key, { inFlight: 1, newest: undefined, failed: false });
    else w.inFlight++;
  }

  /**
   * One of the client's writes of key is done (`outcome`: acknowledged; undefined: failed).
   * undefined while others are in flight; then the newest acknowledged of them, or null if one failed.
   */
  written(c: TrackedClient, key: string, outcome: WriteOutcome | undefined): WriteOutcome | null | undefined {
    const w = c.writes.get(key);
    if (w === undefined) return outcome ?? null; // not counted (the client closed meanwhile)
    if (outcome === undefined) w.failed = true;
    else if (w.newest === undefined || compareVersions(outcome.wall, outcome.logical, '', w.newest.wall, w.newest.logical, '') > 0)
      w.newest = outcome;
    if (--w.inFlight > 0) return undefined;
    c.writes.delete(key);
    return w.failed ? null : (w.newest ?? null);
  }

  /**
   * Queues an invalidation of key for a client without tracking it (the node cannot track it:
   * it does not replicate the key, so it would not see its writes).
   */
  refuse(c: TrackedClient, key: string): void {
    if (c.open) this.queue(c, key);
  }

  changed(key: string): void {
    const cur = this.byKey.get(key);
    if (cur === undefined) return;
    this.byKey.delete(key);
    if (Array.isArray(cur)) {
      for (const c of cur) this.forget(c, key);
    } else this.forget(cur, key);
  }

  changedPrefix(prefix: string): void {
    for (const k of [...this.byKey.keys()]) if (k.startsWith(prefix)) this.changed(k);
  }

  invalidateAll(): void {
    for (const c of this.clients.values()) {
      this.tracked -= c.keys.size;
      c.keys.clear();
      const was = c.outbox.length !== 0 || c.all;
      c.outbox = [];
      c.all = true;
      this.invalidations++;
      if (!was) this.onPending(c);
    }
    this.byKey.clear();
  }

  /** The client's queued invalidations (then its outbox is empty). */
  take(c: TrackedClient): { keys: string[]; all: boolean } {
    const out = { keys: c.outbox, all: c.all };
    c.outbox = [];
    c.all = false;
    return out;
  }

  stats(): TrackingStats {
    return {
      clients: this.clients.size,
      trackedKeys: this.tracked,
      invalidations: this.invalidations,
      boundEvictions: this.boundEvictions,
    };
  }

  private forget(c: TrackedClient, key: string): void {
    if (c.keys.delete(key)) this.tracked--;
    this.queue(c, key);
  }

  private queue(c: TrackedClient, key: string): void {
    this.invalidations++;
    if (c.all) return;
    c.outbox.push(key);
    if (c.outbox.length === 1) this.onPending(c);
  }

  private unlink(key: string, c: TrackedClient): void {
    const cur = this.byKey.get(key);
    if (cur === undefined) return;
    if (cur === c) {
      this.byKey.delete(key);
      return;
    }
    if (!Array.isArray(cur)) return;
    const i = cur.indexOf(c);
    if (i !== -1) cur.splice(i, 1);
    if (cur.length === 1) this.byKey.set(key, cur[0]!);
    else if (cur.length === 0) this.byKey.delete(key);
  }
}
