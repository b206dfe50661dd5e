/**
 * CacheClient: the typed client of cache.v1 for application code.
 *
 * Each key's call goes to one of the key's replicas (the ring is rebuilt from Members the way
 * the nodes build theirs), so the node that answers usually holds the key and skips a hop.
 * Failed attempts are retried with exponential backoff and jitter on another address when
 * there is one: the next replica, another member, a seed. See docs/CLIENT.md.
 */
import * as grpc from '@grpc/grpc-js';
import type { Consistency__Output } from '../protos/generated/public/cache/v1/Consistency.js';
import type { DeleteResponse__Output } from '../protos/generated/public/cache/v1/DeleteResponse.js';
import type { FlushResponse__Output } from '../protos/generated/public/cache/v1/FlushResponse.js';
import type { GetOrLeaseResponse__Output } from '../protos/generated/public/cache/v1/GetOrLeaseResponse.js';
import type { GetRequest } from '../protos/generated/public/cache/v1/GetRequest.js';
import type { GetResponse__Output } from '../protos/generated/public/cache/v1/GetResponse.js';
import type { Invalidation__Output } from '../protos/generated/public/cache/v1/Invalidation.js';
import type { KeyError__Output } from '../protos/generated/public/cache/v1/KeyError.js';
import type { LeaveResponse__Output } from '../protos/generated/public/cache/v1/LeaveResponse.js';
import type { MDeleteResponse__Output } from '../protos/generated/public/cache/v1/MDeleteResponse.js';
import type { MDeleteResult__Output } from '../protos/generated/public/cache/v1/MDeleteResult.js';
import type { MembersResponse__Output } from '../protos/generated/public/cache/v1/MembersResponse.js';
import type { MGetResponse__Output } from '../protos/generated/public/cache/v1/MGetResponse.js';
import type { MGetResult__Output } from '../protos/generated/public/cache/v1/MGetResult.js';
import type { MSetEntry } from '../protos/generated/public/cache/v1/MSetEntry.js';
import type { MSetResponse__Output } from '../protos/generated/public/cache/v1/MSetResponse.js';
import type { MSetResult__Output } from '../protos/generated/public/cache/v1/MSetResult.js';
import type { SetRequest } from '../protos/generated/public/cache/v1/SetRequest.js';
import type { SetResponse__Output } from '../protos/generated/public/cache/v1/SetResponse.js';
import type { StatsResponse__Output } from '../protos/generated/public/cache/v1/StatsResponse.js';
import { DEADLINE_HEADER } from '../server/deadline.js';
import { NEAR_STREAM_HEADER } from '../tracking/table.js';
import { type Connection, Connections } from './connections.js';
import { CacheClientError, invalidArgument } from './errors.js';
import { NearCache, type NearCacheStats } from './near.js';
import {
  type CallOptions,
  type ClientOptions,
  checkRetries,
  checkTimeout,
  checkTtl,
  consistencyNumber,
  type GetOrLoadOptions,
  isAddress,
  type ReadOptions,
  type ResolvedOptions,
  resolveOptions,
  type SetOptions,
  type WriteOptions,
} from './options.js';
import { Pipeline } from './pipeline.js';
import { backoffDelay, isRetryable } from './retry.js';
import { type Candidate, candidates, MEMBER_STATES, type MemberStateName, type Rank, RingView } from './routing.js';
import { type Watch, type WatchEvent, WatchSession } from './watch.js';

/** A value read from the cache. `value` is a string if it was written as text, a Buffer if as bytes. */
export interface GetResult {
  value: string | Buffer;
  /** Version of the value: hybrid-logical-clock timestamp (wall-clock ms << 16 | counter). */
  version: bigint;
  /** Milliseconds until the value expires; 0 if it never expires. */
  ttlRemainingMs: number;
}

/** What getOrLoad hands back: the cached value, the one this process loaded, or (with staleMs) a recently expired one. */
export interface GetOrLoadResult {
  value: string | Buffer;
  /** The value's version; undefined for a loaded value whose write was refused (a newer write of the key came first). */
  version: bigint | undefined;
  source: 'cache' | 'loader' | 'stale';
}

/** What a getOrLoad loader returns: text or bytes. */
export type Loader = () => Promise<string | Uint8Array> | string | Uint8Array;

export interface SetResult {
  /** Version the write got (see GetResult.version). */
  version: bigint;
}

export interface Member {
  nodeId: string;
  address: string;
  state: MemberStateName;
  /** cache.v1.MemberState number (1 alive, 2 suspect, 3 dead, 4 left). */
  stateCode: number;
  incarnation: bigint;
  /** How far this member's clock is ahead of (negative: behind) the answering node's, in ms, as that node measured it; 0 for itself or a member not measured. */
  clockOffsetMs: number;
}

/** A key's own failure in a batch call: the status code name the single-key call would have answered, and why. */
export interface KeyFailure {
  code: string;
  message: string;
}

export interface BatchGetResult {
  key: string;
  found: boolean;
  value: string | Buffer | undefined;
  version: bigint | undefined;
  ttlRemainingMs: number;
  error: KeyFailure | undefined;
}

export interface BatchSetEntry {
  key: string;
  value: string | Uint8Array;
  /** Time to live (ms); 0 or absent = the node's default TTL. */
  ttlMs?: number;
}

export interface BatchWriteResult {
  key: string;
  version: bigint | undefined;
  /** A later entry of the same call had the same key: that one was written (and `version` is its). */
  superseded: boolean;
  error: KeyFailure | undefined;
}

export interface BatchDeleteResult {
  key: string;
  deleted: boolean;
  version: bigint | undefined;
  error: KeyFailure | undefined;
}

export interface MembersResult {
  members: Member[];
  /** Identifies the set of nodes on the ring of the node that answered. */
  ringVersion: string;
  /** Node id of the node that answered. */
  self: string;
  replicationFactor: number;
  vnodes: number;
}

/** Counters of one node (cache.v1.StatsResponse). */
export interface NodeStats {
  nodeId: string;
  items: number;
  tombstones: number;
  bytes: number;
  hits: number;
  misses: number;
  evictions: number;
  expirations: number;
  hintsPending: number;
  hintsDelivered: number;
  readRepairs: number;
  quorumFailures: number;
  /** When the last anti-entropy round ended (ms since epoch), 0 = never. */
  antiEntropyLastMs: number;
  antiEntropyRounds: number;
  antiEntropyKeysRepaired: number;
  ringVersion: string;
  uptimeMs: number;
  /** Root of a Merkle tree over every entry the node holds: equal on nodes holding identical data. */
  merkleRoot: string;
  rebalanceKeysSent: number;
  hintsDropped: number;
  /** Version of the newest flush the node knows (0n: none), its flush marks, entries it removed for flushes. */
  flushVersion: bigint;
  flushMarks: number;
  flushed: number;
  /** The node's clock is off by more than MAX_CLOCK_OFFSET from the majority of its peers: it coordinates no writes. */
  clockFenced: boolean;
  /** Largest clock offset (absolute, ms) between the node and a live peer. */
  maxClockOffsetMs: number;
  /**
   * The keys the node served most for client calls, most requested first (at most 10; counts
   * halve every minute). A key's requests lie between count - error and count.
   */
  hotKeys: { key: string; count: number; error: number }[];
  /** Value compression (COMPRESSION_THRESHOLD): entries stored compressed, value bytes saved, bytes as written / as stored. */
  compressedItems: number;
  compressionSavedBytes: number;
  compressionRatio: number;
}

