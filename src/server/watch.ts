/**
 * CacheService/Watch: each stream receives the changes of this node's entries whose key starts
 * with its prefix (the store observed, src/store/changes.ts), as they happen, one message
 * per change. Entries dropped after a hand-off are not changes of the key (it moved) and are
 * not reported; a flush is reported to every stream whose prefix it overlaps. Nothing is kept
 * for a stream that is not open: its client says that events may have been missed.
 */
import * as grpc from '@grpc/grpc-js';
import type { ChangeEvent } from '../protos/generated/public/cache/v1/ChangeEvent.js';
import type { WatchRequest__Output } from '../protos/generated/public/cache/v1/WatchRequest.js';
import { CHANGE_DROP, CHANGE_FLUSH, type ChangeKind } from '../store/changes.js';
import { versionText } from '../wire/codec.js';

/** A stream with more unsent events than this is ended (RESOURCE_EXHAUSTED); its client reconnects and reports a gap. */
const MAX_BUFFERED_EVENTS = 10_000;

type Stream = grpc.ServerWritableStream<WatchRequest__Output, ChangeEvent>;

export class Watchers {
  private readonly streams = new Map<Stream, string>();
  private closed = false;
  /** Events sent (metrics). */
  events = 0;

  /** `activeChanged`: called when the first stream opens and when the last one closes. */
  constructor(private readonly activeChanged: () => void) {}

  get active(): boolean {
    return this.streams.size !== 0;
  }

  readonly handler: grpc.handleServerStreamingCall<WatchRequest__Output, ChangeEvent> = (call) => {
    if (this.closed) {
      call.destroy(Object.assign(new Error('node is shutting down'), { code: grpc.status.UNAVAILABLE }));
      return;
    }
    this.streams.set(call, call.request.prefix);
    if (this.streams.size === 1) this.activeChanged();
    const done = () => this.drop(call);
    call.on('cancelled', done);
    call.on('close', done);
    call.on('error', done);
  };

  /** Every change of the store (observed while a stream is open). */
  changed(kind: ChangeKind, key: string, wall: number, logical: number): void {
    if (kind === CHANGE_DROP) return;
    let event: ChangeEvent | undefined;
    for (const [call, prefix] of this.streams) {
      const covered = kind === CHANGE_FLUSH ? key.startsWith(prefix) || prefix.startsWith(key) : key.startsWith(prefix);
      if (!covered) continue;
      event ??= { key, kind, version: versionText(wall, logical) };
      this.events++;
      call.write(event);
      if (call.writableLength > MAX_BUFFERED_EVENTS) {
        this.drop(call);
        call.destroy(Object.assign(new Error('watch events not read fast enough'), { code: grpc.status.RESOURCE_EXHAUSTED }));
      }
    }
  }

  /** Ends every stream (graceful stop). */
  close(): void {
    this.closed = true;
    for (const call of [...this.streams.keys()]) {
      this.drop(call);
      call.end();
    }
  }

  private drop(call: Stream): void {
    if (!this.streams.delete(call)) return;
    if (this.streams.size === 0) this.activeChanged();
  }
}
