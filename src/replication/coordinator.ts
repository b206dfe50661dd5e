/**
 * Coordinates client calls for the node that received them: finds the key's replicas,
 * applies locally when this node is one, sends to the others in parallel and answers
 * once the requested number of replicas has (W for writes, R for reads).
 *
 * No I/O of its own: peers are reached through a PeerTransport (src/replication/peers.ts),
 * placement comes from the ring. Callback style, so that a call answered entirely by the
 * local store completes synchronously without allocating promises.
 */

import { CacheError } from '../errors/errors.js';
import type { HybridClock } from '../hlc/hlc.js';
import { compareVersions, MAX_LOGICAL } from '../hlc/hlc.js';
import { type Level, Outcome, QuorumCount, required } from '../quorum/quorum.js';
import type { EntryRecord, EntryVersion, Store } from '../store/store.js';
import type { PeerResult } from '../wire/codec.js';

export type Callback<T> = (err: CacheError | null, result?: T) => void;

/** How the coordinator reaches other replicas. */
export interface PeerTransport {
  /**
   * Sends a last-write-wins write; calls back once the replica has it, saying whether it held
   * a live value before, or, when it did not apply it because it holds something newer (a
   * newer version of the key, a flush covering the write), that version.
   */
  write(node: string, key: string, rec: EntryRecord, cb: (err: Error | null, existed?: boolean, newer?: EntryVersion) => void): void;
  /**
   * Reads the replica's entry (tombstones included); undefined if it has none. With `have`
   * (the caller's own copy), a replica holding exactly that version answers without
   * sending the value back, and the callback gets `have` itself.
   */
  read(node: string, key: string, have: EntryRecord | undefined, cb: (err: Error | null, rec?: EntryRecord) => void): void;
}

/**
 * Leases (src/replication/leases.ts) live on a key's first reachable replica, its *owner*.
 * `local` is this node's own keeper (its replica executor), `peers` reaches another owner
 * (PeerService Exchange, OP_KIND_LEASE / OP_KIND_LEASE_WRITE). Answers as in Replica.lease
 * and Replica.leasedWrite.
 */
export interface LeaseOwners {
  local: {
    lease(key: string, leaseMs: number): PeerResult;
    leasedWrite(key: string, rec: EntryRecord, token: string): PeerResult;
    release(key: string, token: string): PeerResult;
  };
  peers: {
    lease(node: string, key: string, leaseMs: number, cb: (err: Error | null, res?: PeerResult) => void): void;
    leasedWrite(node: string, key: string, rec: EntryRecord, token: string, cb: (err: Error | null, res?: PeerResult) => void): void;
    release(node: string, key: string, token: string, cb: (err: Error | null, res?: PeerResult) => void): void;
  };
}

/** What GetOrLease found: a live value, or a lease to load the key with, or how long to wait (maybe with a stale value). */
export type LeaseAnswer =
  | { kind: 'value'; rec: EntryRecord }
  | { kind: 'lease'; token: string }
  | { kind: 'wait'; waitMs: number; stale: EntryRecord | undefined };

export interface Placement {
  /** Preference list for a key: ids of its replicas, in ring order. */
  replicas(key: string): readonly string[];
  /**
   * While the ring is changing (keys still streaming to new owners), the key's replicas on
   * the previous ring; undefined otherwise. Reads then also ask the previous replicas that
   * are no longer replicas (they hold their copies until the new owners confirmed them).
   */
  previousReplicas(key: string): readonly string[] | undefined;
  /** False for members known to be down (their writes become hints right away). */
  isReachable(node: string): boolean;
}

export interface HintSink {
  /** Keeps a write for `target` to deliver when it is reachable again. */
  add(target: string, key: string, rec: EntryRecord): void;
}