export interface FlushOptions extends MembersOptions {
  /** Only keys starting with this; default: every key. */
  prefix?: string;
}

export interface FlushResult {
  /** Entries at or before this version (with the prefix) are gone. */
  version: bigint;
  /** Node ids of members that did not confirm yet (down or unreachable): they learn the flush by gossip. */
  pending: string[];
}

export interface MembersOptions extends CallOptions {
  /** Ask this node (host:port) rather than any seed or member. */
  address?: string;
}

interface CallSpec<T> {
  method: string;
  /** Makes the call on a connection (the typed stub method of the generated client). */
  invoke(conn: Connection, md: grpc.Metadata, options: grpc.CallOptions, cb: grpc.requestCallback<T>): void;
  /** Routed by this key (Get/Set/Delete). */
  key?: string;
  /** Reads may also be retried after DEADLINE_EXCEEDED. */
  read: boolean;
  /** Only this address (no failover). */
  address?: string;
}

const TRANSIENT_FAILURE = grpc.connectivityState.TRANSIENT_FAILURE;
/** Auto-batching sends at most this many keys per MGet (the nodes' MAX_BATCH_KEYS defaults to 1000). */
const AUTO_BATCH_MAX_KEYS = 500;

/** A near-cache call's key, reserved with `token`, goes to `address` naming its stream `nearId`. */
type NearTarget = { token: number; address: string; nearId: string };

/** A single-key call waiting for the end of its event-loop turn (auto-batching). */
type Queued =
  | {
      kind: 'get';
      key: string;
      level: Consistency__Output;
      resolve: (r: GetResult | undefined) => void;
      reject: (e: unknown) => void;
      /** A near-cache miss. */
      near?: NearTarget;
    }
  | {
      kind: 'set';
      key: string;
      level: Consistency__Output;
      entry: MSetEntry;
      resolve: (r: SetResult) => void;
      reject: (e: unknown) => void;
      /** A write the near cache keeps once answered. */
      near?: NearTarget;
    }
  | { kind: 'del'; key: string; level: Consistency__Output; resolve: (deleted: boolean) => void; reject: (e: unknown) => void };
type QueuedOf<K extends Queued['kind']> = Extract<Queued, { kind: K }>;

/** getOrLoad's waiters poll GetOrLease with this backoff (each wait also at most the lease's time left). */
const LEASE_POLL = { initialMs: 25, maxMs: 1_000, multiplier: 2, jitter: 0.5 };
const DEFAULT_LEASE_MS = 10_000;

/** Least time between two attempts to open the Invalidations stream to one node. */
const NEAR_REOPEN_GAP_MS = 500;

/** Least time between two refreshes of the ring caused by errors. */
const MIN_REFRESH_GAP_MS = 250;

export class CacheClient {
  private readonly o: ResolvedOptions;
  private readonly conns: Connections;
  private view: RingView | undefined;
  private refreshing: Promise<boolean> | undefined;
  private lastRefreshStart = 0;
  private firstRefreshDone = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly penalties = new Map<string, number>();
  private closed = false;
  /** Single-key calls waiting for the end of this event-loop turn (auto-batching). */
  private queued: Queued[] = [];
  /** Auto-batched calls outstanding per node address, and the calls waiting for one of them (ClientOptions.maxInFlight). */
  private readonly pipeline: Pipeline<Queued>;
  /** getOrLoad calls in flight, by key (singleflight: one per key in this process). */
  private readonly loading = new Map<string, Promise<GetOrLoadResult>>();
  /** The near cache (ClientOptions.nearCache), its streams by node address and when each was last opened. */
  private readonly near: NearCache<GetResult> | undefined;
  private readonly nearStreams = new Map<string, grpc.ClientReadableStream<Invalidation__Output>>();
  private readonly nearOpenedAt = new Map<string, number>();
  /** Near-cache reads and kept writes in flight, by key: a miss of the same key meanwhile waits for it (see get). */
  private readonly nearReads = new Map<string, Promise<void>>();
  /** Open watch() sessions (told when the view changes). */
  private readonly watches = new Set<WatchSession>();

  constructor(options: ClientOptions) {
    this.o = resolveOptions(options);
    this.conns = new Connections(this.o.maxMessageBytes, this.o.tls, this.o.authorization);
    if (this.o.nearCache) this.near = new NearCache(this.o.nearCache);
    this.pipeline = new Pipeline(this.o.maxInFlight);
  }

  // ---- key/value ----

  /** Reads a key; undefined if it is missing, deleted or expired. */
  async get(key: string, opts: ReadOptions = {}): Promise<GetResult | undefined> {
    checkKey(key, 'Get');
    const level = consistencyNumber(opts.consistency, 'Get');
    if (this.near !== undefined && level === 0 && !this.closed) {
      const hit = this.near.lookup(key, Date.now());
      if (hit !== undefined) return hit;
      const pending = this.nearReads.get(key);
      if (pending !== undefined) {
        // the read (or this client's write) in flight answers this call too, if it got
        // installed: then no invalidation of the key arrived between its reservation (before
        // this call began) and its answer
        await pending; // never rejects (inFlight)
        const now = this.near.peek(key, Date.now());
        if (now !== undefined) return now;
      }
      const p = this.nearMiss(key, opts);
      if (pending === undefined) this.inFlight(key, p);
      const r = await p;
      if (r !== false) return r;
    }
    if (this.batching(opts)) return new Promise((resolve, reject) => this.enqueue({ kind: 'get', key, level, resolve, reject }));
    return this.getOne(key, level, opts);
  }

  /** Auto-batching applies: on, and the call has no deadline or retries of its own. */
  private batching(opts: CallOptions): boolean {
    return this.o.autoBatch && opts.timeoutMs === undefined && opts.retries === undefined && !this.closed;
  }

  private enqueue(q: Queued): void {
    this.queued.push(q);
    if (this.queued.length === 1) process.nextTick(() => void this.sendQueued());
  }

