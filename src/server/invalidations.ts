/**
 * CacheService/Invalidations: the node's side of client near caches (the adapter around
 * src/tracking/table.ts). Each open stream is one tracked client; a Get carrying the stream's id
 * in the `x-near-stream` header tracks its key for it (before the read, so that a write applied
 * after the read began is always pushed). The store (src/store/changes.ts) is observed
 * only while a stream is open, and each stream gets at most one message per event-loop turn
 * with the keys that changed, numbered 1, 2, 3, ... (`seq`) so that the client sees a gap.
 */
import { randomBytes } from 'node:crypto';
import type * as grpc from '@grpc/grpc-js';
import type { Invalidation } from '../protos/generated/public/cache/v1/Invalidation.js';
import type { InvalidationsRequest__Output } from '../protos/generated/public/cache/v1/InvalidationsRequest.js';
import { CHANGE_FLUSH, type ChangeHook } from '../store/changes.js';
import { NEAR_STREAM_HEADER, type TrackedClient, type TrackingStats, TrackingTable, type WriteOutcome } from '../tracking/table.js';
import { ServerStreams } from './streams.js';

/** A stream with more unsent messages than this is ended (RESOURCE_EXHAUSTED): its client clears and reconnects. */
const MAX_BUFFERED_MESSAGES = 10_000;

type Stream = grpc.ServerWritableStream<InvalidationsRequest__Output, Invalidation>;

export interface NearOptions {
  maxKeysPerClient: number;
  /** Whether this node replicates key (only then does it see every write of it). */
  isReplica: (key: string) => boolean;
  /**
   * Whether this node's live entry of key is the write of version wall.logical it coordinated,
   * with an expiry the writer knows of (its own TTL, `ttlGiven`, or none: not the node's default TTL).
   */
  holds: (key: string, wall: number, logical: number, ttlGiven: boolean) => boolean;
  /** Called when the first stream opens and when the last one closes (the store is observed while one is open). */
  activeChanged: () => void;
}

export class NearTracking {
  private readonly table: TrackingTable;
  private readonly streams: ServerStreams<Stream, Invalidation, TrackedClient>;
  /** Each tracked client's call and the seq of the last message sent on it. */
  private readonly calls = new Map<TrackedClient, { call: Stream; seq: number }>();
  private dirty: TrackedClient[] = [];
  /** Messages sent (metrics). */
  messages = 0;

  constructor(private readonly o: NearOptions) {
    this.streams = new ServerStreams(MAX_BUFFERED_MESSAGES, 'invalidations not read fast enough', o.activeChanged, (c) => {
      this.calls.delete(c);
      this.table.close(c);
    });
    this.table = new TrackingTable(o.maxKeysPerClient, (c) => {
      this.dirty.push(c);
      if (this.dirty.length === 1) setImmediate(() => this.send());
    });
  }

  /** True while some client has a stream open (the Get handler tracks only then). */
  get active(): boolean {
    return this.table.active;
  }

  stats(): TrackingStats {
    return this.table.stats();
  }

  /** To be told of every change of the store's entries while streams are open (the store observed). */
  readonly changed: ChangeHook = (kind, key) => {
    if (kind === CHANGE_FLUSH) this.table.changedPrefix(key);
    else this.table.changed(key);
  };

  /** The open stream a call's header names, if any (Get, MGet). */
  clientOf(md: grpc.Metadata): TrackedClient | undefined {
    const v = md.get(NEAR_STREAM_HEADER);
    return v.length === 0 ? undefined : this.table.client(String(v[0]));
  }

  /** Tracks key for the client before it is read (a key this node does not replicate is invalidated at once instead). */
  track(c: TrackedClient, key: string): void {
    if (this.o.isReplica(key)) this.table.track(c, key);
    else this.table.refuse(c, key);
  }

  /**
   * The client is writing key through this node (MSet naming its stream) and will keep the
   * value it wrote once the write is answered: its own write must not invalidate it, so the
   * key is untracked for it now, and tracked again by written() when its writes of the key
   * through this node are all answered.
   */
  writing(c: TrackedClient, key: string): void {
    this.table.writing(c, key);
  }

  /**
   * One of the client's writes of key is done: acknowledged (`outcome`, its version and whether
   * the client gave a TTL) or failed (undefined). Once none of its writes of the key is in
   * flight, the key is tracked for it if this node replicates it and still holds the newest of
   * those writes with an expiry the client knows (its own TTL, or none: not the node's default
   * TTL, which the client does not know); otherwise (one failed, a newer write came in between,
   * the node does not replicate the key, the node gave it its default TTL) invalidated at once.
   */
  written(c: TrackedClient, key: string, outcome: WriteOutcome | undefined): void {
    const w = this.table.written(c, key, outcome);
    if (w === undefined || !c.open) return;
    if (w !== null && this.o.isReplica(key) && this.o.holds(key, w.wall, w.logical, w.ttlGiven)) this.table.track(c, key);
    else this.table.refuse(c, key);
  }

  /** The node's ring changed: every client drops what it read here. */
  ringChanged(): void {
    this.table.invalidateAll();
  }

  readonly handler: grpc.handleServerStreamingCall<InvalidationsRequest__Output, Invalidation> = (call) => {
    const c = this.table.open(randomBytes(12).toString('base64url'));
    if (!this.streams.open(call, c)) {
      this.table.close(c);
      return;
    }
    this.calls.set(c, { call, seq: 1 });
    call.write({ seq: 1, stream_id: c.id });
  };

  /** Ends every stream (graceful stop): their clients clear what they read here. */
  close(): void {
    this.streams.close();
  }

  private send(): void {
    const dirty = this.dirty;
    this.dirty = [];
    for (const c of dirty) {
      const s = this.calls.get(c);
      if (s === undefined) continue;
      const { keys, all } = this.table.take(c);
      if (keys.length === 0 && !all) continue;
      s.seq++;
      this.messages++;
      this.streams.write(s.call, { seq: s.seq, keys, all });
    }
  }
}