export interface CoordinatorOptions {
  selfId: string;
  writeQuorum: number;
  readQuorum: number;
  defaultTtlMs: number;
  now?: () => number;
  /**
   * Speculative reads: when a read round still lacks answers this many ms after it asked,
   * it asks one more replica (and again after each further delay, while any are left), so a
   * replica that is slow or silently gone costs this delay instead of the RPC timeout.
   * 0 or absent = off.
   */
  speculativeReadMs?: number;
  /** Runs fn after ms; returns a cancel function (default: setTimeout, unref'd). */
  schedule?: (ms: number, fn: () => void) => () => void;
  /**
   * Checked at the entry of every write this node would coordinate (set, delete): an error
   * refuses it before it takes a timestamp (this node's clock is off: src/membership/clocks.ts).
   */
  refuseWrites?: () => CacheError | undefined;
  /** Where leases are kept (GetOrLease, Set with a lease token); absent = those calls answer UNAVAILABLE. */
  leases?: LeaseOwners;
}

function scheduleTimer(ms: number, fn: () => void): () => void {
  const t = setTimeout(fn, ms);
  t.unref();
  return () => clearTimeout(t);
}

export interface CoordinatorStats {
  /** Gets answered with a value / with NOT_FOUND, whatever the consistency level. */
  hits: number;
  misses: number;
  readRepairs: number;
  quorumFailures: number;
}

export interface WriteResult {
  wall: number;
  logical: number;
  deleted?: boolean;
}

export class Coordinator {
  readonly stats: CoordinatorStats = { hits: 0, misses: 0, readRepairs: 0, quorumFailures: 0 };
  private readonly now: () => number;

  constructor(
    private readonly store: Store,
    private readonly clock: HybridClock,
    private readonly placement: Placement,
    private readonly peers: PeerTransport,
    private readonly hints: HintSink,
    private readonly opts: CoordinatorOptions,
  ) {
    this.now = opts.now ?? Date.now;
  }

  set(key: string, value: string, binary: boolean, ttlMs: number, level: Level, cb: Callback<WriteResult>): void {
    if (this.writeRefused(cb)) return;
    this.replicate(key, this.valueRecord(value, binary, ttlMs), level, cb, false);
  }

  /**
   * A Set carrying a lease token: the key's owner checks the token against the key's version
   * there and applies the write in the same step (Replica.leasedWrite); only then is it
   * replicated as any write (the owner, holding it already, just confirms). A refused token is
   * FAILED_PRECONDITION and nothing is written anywhere.
   */
  setLeased(key: string, value: string, binary: boolean, ttlMs: number, level: Level, token: string, cb: Callback<WriteResult>): void {
    if (this.writeRefused(cb)) return;
    const rec = this.valueRecord(value, binary, ttlMs);
    this.askOwner(
      key,
      cb,
      (leases) => leases.local.leasedWrite(key, rec, token),
      (leases, node, done) => leases.peers.leasedWrite(node, key, rec, token, done),
      (res) => {
        if (res.refused) cb(new CacheError('precondition', `lease refused: ${res.refused}`));
        else this.replicate(key, rec, level, cb, false);
      },
    );
  }

  /**
   * GetOrLease: a read at `level`; on a miss, the key's owner grants a lease, or says how long
   * the current one has left (with a recently expired value when it still holds one), or
   * answers a live value it holds (written since the read).
   */
  getOrLease(key: string, leaseMs: number, level: Level, cb: Callback<LeaseAnswer>): void {
    this.get(key, level, (err, found) => {
      if (err) cb(err);
      else if (found) cb(null, { kind: 'value', rec: found });
      else
        this.askOwner(
          key,
          cb,
          (leases) => leases.local.lease(key, leaseMs),
          (leases, node, done) => leases.peers.lease(node, key, leaseMs, done),
          (res) => {
            if (res.found && res.rec) cb(null, { kind: 'value', rec: res.rec });
            else if (res.leaseToken) cb(null, { kind: 'lease', token: res.leaseToken });
            else cb(null, { kind: 'wait', waitMs: Math.max(1, res.waitMs ?? 0), stale: res.stale ? res.rec : undefined });
          },
        );
    });
  }