  /**
   * A near-cache miss: when the key's first choice is one of its replicas (in the client's ring)
   * and the stream to it is usable, the read goes there only, reserved first and carrying the
   * stream's id (the node then tracks the key for us), and its value is installed unless an
   * invalidation came in between. false: read the usual way (no stream yet: one is opened).
   */
  private async nearMiss(key: string, opts: ReadOptions): Promise<GetResult | undefined | false> {
    const near = this.near!;
    if (this.o.routing && !this.view && !this.firstRefreshDone) await this.firstView(this.o.timeoutMs);
    const target = this.nearTarget(key, true);
    if (target === undefined) return false;
    const { token, address, nearId: id } = target;
    if (this.batching(opts)) {
      return new Promise((resolve, reject) => this.enqueue({ kind: 'get', key, level: 0, resolve, reject, near: target }));
    }
    const req = keyRequest(key, 0);
    let res: GetResponse__Output;
    try {
      res = await this.call<GetResponse__Output>(
        {
          method: 'Get',
          key,
          read: true,
          address,
          invoke: (c, md, o, cb) => {
            md.set(NEAR_STREAM_HEADER, id);
            c.cache.Get(req, md, o, cb);
          },
        },
        { timeoutMs: opts.timeoutMs, retries: 0 },
      );
    } catch (e) {
      near.abandon(key, token);
      if (e instanceof CacheClientError && e.code === 'NOT_FOUND') return undefined;
      // only what another node or a retry may not meet is read again the usual way
      if (e instanceof CacheClientError && !isRetryable(grpc.status[e.code], true)) throw e;
      return false;
    }
    const r = getResult(res);
    near.install(key, token, r, r.version, r.ttlRemainingMs, Date.now());
    return r;
  }

  /** Opens the Invalidations stream to a node (at most once per NEAR_REOPEN_GAP_MS). */
  private openNearStream(address: string): void {
    const near = this.near!;
    if (this.closed || this.nearStreams.has(address)) return;
    const now = Date.now();
    if (now - (this.nearOpenedAt.get(address) ?? 0) < NEAR_REOPEN_GAP_MS) return;
    this.nearOpenedAt.set(address, now);
    const conn = this.conns.get(address);
    const stream = conn.cache.Invalidations({}, conn.metadata());
    this.nearStreams.set(address, stream);
    let opened = false;
    stream.on('data', (m: Invalidation__Output) => {
      const seq = Number(m.seq);
      if (!opened) {
        opened = seq === 1 && m.stream_id !== '';
        if (opened) near.open(address, m.stream_id);
        else stream.cancel();
        return;
      }
      near.message(address, seq, m.keys, m.all);
    });
    let gone = false;
    const ended = () => {
      // once per stream ('error' / 'end' and then 'close'): a late event must not touch the next stream
      if (gone) return;
      gone = true;
      if (this.nearStreams.get(address) === stream) this.nearStreams.delete(address);
      if (opened) near.lost(address);
    };
    stream.on('error', ended);
    stream.on('end', ended);
    stream.on('close', ended);
  }

  /**
   * Calls `listener` with every change of a key starting with `prefix` ('' = every key) on the
   * cluster: one CacheService/Watch stream per member, duplicates (the same key, kind and
   * version from several replicas) dropped. When a stream to a node is lost the listener gets
   * `{ type: 'gap', address }` (that node's events in between may be missing) and the stream is
   * opened again by itself. Changes are reported as each replica applies them, so their order
   * across keys is not the order of the writes. `close()` on the result ends it.
   */
  watch(prefix: string, listener: (e: WatchEvent) => void): Watch {
    if (typeof prefix !== 'string') throw invalidArgument('prefix must be a string', 'Watch');
    if (typeof listener !== 'function') throw invalidArgument('listener must be a function', 'Watch');
    if (this.closed) throw closedError('Watch');
    const session = new WatchSession(
      {
        open: (address) => {
          const conn = this.conns.get(address);
          return conn.cache.Watch({ prefix }, conn.metadata());
        },
        addresses: () => (this.view ? this.view.addresses() : this.o.seeds),
      },
      listener,
      (w) => this.watches.delete(w),
    );
    this.watches.add(session);
    this.startTimer();
    if (this.view || !this.o.routing) session.sync();
    else
      void this.refresh().then(
        () => session.sync(),
        () => session.sync(),
      );
    return session;
  }

  /** Counters of the near cache (undefined when it is off). */
  nearCacheStats(): NearCacheStats | undefined {
    return this.near?.stats();
  }

  /** A near-cache read or kept write of key in flight: a get of the key meanwhile waits for it (see get). */
  private inFlight(key: string, p: Promise<unknown>): void {
    const settled = p.then(
      () => undefined,
      () => undefined,
    );
    this.nearReads.set(key, settled);
    void settled.then(() => {
      if (this.nearReads.get(key) === settled) this.nearReads.delete(key);
    });
  }

  /**
   * A write the near cache may keep: when the key's first choice is one of its replicas and the
   * stream to it is usable, the key is reserved and the write goes there only (in an MSet
   * naming the stream: the node untracks the key for us while we write it and tracks it again
   * if it still holds our write once it is acknowledged); the value is installed when the write
   * is answered, unless an invalidation came in between. undefined: write the usual way (also
   * before the client has its first view of the ring).
   */
  private nearWrite(key: string): NearTarget | undefined {
    if (this.o.routing && !this.view) return undefined;
    return this.nearTarget(key, false);
  }

  /**
   * Where a near-cache read or write of key goes: its first choice, if that is one of its
   * replicas and the stream to it is usable; the key is then reserved. undefined otherwise
   * (with `open`, a missing stream is opened for later calls).
   */
  private nearTarget(key: string, open: boolean): NearTarget | undefined {
    const near = this.near!;
    const first = this.route(key)[0];
    if (first === undefined || !first.replica) return undefined;
    const nearId = near.streamId(first.address);
    if (nearId === undefined) {
      if (open) this.openNearStream(first.address);
      return undefined;
    }
    return { token: near.reserve(key, first.address), address: first.address, nearId };
  }

  /** reject, after dropping key from the near cache (a kept write failed: it may or may not have been applied). */
  private dropping(key: string, reject: (e: unknown) => void): (e: unknown) => void {
    return (e) => {
      this.near?.invalidate(key);
      reject(e);
    };
  }

  /** This client writes keys: its near cache drops them now and once the write is answered. */
  private writing<T>(keys: string | readonly (string | { key: string })[], p: Promise<T>): Promise<T> {
    const near = this.near;
    if (near === undefined) return p;
    const drop = () => {
      if (typeof keys === 'string') near.invalidate(keys);
      else for (const k of keys) near.invalidate(typeof k === 'string' ? k : k.key);
    };
    drop();
    return p.finally(drop);
  }

  /** One Get call (with retries and failover). */
  private async getOne(key: string, level: Consistency__Output, opts: ReadOptions): Promise<GetResult | undefined> {
    const req = keyRequest(key, level);
    let res: GetResponse__Output;
    try {
      res = await this.call<GetResponse__Output>(
        { method: 'Get', key, read: true, invoke: (c, md, o, cb) => c.cache.Get(req, md, o, cb) },
        opts,
      );
    } catch (e) {
      if (e instanceof CacheClientError && e.code === 'NOT_FOUND') return undefined;
      throw e;
    }
    return getResult(res);
  }

