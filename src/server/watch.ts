/**
 * CacheService/Watch: each stream receives the changes of this node's entries whose key starts
 * with its prefix (the store observed, src/store/changes.ts), as they happen, one message
 * per change. Entries dropped after a hand-off are not changes of the key (it moved) and are
 * not reported; a flush is reported to every stream whose prefix it overlaps. Nothing is kept
 * for a stream that is not open: its client says that events may have been missed.
 */
import type * as grpc from '@grpc/grpc-js';
import type { ChangeEvent } from '../protos/generated/public/cache/v1/ChangeEvent.js';
import type { WatchRequest__Output } from '../protos/generated/public/cache/v1/WatchRequest.js';
import { CHANGE_DROP, CHANGE_FLUSH, type ChangeKind } from '../store/changes.js';
import { versionText } from '../wire/codec.js';
import { ServerStreams } from './streams.js';

/** A stream with more unsent events than this is ended (RESOURCE_EXHAUSTED); its client reconnects and reports a gap. */
const MAX_BUFFERED_EVENTS = 10_000;

type Stream = grpc.ServerWritableStream<WatchRequest__Output, ChangeEvent>;

export class Watchers {
  private readonly streams: ServerStreams<Stream, ChangeEvent, string>;
  /** Events sent (metrics). */
  events = 0;

  /** `activeChanged`: called when the first stream opens and when the last one closes. */
  constructor(activeChanged: () => void) {
    this.streams = new ServerStreams(MAX_BUFFERED_EVENTS, 'watch events not read fast enough', activeChanged);
  }

  get active(): boolean {
    return this.streams.active;
  }

  readonly handler: grpc.handleServerStreamingCall<WatchRequest__Output, ChangeEvent> = (call) => {
    this.streams.open(call, call.request.prefix);
  };

  /** Every change of the store (observed while a stream is open). */
  changed(kind: ChangeKind, key: string, wall: number, logical: number): void {
    if (kind === CHANGE_DROP) return;
    let event: ChangeEvent | undefined;
    for (const [call, prefix] of this.streams.entries()) {
      const covered = kind === CHANGE_FLUSH ? key.startsWith(prefix) || prefix.startsWith(key) : key.startsWith(prefix);
      if (!covered) continue;
      event ??= { key, kind, version: versionText(wall, logical) };
      this.events++;
      this.streams.write(call, event);
    }
  }

  /** Ends every stream (graceful stop). */
  close(): void {
    this.streams.close();
  }
}