  /** ReleaseLease: the key's owner gives the lease back if `token` is its live lease (true). */
  releaseLease(key: string, token: string, cb: Callback<boolean>): void {
    this.askOwner(
      key,
      cb,
      (leases) => leases.local.release(key, token),
      (leases, node, done) => leases.peers.release(node, key, token, done),
      (res) => cb(null, res.found === true),
    );
  }

  /** Runs a lease operation on the key's owner (its first reachable replica): here, or over the peer protocol. */
  private askOwner<T>(
    key: string,
    cb: Callback<T>,
    here: (leases: LeaseOwners) => PeerResult,
    there: (leases: LeaseOwners, node: string, done: (err: Error | null, res?: PeerResult) => void) => void,
    then: (res: PeerResult) => void,
  ): void {
    const leases = this.opts.leases;
    if (!leases) {
      cb(new CacheError('unavailable', 'leases are not served by this node'));
      return;
    }
    const owner = this.placement.replicas(key).find((n) => n === this.opts.selfId || this.placement.isReachable(n));
    if (owner === undefined) {
      cb(new CacheError('unavailable', 'no reachable replica of this key to hold its lease'));
      return;
    }
    if (owner === this.opts.selfId) {
      const res = here(leases);
      if (res.error) cb(new CacheError('unavailable', res.error));
      else then(res);
      return;
    }
    there(leases, owner, (err, res) => {
      if (err || !res)
        cb(err instanceof CacheError ? err : new CacheError('unavailable', `lease owner ${owner}: ${err?.message ?? 'no answer'}`));
      else then(res);
    });
  }

  /** A value's record stamped now by this node's clock. */
  private valueRecord(value: string, binary: boolean, ttlMs: number): EntryRecord {
    const ttl = ttlMs > 0 ? ttlMs : this.opts.defaultTtlMs;
    return this.stamped(value, binary, ttl > 0 ? this.now() + ttl : 0, false);
  }

  /** A record stamped now by this node's clock. */
  private stamped(value: string, binary: boolean, expiresAt: number, tombstone: boolean): EntryRecord {
    const ts = this.clock.now();
    return { value, binary, wall: ts.wall, logical: ts.logical, node: this.opts.selfId, expiresAt, tombstone };
  }

  delete(key: string, level: Level, cb: Callback<WriteResult>): void {
    if (this.writeRefused(cb)) return;
    // "deleted" reports whether a live value existed on any replica that acknowledged.
    this.replicate(key, this.stamped('', false, 0, true), level, cb, true);
  }

  get(key: string, level: Level, cb: Callback<EntryRecord | undefined>): void {
    const replicas = this.placement.replicas(key);
    const selfId = this.opts.selfId;
    const r = required(level, replicas.length, this.opts.readQuorum);
    const previous = this.placement.previousReplicas(key);
    const selfIsReplica = replicas.includes(selfId);
    if (r <= 1 && selfIsReplica && previous === undefined) {
      // Answered by the local replica alone: the common, fast path for ONE (and N=1).
      const rec = this.store.get(key);
      if (rec) this.stats.hits++;
      else this.stats.misses++;
      cb(null, rec);
      return;
    }
    const extra = previous?.filter((n) => !replicas.includes(n) && n !== selfId) ?? [];
    const read = new ReadRound(this, key, replicas, r, extra, cb);
    if (selfIsReplica || previous?.includes(selfId)) read.answerLocal(selfId, this.store.peek(key));
    read.start();
  }

  // --- internals shared with ReadRound ---