  /**
   * Auto-batching: the calls queued in this turn, grouped by the node each would have gone to,
   * by kind and by consistency. A group of one is a plain call; a larger group is one MGet,
   * MSet or MDelete to that node, each caller getting its own key's result. A key the batch
   * could not serve there (UNAVAILABLE; for gets also DEADLINE_EXCEEDED), or a batch that
   * failed as a whole that way, falls back to plain calls with their retries and failover.
   * Sets of one key in one turn keep their order (the batch writes the last); as with any
   * concurrent calls, a set and a delete of one key in the same turn are not ordered.
   * Pipelining (ClientOptions.maxInFlight, rule in pipeline.ts): while that many of this
   * client's auto-batched calls to a node are outstanding, a turn's calls for it wait, and
   * the first answer from the node sends everything waiting at once, batched the same way.
   */
  private async sendQueued(): Promise<void> {
    const queued = this.queued;
    this.queued = [];
    if (this.o.routing && !this.view && !this.firstRefreshDone) await this.firstView(this.o.timeoutMs);
    const byAddress = new Map<string, Queued[]>();
    for (const q of queued) {
      const nq = q.kind === 'del' ? undefined : q.near;
      const address = nq ? nq.address : this.route(q.key)[0]!.address;
      const list = byAddress.get(address);
      if (list) list.push(q);
      else byAddress.set(address, [q]);
    }
    for (const [address, list] of byAddress) {
      if (this.closed) for (const q of list) this.failClosed(q);
      else if (this.pipeline.admit(address, list)) this.dispatch(address, list);
    }
  }

  /**
   * Sends calls for one address now: grouped by kind, consistency and near-cache stream, at most
   * AUTO_BATCH_MAX_KEYS keys per call; each call counts as outstanding to the address until it is
   * answered (a lone call: until it settles, retries included), and its answer sends what waits
   * for the address meanwhile (see pipeline.ts).
   */
  private dispatch(address: string, calls: Queued[]): void {
    const groups = new Map<string, Queued[]>();
    for (const q of calls) {
      const nq = q.kind === 'del' ? undefined : q.near;
      const id = nq ? `near ${q.kind} ${q.level} ${nq.nearId}` : `${q.kind} ${q.level}`;
      const g = groups.get(id);
      if (g) g.push(q);
      else groups.set(id, [q]);
    }
    for (const group of groups.values()) {
      for (let i = 0; i < group.length; i += AUTO_BATCH_MAX_KEYS) {
        const part = group.length <= AUTO_BATCH_MAX_KEYS ? group : group.slice(i, i + AUTO_BATCH_MAX_KEYS);
        const kind = part[0]!.kind;
        let sent: Promise<void>;
        if (kind === 'get' && part[0]!.near) sent = this.sendGets(address, part as QueuedOf<'get'>[]);
        else if (kind === 'set' && part[0]!.near) sent = this.sendSets(address, part as QueuedOf<'set'>[]);
        else if (part.length === 1) sent = this.sendOne(part[0]!);
        else if (kind === 'get') sent = this.sendGets(address, part as QueuedOf<'get'>[]);
        else if (kind === 'set') sent = this.sendSets(address, part as QueuedOf<'set'>[]);
        else sent = this.sendDeletes(address, part as QueuedOf<'del'>[]);
        this.pipeline.started(address);
        const done = () => this.answered(address);
        void sent.then(done, done);
      }
    }
  }

  /** An outstanding auto-batched call to address was answered: what waits for it goes now. */
  private answered(address: string): void {
    const waiting = this.pipeline.answered(address);
    if (waiting.length === 0) return;
    if (this.closed) for (const q of waiting) this.failClosed(q);
    else this.dispatch(address, waiting);
  }

  /** A queued call that will not be sent (the client closed): CANCELLED, its near-cache reservation freed. */
  private failClosed(q: Queued): void {
    if (q.kind === 'get' && q.near) this.near?.abandon(q.key, q.near.token);
    q.reject(closedError(q.kind === 'get' ? 'Get' : q.kind === 'set' ? 'Set' : 'Delete'));
  }

  /** A queued call made on its own (with the usual retries and failover); settles (never rejects) when its caller is answered. */
  private sendOne(q: Queued): Promise<void> {
    let p: Promise<unknown>;
    if (q.kind === 'get') {
      // a near-cache miss read another way is not cached (no node tracks it for us)
      if (q.near) this.near?.abandon(q.key, q.near.token);
      p = this.getOne(q.key, q.level, {}).then(q.resolve, q.reject);
    } else if (q.kind === 'set') {
      // a near-cache write sent another way is not kept (no node tracks it for us): writing() drops the key
      const w = this.setOne(q.key, setRequest(q.entry, q.level), {});
      p = (q.near ? this.writing(q.key, w) : w).then(q.resolve, q.reject);
    } else p = this.deleteOne(q.key, q.level, {}).then(q.resolve, q.reject);
    return p.then(
      () => undefined,
      () => undefined,
    );
  }

  /**
   * Sends one batch call for a group; per key, `settle` turns the key's result into its
   * caller's answer. A failure of the whole call that another node or a retry may not have
   * (UNAVAILABLE, DEADLINE_EXCEEDED for reads, UNIMPLEMENTED from an older node) sends the
   * group's calls on their own; another one fails every caller of the group.
   */
  private async sendBatch<Q extends Queued, R extends { error: KeyError__Output | null }>(
    method: 'MGet' | 'MSet' | 'MDelete',
    address: string,
    group: Q[],
    invoke: CallSpec<{ results: R[] }>['invoke'],
    settle: (q: Q, r: R) => void,
  ): Promise<void> {
    const read = method === 'MGet';
    const single = method === 'MGet' ? 'Get' : method === 'MSet' ? 'Set' : 'Delete';
    let res: { results: R[] };
    try {
      res = await this.call<{ results: R[] }>({ method, read, address, invoke }, { retries: 0 });
    } catch (e) {
      const code = e instanceof CacheClientError ? e.code : undefined;
      if (code === 'UNAVAILABLE' || code === 'UNIMPLEMENTED' || (read && code === 'DEADLINE_EXCEEDED')) {
        for (const q of group) void this.sendOne(q);
      } else for (const q of group) q.reject(e);
      return;
    }
    group.forEach((q, i) => {
      const r = res.results[i];
      if (!r) {
        const why = `${method} answered ${res.results.length} results for ${group.length} keys`;
        q.reject(new CacheClientError('INTERNAL', why, { method: single, address, attempts: 1 }));
      } else if (r.error) {
        const code = r.error.code;
        if (isRetryable(code, read)) void this.sendOne(q);
        else q.reject(new CacheClientError(code, r.error.message, { method: single, address, attempts: 1 }));
      } else settle(q, r);
    });
  }

  /** An MGet of a group of gets; near-cache misses (one stream's) name it and install what they read. */
  private sendGets(address: string, group: QueuedOf<'get'>[]): Promise<void> {
    const req = { keys: group.map((q) => q.key), consistency: group[0]!.level };
    const nearId = group[0]!.near?.nearId;
    const near = this.near;
    return this.sendBatch<QueuedOf<'get'>, MGetResult__Output>(
      'MGet',
      address,
      group,
      (c, md, o, cb) => {
        if (nearId !== undefined) md.set(NEAR_STREAM_HEADER, nearId);
        c.cache.MGet(req, md, o, cb);
      },
      (q, r) => {
        const res = r.found ? getResult(r) : undefined;
        if (q.near && near) {
          if (res) near.install(q.key, q.near.token, res, res.version, res.ttlRemainingMs, Date.now());
          else near.abandon(q.key, q.near.token);
        }
        q.resolve(res);
      },
    );
  }

  /** An MSet of a group of sets; near-cache writes (one stream's) name it and install what they wrote. */
  private sendSets(address: string, group: QueuedOf<'set'>[]): Promise<void> {
    const req = { entries: group.map((q) => q.entry), consistency: group[0]!.level };
    const nearId = group[0]!.near?.nearId;
    const near = this.near;
    return this.sendBatch<QueuedOf<'set'>, MSetResult__Output>(
      'MSet',
      address,
      group,
      (c, md, o, cb) => {
        if (nearId !== undefined) md.set(NEAR_STREAM_HEADER, nearId);
        c.cache.MSet(req, md, o, cb);
      },
      (q, r) => {
        const version = BigInt(r.version);
        // a superseded entry's value was not written (a later one of the call, with this version, was)
        if (q.near && near && !r.superseded) {
          const ttl = Number(q.entry.ttl_ms ?? 0);
          const value = q.entry.data !== undefined ? Buffer.from(q.entry.data) : (q.entry.value ?? '');
          near.written(q.key, q.near.token, { value, version, ttlRemainingMs: ttl }, version, ttl, Date.now());
        }
        q.resolve({ version });
      },
    );
  }

  private sendDeletes(address: string, group: QueuedOf<'del'>[]): Promise<void> {
    const req = { keys: group.map((q) => q.key), consistency: group[0]!.level };
    return this.sendBatch<QueuedOf<'del'>, MDeleteResult__Output>(
      'MDelete',
      address,
      group,
      (c, md, o, cb) => c.cache.MDelete(req, md, o, cb),
      (q, r) => q.resolve(r.deleted),
    );
  }

  /** The value as text (a binary value is decoded as UTF-8); undefined if missing. */
  async getString(key: string, opts?: ReadOptions): Promise<string | undefined> {
    const r = await this.get(key, opts);
    if (r === undefined) return undefined;
    return typeof r.value === 'string' ? r.value : r.value.toString('utf8');
  }

  /** The value as bytes (a text value is encoded as UTF-8); undefined if missing. */
  async getBuffer(key: string, opts?: ReadOptions): Promise<Buffer | undefined> {
    const r = await this.get(key, opts);
    if (r === undefined) return undefined;
    return typeof r.value === 'string' ? Buffer.from(r.value, 'utf8') : r.value;
  }

  /** Writes a value: a string is stored as text, a Buffer / Uint8Array as bytes. */
  async set(key: string, value: string | Uint8Array, opts: SetOptions = {}): Promise<SetResult> {
    checkKey(key, 'Set');
    const level = consistencyNumber(opts.consistency, 'Set');
    const entry: MSetEntry = { key };
    if (typeof value === 'string') entry.value = value;
    else if (value instanceof Uint8Array)
      entry.data = Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
    else throw invalidArgument(`value must be a string, Buffer or Uint8Array, got ${describe(value)}`, 'Set');
    const ttl = checkTtl(opts.ttlMs, 'Set');
    if (ttl > 0) entry.ttl_ms = String(ttl);
    if (this.batching(opts)) {
      const near = this.near !== undefined ? this.nearWrite(key) : undefined;
      if (near !== undefined) {
        const w = new Promise<SetResult>((resolve, reject) =>
          this.enqueue({ kind: 'set', key, level, entry, resolve, reject: this.dropping(key, reject), near }),
        );
        // a get of the key meanwhile waits for this write and answers what it kept (see get)
        this.inFlight(key, w);
        return w;
      }
      return this.writing(key, new Promise((resolve, reject) => this.enqueue({ kind: 'set', key, level, entry, resolve, reject })));
    }
    return this.writing(key, this.setOne(key, setRequest(entry, level), opts));
  }

  /** One Set call (with retries and failover). */
  private async setOne(key: string, req: SetRequest, opts: WriteOptions): Promise<SetResult> {
    const res = await this.call<SetResponse__Output>(
      { method: 'Set', key, read: false, invoke: (c, md, o, cb) => c.cache.Set(req, md, o, cb) },
      opts,
    );
    return { version: BigInt(res.version) };
  }

  /**
   * The key's value, loaded at most once cluster-wide when it is missing: concurrent calls for
   * a key in this process share one attempt (the first call's options apply), which asks the
   * cluster (GetOrLease). A hit is answered at once. On a miss one caller cluster-wide gets
   * the key's lease: it runs `loader`, writes the value with the lease token (refused if the
   * key was written in between: the loaded value is still handed back, with no version) and
   * hands it to every caller waiting here. The others poll with backoff until the value lands
   * (or, with `staleMs`, take a value that expired at most that long ago) or `maxWaitMs`
   * passes (DEADLINE_EXCEEDED). A loader error is thrown to every caller waiting here and the
   * lease is given back (ReleaseLease; failing that, it expires after `leaseMs`).
   * Leases shed load, they are no lock: a lease lost with its node is granted again.
   */
  getOrLoad(key: string, loader: Loader, opts: GetOrLoadOptions = {}): Promise<GetOrLoadResult> {
    if (typeof key !== 'string') return Promise.reject(invalidArgument(`key must be a string, got ${describe(key)}`, 'GetOrLoad'));
    if (typeof loader !== 'function')
      return Promise.reject(invalidArgument(`loader must be a function, got ${describe(loader)}`, 'GetOrLoad'));
    const running = this.loading.get(key);
    if (running) return running;
    const p = this.loadOnce(key, loader, opts).finally(() => this.loading.delete(key));
    this.loading.set(key, p);
    return p;
  }