  /** @internal */ readonly ctx = {
    selfId: () => this.opts.selfId,
    speculativeReadMs: () => this.opts.speculativeReadMs ?? 0,
    schedule: (ms: number, fn: () => void) => (this.opts.schedule ?? scheduleTimer)(ms, fn),
    peers: () => this.peers,
    placement: () => this.placement,
    now: () => this.now(),
    repair: (key: string, newest: EntryRecord, stale: string[]) => this.repair(key, newest, stale),
    /** A replica that has not heard of a flush yet may still answer an entry it covers. */
    flushed: (key: string, rec: EntryRecord) => this.store.isFlushed(key, rec),
    quorumFailed: () => {
      this.stats.quorumFailures++;
    },
    counted: (hit: boolean) => {
      if (hit) this.stats.hits++;
      else this.stats.misses++;
    },
  };

  /**
   * Sends a write to the key's replicas and answers once W of them hold it. A replica that
   * holds a newer version of the key (or a flush covering the write) says so instead of
   * keeping its own silently. Two rounds at most:
   *  1. the write goes to every replica; once W have answered (holding it, or holding
   *     something newer), if any holds something newer the write is re-stamped above the
   *     newest of them and goes to round 2; otherwise it is acknowledged. Since W + W > N, the
   *     W answers include a replica of every write acknowledged before this one started, so
   *     the re-stamped write is newer than all of them, whatever the clocks say;
   *  2. the re-stamped write goes to every replica again; a replica that now holds something
   *     newer still got it from a write concurrent with this one, which last-write-wins may
   *     order after it: that answer counts as holding it (superseded), and W answers
   *     acknowledge it. So writers racing on one hot key never chase each other's versions.
   * With clocks in step and no concurrent writer of the key nothing is ever re-stamped.
   */
  private replicate(key: string, first: EntryRecord, level: Level, cb: Callback<WriteResult>, isDelete: boolean): void {
    const replicas = this.placement.replicas(key);
    const n = replicas.length;
    if (n === 0) {
      cb(new CacheError('unavailable', 'no replica for this key: the ring is empty'));
      return;
    }
    const w = required(level, n, this.opts.writeQuorum);
    let rec = first;
    let round = 0;
    let deleted = false;
    let done = false;
    const finish = (err: CacheError | null) => {
      done = true;
      if (err) {
        this.stats.quorumFailures++;
        cb(err);
      } else cb(null, isDelete ? { wall: rec.wall, logical: rec.logical, deleted } : { wall: rec.wall, logical: rec.logical });
    };
    const send = () => {
      const mine = ++round;
      const q = new QuorumCount(w, n);
      let why = '';
      let newest: EntryVersion | undefined;
      const answer = (o: Outcome) => {
        if (done || mine !== round || o === Outcome.Pending) return;
        if (o === Outcome.Reached && newest && round === 1) {
          rec = { ...rec, ...this.stampAbove(newest) };
          send();
        } else if (o === Outcome.Reached) finish(null);
        else {
          finish(
            new CacheError(
              'unavailable',
              `write quorum not reached: ${q.successes} of ${n} replicas acknowledged, ${w} required (${why}); ` +
                'the write may still reach some replicas',
            ),
          );
        }
      };
      /** A replica's answer: it holds the write, or something newer (round 1: re-stamp once W answered; round 2: superseded). */
      const held = (above: EntryVersion | undefined) => {
        if (above && (!newest || compareVersions(above.wall, above.logical, above.node, newest.wall, newest.logical, newest.node) > 0)) {
          newest = above;
        }
        answer(q.success());
      };
      const r = rec;
      for (const node of replicas) {
        if (node === this.opts.selfId) {
          if (isDelete && this.isLive(this.store.peek(key))) deleted = true;
          held(this.store.apply(key, r) ? undefined : this.store.newerThan(key, r));
        } else if (!this.placement.isReachable(node)) {
          this.hints.add(node, key, r);
          why ||= `replica ${node} is down`;
          answer(q.failure());
        } else {
          this.peers.write(node, key, r, (err, existed, above) => {
            if (err) {
              if (mine === round) this.hints.add(node, key, r);
              why ||= err.message;
              answer(q.failure());
              return;
            }
            if (existed && isDelete && !done) deleted = true;
            held(above);
          });
        }
      }
    };
    send();
  }