  private async loadOnce(key: string, loader: Loader, opts: GetOrLoadOptions): Promise<GetOrLoadResult> {
    const level = consistencyNumber(opts.consistency, 'GetOrLoad');
    const ttl = checkTtl(opts.ttlMs, 'GetOrLoad');
    const leaseMs = opts.leaseMs ?? DEFAULT_LEASE_MS;
    if (!Number.isSafeInteger(leaseMs) || leaseMs < 1)
      throw invalidArgument(`leaseMs must be a positive integer, got ${leaseMs}`, 'GetOrLoad');
    const staleMs = opts.staleMs ?? 0;
    const maxWaitMs = opts.maxWaitMs ?? leaseMs + (opts.timeoutMs ?? this.o.timeoutMs);
    const call = { timeoutMs: opts.timeoutMs, retries: opts.retries };
    const deadline = Date.now() + maxWaitMs;
    const req = { key, lease_ms: String(leaseMs), consistency: level };
    for (let poll = 0; ; poll++) {
      const res = await this.call<GetOrLeaseResponse__Output>(
        { method: 'GetOrLease', key, read: false, invoke: (c, md, o, cb) => c.cache.GetOrLease(req, md, o, cb) },
        call,
      );
      const found = res.payload === 'data' ? (res.data ?? Buffer.alloc(0)) : (res.value ?? '');
      if (res.found) return { value: found, version: BigInt(res.version), source: 'cache' };
      if (res.lease_token) {
        let loaded: string | Uint8Array;
        try {
          loaded = await loader();
        } catch (e) {
          // give the lease back, so that the next caller loads without waiting for it to expire
          const release = { key, lease_token: res.lease_token };
          await this.call(
            { method: 'ReleaseLease', key, read: false, invoke: (c, md, o, cb) => c.cache.ReleaseLease(release, md, o, cb) },
            call,
          ).catch(() => undefined);
          throw e;
        }
        let value: string | Buffer;
        if (typeof loaded === 'string') value = loaded;
        else if (loaded instanceof Uint8Array) value = Buffer.from(loaded.buffer, loaded.byteOffset, loaded.byteLength);
        else throw invalidArgument(`the loader must return a string, Buffer or Uint8Array, got ${describe(loaded)}`, 'GetOrLoad');
        const entry: MSetEntry = typeof value === 'string' ? { key, value } : { key, data: value };
        if (ttl > 0) entry.ttl_ms = String(ttl);
        try {
          const set = await this.writing(key, this.setOne(key, { ...setRequest(entry, level), lease_token: res.lease_token }, call));
          return { value, version: set.version, source: 'loader' };
        } catch (e) {
          if (e instanceof CacheClientError && e.code === 'FAILED_PRECONDITION') return { value, version: undefined, source: 'loader' };
          throw e;
        }
      }
      if (res.stale && staleMs > 0 && Number(res.stale_age_ms) <= staleMs)
        return { value: found, version: BigInt(res.version), source: 'stale' };
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new CacheClientError(
          'DEADLINE_EXCEEDED',
          `no value for ${JSON.stringify(key)} within ${maxWaitMs}ms: another caller holds its lease`,
          {
            method: 'GetOrLoad',
            attempts: poll + 1,
          },
        );
      }
      await sleep(Math.max(1, Math.min(left, Number(res.wait_ms) || Infinity, backoffDelay(poll, LEASE_POLL))));
    }
  }

  /** Deletes a key; true if a live value was deleted. */
  async delete(key: string, opts: WriteOptions = {}): Promise<boolean> {
    checkKey(key, 'Delete');
    const level = consistencyNumber(opts.consistency, 'Delete');
    if (this.batching(opts))
      return this.writing(key, new Promise((resolve, reject) => this.enqueue({ kind: 'del', key, level, resolve, reject })));
    return this.writing(key, this.deleteOne(key, level, opts));
  }

  /** One Delete call (with retries and failover). */
  private async deleteOne(key: string, level: Consistency__Output, opts: WriteOptions): Promise<boolean> {
    const req = keyRequest(key, level);
    const res = await this.call<DeleteResponse__Output>(
      { method: 'Delete', key, read: false, invoke: (c, md, o, cb) => c.cache.Delete(req, md, o, cb) },
      opts,
    );
    return res.deleted;
  }

  // ---- batches ----

  /**
   * Reads many keys in one call: one result per key, in order. A key's own failure (invalid,
   * quorum not reached) is in its `error`; the promise rejects only when the whole call fails.
   */
  async mget(keys: readonly string[], opts: ReadOptions = {}): Promise<BatchGetResult[]> {
    checkKeys(keys, 'MGet');
    const req = { keys: [...keys], consistency: consistencyNumber(opts.consistency, 'MGet') };
    const res = await this.call<MGetResponse__Output>(
      { method: 'MGet', read: true, invoke: (c, md, o, cb) => c.cache.MGet(req, md, o, cb) },
      opts,
    );
    return res.results.map((r) => ({
      key: r.key,
      found: r.found,
      value: r.found ? (r.payload === 'data' ? (r.data ?? Buffer.alloc(0)) : (r.value ?? '')) : undefined,
      version: r.found ? BigInt(r.version) : undefined,
      ttlRemainingMs: Number(r.ttl_remaining_ms),
      error: keyError(r.error),
    }));
  }

  /** Writes many keys in one call; a key given twice: the last entry is written, the earlier ones are `superseded`. */
  async mset(entries: readonly BatchSetEntry[], opts: WriteOptions = {}): Promise<BatchWriteResult[]> {
    if (!Array.isArray(entries)) throw invalidArgument('entries must be an array of { key, value, ttlMs? }', 'MSet');
    const wire = entries.map((e, i) => {
      if (e === null || typeof e !== 'object') throw invalidArgument(`entries[${i}] must be { key, value, ttlMs? }`, 'MSet');
      checkKey(e.key, 'MSet');
      const w: MSetEntry = { key: e.key };
      if (typeof e.value === 'string') w.value = e.value;
      else if (e.value instanceof Uint8Array)
        w.data = Buffer.isBuffer(e.value) ? e.value : Buffer.from(e.value.buffer, e.value.byteOffset, e.value.byteLength);
      else throw invalidArgument(`entries[${i}].value must be a string, Buffer or Uint8Array, got ${describe(e.value)}`, 'MSet');
      const ttl = checkTtl(e.ttlMs, 'MSet');
      if (ttl > 0) w.ttl_ms = String(ttl);
      return w;
    });
    const req = { entries: wire, consistency: consistencyNumber(opts.consistency, 'MSet') };
    const res = await this.writing(
      entries,
      this.call<MSetResponse__Output>({ method: 'MSet', read: false, invoke: (c, md, o, cb) => c.cache.MSet(req, md, o, cb) }, opts),
    );
    return res.results.map((r) => ({
      key: r.key,
      version: r.error ? undefined : BigInt(r.version),
      superseded: r.superseded,
      error: keyError(r.error),
    }));
  }

  /** Deletes many keys in one call; `deleted` says whether a live value was. */
  async mdelete(keys: readonly string[], opts: WriteOptions = {}): Promise<BatchDeleteResult[]> {
    checkKeys(keys, 'MDelete');
    const req = { keys: [...keys], consistency: consistencyNumber(opts.consistency, 'MDelete') };
    const res = await this.writing(
      keys,
      this.call<MDeleteResponse__Output>(
        { method: 'MDelete', read: false, invoke: (c, md, o, cb) => c.cache.MDelete(req, md, o, cb) },
        opts,
      ),
    );
    return res.results.map((r) => ({
      key: r.key,
      deleted: r.deleted,
      version: r.error ? undefined : BigInt(r.version),
      error: keyError(r.error),
    }));
  }

  // ---- cluster ----

  /** The membership as a node sees it (any reachable seed or member, or `opts.address`). Also refreshes the client's ring. */
  async members(opts: MembersOptions = {}): Promise<MembersResult> {
    if (opts.address !== undefined) checkAddress(opts.address, 'Members');
    const res = await this.call<MembersResponse__Output>(
      { method: 'Members', read: true, address: opts.address, invoke: (c, md, o, cb) => c.cluster.Members({}, md, o, cb) },
      opts,
    );
    this.applyMembers(res);
    return {
      members: res.members.map((m) => ({
        nodeId: m.node_id,
        address: m.address,
        state: MEMBER_STATES[m.state] ?? 'unspecified',
        stateCode: m.state,
        incarnation: BigInt(m.incarnation),
        clockOffsetMs: Number(m.clock_offset_ms),
      })),
      ringVersion: res.ring_version,
      self: res.self,
      replicationFactor: res.replication_factor,
      vnodes: res.vnodes,
    };
  }

  /** Counters of the node at `address` (host:port), or of any reachable seed or member. */
  async stats(address?: string, opts: CallOptions = {}): Promise<NodeStats> {
    if (address !== undefined) checkAddress(address, 'Stats');
    const r = await this.call<StatsResponse__Output>(
      { method: 'Stats', read: true, address, invoke: (c, md, o, cb) => c.cluster.Stats({}, md, o, cb) },
      opts,
    );
    return {
      nodeId: r.node_id,
      items: Number(r.items),
      tombstones: Number(r.tombstones),
      bytes: Number(r.bytes),
      hits: Number(r.hits),
      misses: Number(r.misses),
      evictions: Number(r.evictions),
      expirations: Number(r.expirations),
      hintsPending: Number(r.hints_pending),
      hintsDelivered: Number(r.hints_delivered),
      readRepairs: Number(r.read_repairs),
      quorumFailures: Number(r.quorum_failures),
      antiEntropyLastMs: Number(r.anti_entropy_last_ms),
      antiEntropyRounds: Number(r.anti_entropy_rounds),
      antiEntropyKeysRepaired: Number(r.anti_entropy_keys_repaired),
      ringVersion: r.ring_version,
      uptimeMs: Number(r.uptime_ms),
      merkleRoot: r.merkle_root,
      rebalanceKeysSent: Number(r.rebalance_keys_sent),
      hintsDropped: Number(r.hints_dropped),
      flushVersion: BigInt(r.flush_version),
      flushMarks: Number(r.flush_marks),
      flushed: Number(r.flushed),
      clockFenced: r.clock_fenced,
      maxClockOffsetMs: Number(r.max_clock_offset_ms),
      hotKeys: r.hot_keys.map((h) => ({ key: h.key, count: Number(h.count), error: Number(h.error) })),
      compressedItems: Number(r.compressed_items),
      compressionSavedBytes: Number(r.compression_saved_bytes),
      compressionRatio: r.compression_ratio,
    };
  }

  /**
   * Removes every key written before this call (with `prefix`: every such key starting with
   * it) on every node; writes after it survive (an admin call). Nodes that were down learn it
   * when they are back, before they serve their old data again. Resolves with the flush's
   * version and the members that did not confirm it yet (`pending`: they get it by gossip).
   */
  async flush(opts: FlushOptions = {}): Promise<FlushResult> {
    const prefix = opts.prefix ?? '';
    if (typeof prefix !== 'string') throw invalidArgument('prefix must be a string', 'Flush');
    if (opts.address !== undefined) checkAddress(opts.address, 'Flush');
    const res = await this.call<FlushResponse__Output>(
      { method: 'Flush', read: false, address: opts.address, invoke: (c, md, o, cb) => c.cluster.Flush({ prefix }, md, o, cb) },
      opts,
    );
    this.near?.clear();
    return { version: BigInt(res.version), pending: res.pending };
  }

  /**
   * Takes a node off the ring (an admin call: a token with role admin when the nodes check
   * tokens). Without nodeId the node at `address` leaves itself and hands its keys on; with
   * one, the node at `address` (or any reachable node) marks that member as left.
   */
  async leave(nodeId?: string, opts: MembersOptions = {}): Promise<boolean> {
    if (nodeId !== undefined && (typeof nodeId !== 'string' || nodeId === ''))
      throw invalidArgument('nodeId must be a non-empty string', 'Leave');
    if (opts.address !== undefined) checkAddress(opts.address, 'Leave');
    if (nodeId === undefined && opts.address === undefined)
      throw invalidArgument('give the nodeId to remove, or the address of the node that should leave', 'Leave');
    const res = await this.call<LeaveResponse__Output>(
      {
        method: 'Leave',
        read: false,
        address: opts.address,
        invoke: (c, md, o, cb) => c.cluster.Leave({ node_id: nodeId ?? '' }, md, o, cb),
      },
      opts,
    );
    return res.ok;
  }

  // ---- routing ----

  /**
   * Fetches Members now and rebuilds the ring view. Resolves true if some node answered
   * (false if none did; the previous view, if any, is kept). Calls do this by themselves.
   */
  refresh(): Promise<boolean> {
    if (this.closed) return Promise.reject(closedError('Members'));
    this.startTimer();
    if (!this.refreshing) {
      this.lastRefreshStart = Date.now();
      this.refreshing = this.doRefresh().finally(() => {
        this.refreshing = undefined;
        this.firstRefreshDone = true;
      });
    }
    return this.refreshing;
  }

  /**
   * Where a call for `key` would go now, in the order addresses would be tried; `replica`
   * tells whether the client's ring places a replica of the key there. Diagnostic.
   */
  route(key: string): Candidate[] {
    return candidates(this.o.routing ? this.view : undefined, key, this.o.seeds, (a) => this.health(a));
  }

  /** Ring version of the client's current view (undefined before the first Members answer). */
  get ringVersion(): string | undefined {
    return this.view?.ringVersion;
  }

  /** Closes every channel and stops the refresh timer. Later calls fail with CANCELLED. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    for (const st of this.nearStreams.values()) st.cancel();
    for (const w of [...this.watches]) w.close();
    this.nearStreams.clear();
    for (const q of this.pipeline.drain()) this.failClosed(q);
    this.conns.close();
  }

  // ---- internals ----

  private async call<T>(spec: CallSpec<T>, opts: CallOptions): Promise<T> {
    if (this.closed) throw closedError(spec.method);
    const timeoutMs = opts.timeoutMs === undefined ? this.o.timeoutMs : checkTimeout(opts.timeoutMs);
    const retries = opts.retries === undefined ? this.o.retries : checkRetries(opts.retries);
    this.startTimer();
    if (spec.key !== undefined && spec.address === undefined && this.o.routing && !this.view && !this.firstRefreshDone) {
      await this.firstView(timeoutMs);
    }
    const tried = new Set<string>();
    for (let attempt = 1; ; attempt++) {
      if (this.closed) throw closedError(spec.method);
      let target: Candidate;
      if (spec.address !== undefined) {
        target = { address: spec.address, replica: false };
      } else {
        const list = candidates(this.o.routing ? this.view : undefined, spec.key, this.o.seeds, (a) => this.health(a));
        let next = list.find((c) => !tried.has(c.address));
        if (next === undefined) {
          tried.clear();
          next = list[0]!;
        }
        target = next;
      }
      tried.add(target.address);
      if (this.o.onAttempt) {
        try {
          this.o.onAttempt({ method: spec.method, key: spec.key, address: target.address, attempt, replica: target.replica });
        } catch {
          /* a diagnostic hook must not break calls */
        }
      }
      try {
        const res = await unary(this.conns.get(target.address), spec, timeoutMs);
        this.penalties.delete(target.address);
        return res;
      } catch (e) {
        const { code, details } = asStatus(e);
        if (this.closed) throw closedError(spec.method);
        if (code === grpc.status.UNAVAILABLE || code === grpc.status.DEADLINE_EXCEEDED) {
          // Down, leaving, or too slow: try it after the healthy addresses for a while.
          this.penalize(target.address);
          this.refreshSoon();
        }
        if (!isRetryable(code, spec.read) || attempt > retries) {
          throw new CacheClientError(code, details, { method: spec.method, address: target.address, attempts: attempt, cause: e });
        }
        await sleep(backoffDelay(attempt - 1, this.o.backoff));
      }
    }
  }

  /** Waits (at most timeoutMs) for the first Members answer, so that the first calls are routed too. */
  private async firstView(timeoutMs: number): Promise<void> {
    let t: NodeJS.Timeout | undefined;
    await Promise.race([
      this.refresh().catch(() => false),
      new Promise<void>((resolve) => {
        t = setTimeout(resolve, timeoutMs);
      }),
    ]);
    clearTimeout(t);
  }

  private async doRefresh(): Promise<boolean> {
    // Seeds first, then members; healthy addresses before troubled ones. One try each.
    for (const c of candidates(this.view, undefined, this.o.seeds, (a) => this.health(a))) {
      if (this.closed) return false;
      try {
        const res = await unary<MembersResponse__Output>(
          this.conns.get(c.address),
          { invoke: (conn, md, o, cb) => conn.cluster.Members({}, md, o, cb) },
          this.o.timeoutMs,
        );
        this.penalties.delete(c.address);
        this.applyMembers(res);
        return true;
      } catch (e) {
        if (asStatus(e).code === grpc.status.UNAVAILABLE) this.penalize(c.address);
      }
    }
    return false;
  }

  private applyMembers(res: MembersResponse__Output): void {
    if (this.closed) return;
    const v = RingView.from(res, this.view);
    if (!v) return;
    // another ring: a key's replicas may have moved, and the old ones no longer see its writes
    if (this.near !== undefined && this.view !== undefined && v.ring !== this.view.ring) this.near.clear();
    this.view = v;
    for (const w of this.watches) w.sync();
  }

  /** A refresh after an error, unless one is running or started very recently. */
  private refreshSoon(): void {
    if (!this.o.routing || this.closed || this.refreshing) return;
    if (Date.now() - this.lastRefreshStart < MIN_REFRESH_GAP_MS) return;
    this.refresh().catch(() => undefined);
  }

  private startTimer(): void {
    if (this.timer || this.closed || !this.o.routing || this.o.refreshIntervalMs === 0) return;
    this.timer = setInterval(() => {
      this.refresh().catch(() => undefined);
    }, this.o.refreshIntervalMs);
    this.timer.unref();
  }

  private penalize(address: string): void {
    if (this.o.penaltyMs > 0) this.penalties.set(address, Date.now() + this.o.penaltyMs);
  }

  private health(address: string): Rank {
    const until = this.penalties.get(address);
    if (until !== undefined) {
      if (until > Date.now()) return 2;
      this.penalties.delete(address);
    }
    return this.conns.state(address) === TRANSIENT_FAILURE ? 2 : 0;
  }
}