  /** A version above `v` from this node: the clock moved past v when it may be, else just above it. */
  private stampAbove(v: EntryVersion): { wall: number; logical: number; node: string } {
    this.clock.observe(v.wall, v.logical);
    const ts = this.clock.now();
    const node = this.opts.selfId;
    if (compareVersions(ts.wall, ts.logical, node, v.wall, v.logical, v.node) > 0) return { ...ts, node };
    // v is further ahead than the clock may follow (HybridClock's drift bound): just above v
    return v.logical < MAX_LOGICAL ? { wall: v.wall, logical: v.logical + 1, node } : { wall: v.wall + 1, logical: 0, node };
  }

  /** refuseWrites: answers cb with the refusal and returns true, or returns false. */
  private writeRefused(cb: Callback<WriteResult>): boolean {
    const refused = this.opts.refuseWrites?.();
    if (refused === undefined) return false;
    cb(refused);
    return true;
  }

  private isLive(rec: EntryRecord | undefined): boolean {
    return rec !== undefined && !rec.tombstone && (rec.expiresAt === 0 || rec.expiresAt > this.now());
  }

  /** Brings replicas that answered with an older version (or nothing) up to the newest. */
  private repair(key: string, newest: EntryRecord, stale: string[]): void {
    for (const node of stale) {
      this.stats.readRepairs++;
      if (node === this.opts.selfId) this.store.apply(key, newest);
      else this.peers.write(node, key, newest, () => undefined);
    }
  }
}

/**
 * One quorum read: asks replicas (local first, reachable ones first) until R answered,
 * asking another replica when one fails. During a ring change it also asks, best effort,
 * the previous replicas that no longer are (`extra`): their failures do not fail the read,
 * and the answer waits for them, but (with speculative reads on) at most
 * SPECULATIVE_READ_DELAY once R replicas have answered: a previous replica that is gone (a
 * member that left and whose address no longer answers, say) costs that, not the RPC
 * timeout. Answers the newest version and repairs stale replicas. Remote replicas are sent
 * the local copy's version, so an up-to-date replica answers "same" instead of sending the
 * value back.
 */
class ReadRound {
  private readonly q: QuorumCount;
  /** Who answered and what (parallel arrays: a round has a handful of answers). */
  private readonly from: string[] = [];
  private readonly recs: (EntryRecord | undefined)[] = [];
  /** The local copy, when this node is a replica. */
  private have: EntryRecord | undefined;
  private pending: string[] = [];
  private next = 0;
  private inFlight = 0;
  private extraLeft: number;
  private done = false;
  /** replicas asked beyond R because earlier ones were slow (speculative reads) */
  private spare = 0;
  private cancelSpare: (() => void) | undefined;
  private cancelExtra: (() => void) | undefined;

  constructor(
    private readonly c: Coordinator,
    private readonly key: string,
    private readonly replicas: readonly string[],
    private readonly r: number,
    private readonly extra: readonly string[],
    private readonly cb: Callback<EntryRecord | undefined>,
  ) {
    this.q = new QuorumCount(r, replicas.length);
    this.extraLeft = extra.length;
  }

  /** The local replica's copy; answered before start(). */
  answerLocal(node: string, rec: EntryRecord | undefined): void {
    this.have = rec;
    this.answer(node, rec);
  }

  private answer(node: string, rec: EntryRecord | undefined): void {
    this.from.push(node);
    this.recs.push(rec);
    if (this.replicas.includes(node)) this.settle(this.q.success());
  }

  start(): void {
    if (this.replicas.length === 0) {
      this.done = true;
      this.cb(new CacheError('unavailable', 'no replica for this key: the ring is empty'));
      return;
    }
    const placement = this.c.ctx.placement();
    const selfId = this.c.ctx.selfId();
    // reachable replicas first, then the ones believed down (asked only if others fail)
    let down: string[] | undefined;
    for (const n of this.replicas) {
      if (n === selfId || this.from.includes(n)) continue;
      if (placement.isReachable(n)) this.pending.push(n);
      else (down ??= []).push(n);
    }
    if (down) this.pending.push(...down);
    for (const node of this.extra) {
      this.c.ctx.peers().read(node, this.key, this.have, (err, rec) => {
        if (!err) {
          this.from.push(node);
          this.recs.push(rec);
        }
        this.extraLeft--;
        this.settle(this.q.outcome);
      });
    }
    this.askMore();
    this.armSpare();
  }

  /** If answers are still missing after the speculative delay, ask one more replica. */
  private armSpare(): void {
    const ms = this.c.ctx.speculativeReadMs();
    if (ms <= 0 || this.done || this.next >= this.pending.length) return;
    this.cancelSpare = this.c.ctx.schedule(ms, () => {
      this.cancelSpare = undefined;
      if (this.done) return;
      this.spare++;
      this.askMore();
      this.armSpare();
    });
  }

  private askMore(): void {
    while (!this.done && this.q.successes + this.inFlight < this.r + this.spare && this.next < this.pending.length) {
      const node = this.pending[this.next++];
      this.inFlight++;
      this.c.ctx.peers().read(node, this.key, this.have, (err, rec) => {
        this.inFlight--;
        if (err) {
          this.settle(this.q.failure());
          this.askMore();
        } else {
          this.answer(node, rec);
        }
      });
    }
  }

  /** R answered but previous replicas have not: give them the speculative delay, then answer without them. */
  private armExtraLimit(): void {
    const ms = this.c.ctx.speculativeReadMs();
    if (ms <= 0 || this.cancelExtra) return;
    this.cancelExtra = this.c.ctx.schedule(ms, () => {
      this.cancelExtra = undefined;
      this.extraLeft = 0;
      this.settle(this.q.outcome);
    });
  }

  private finish(): void {
    this.done = true;
    if (this.cancelSpare) {
      this.cancelSpare();
      this.cancelSpare = undefined;
    }
    if (this.cancelExtra) {
      this.cancelExtra();
      this.cancelExtra = undefined;
    }
  }

  private settle(o: Outcome): void {
    if (this.done) return;
    if (o === Outcome.Failed) {
      this.finish();
      this.c.ctx.quorumFailed();
      this.cb(
        new CacheError(
          'unavailable',
          `read quorum not reached: ${this.q.successes} of ${this.replicas.length} replicas answered, ${this.r} required`,
        ),
      );
      return;
    }
    if (this.q.outcome !== Outcome.Reached) return;
    if (this.extraLeft > 0) {
      this.armExtraLimit();
      return;
    }
    this.finish();
    const recs = this.recs;
    let newest: EntryRecord | undefined;
    for (const rec of recs) {
      if (rec && (!newest || compareVersions(rec.wall, rec.logical, rec.node, newest.wall, newest.logical, newest.node) > 0)) newest = rec;
    }
    // a flushed winner means every answer is flushed (anything newer than a mark is not)
    if (newest && this.c.ctx.flushed(this.key, newest)) newest = undefined;
    const now = this.c.ctx.now();
    const live = newest && !newest.tombstone && (newest.expiresAt === 0 || newest.expiresAt > now) ? newest : undefined;
    this.c.ctx.counted(live !== undefined);
    this.cb(null, live);
    if (!newest) return;
    let stale: string[] | undefined;
    for (let i = 0; i < recs.length; i++) {
      const rec = recs[i];
      if (rec === newest || !this.replicas.includes(this.from[i])) continue; // repair current replicas only
      if (!rec || compareVersions(rec.wall, rec.logical, rec.node, newest.wall, newest.logical, newest.node) < 0)
        (stale ??= []).push(this.from[i]);
    }
    if (stale) this.c.ctx.repair(this.key, newest, stale);
  }
}