function unary<T>(conn: Connection, spec: Pick<CallSpec<T>, 'invoke'>, timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + timeoutMs;
    // The absolute deadline too: a request held up in the network past it is refused by
    // the node instead of being applied late (grpc-timeout is relative to its arrival).
    const md = conn.metadata();
    md.set(DEADLINE_HEADER, String(deadline));
    spec.invoke(conn, md, { deadline }, (err, res) => (err || res === undefined ? reject(err) : resolve(res)));
  });
}

/** A Get answer, or an MGet result that was found, as the client hands it out. */
function getResult(res: Pick<GetResponse__Output, 'payload' | 'data' | 'value' | 'version' | 'ttl_remaining_ms'>): GetResult {
  return {
    value: res.payload === 'data' ? (res.data ?? Buffer.alloc(0)) : (res.value ?? ''),
    version: BigInt(res.version),
    ttlRemainingMs: Number(res.ttl_remaining_ms),
  };
}

function asStatus(e: unknown): { code: number; details: string } {
  const s = e as Partial<grpc.ServiceError>;
  if (typeof s?.code === 'number') return { code: s.code, details: s.details || s.message || '' };
  return { code: grpc.status.UNKNOWN, details: e instanceof Error ? e.message : String(e) };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function closedError(method: string): CacheClientError {
  return new CacheClientError('CANCELLED', 'the client is closed', { method, attempts: 0 });
}

/** { key, consistency } without the default (0), which proto3 need not send. */
function keyRequest(key: string, consistency: Consistency__Output): GetRequest {
  return consistency === 0 ? { key } : { key, consistency };
}

/** A Set of an MSet entry (the default consistency is not sent, as in keyRequest). */
function setRequest(entry: MSetEntry, consistency: Consistency__Output): SetRequest {
  return consistency === 0 ? entry : { ...entry, consistency };
}

function checkKeys(keys: unknown, method: string): void {
  if (!Array.isArray(keys)) throw invalidArgument(`keys must be an array of strings, got ${describe(keys)}`, method);
  for (const k of keys) checkKey(k, method);
}

function keyError(e: KeyError__Output | null): KeyFailure | undefined {
  return e ? { code: grpc.status[e.code] ?? String(e.code), message: e.message } : undefined;
}

function checkKey(key: unknown, method: string): void {
  if (typeof key !== 'string') throw invalidArgument(`key must be a string, got ${describe(key)}`, method);
}

function checkAddress(address: unknown, method: string): void {
  if (typeof address !== 'string' || !isAddress(address))
    throw invalidArgument(`address ${JSON.stringify(address)} is not host:port`, method);
}

function describe(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v;
}
