/**
 * CacheClient.watch: one CacheService/Watch stream per node, merged. Every replica of a key
 * reports its changes, so the same event (key, kind, version) comes once per replica: `Seen`
 * (pure) lets the first through. A stream that ends or fails is reported as a gap (events of
 * that node may have been missed: nodes keep no history) and opened again after a short delay,
 * for as long as the node is a member and the watch is not closed.
 */
import type * as grpc from '@grpc/grpc-js';
import type { ChangeEvent__Output } from '../protos/generated/public/cache/v1/ChangeEvent.js';

export type WatchKind = 'set' | 'delete' | 'expire' | 'evict' | 'flush';

export type WatchEvent =
  /** A change, once however many replicas reported it. For 'flush', `key` is the flushed prefix. */
  | { type: 'change'; key: string; kind: WatchKind; version: bigint }
  /** The stream to this node was lost (it is opened again by itself): its events in between may be missing. */
  | { type: 'gap'; address: string };

export interface Watch {
  /** Ends every stream of this watch; no event is delivered afterwards. */
  close(): void;
}

const KINDS: (WatchKind | undefined)[] = [undefined, 'set', 'delete', 'expire', 'evict', 'flush'];

/** Delay before a lost stream is opened again. */
const REOPEN_MS = 500;

/**
 * The events already delivered, by key, kind and version: the most recent `max` of them (a
 * duplicate comes from another replica within moments of the first copy).
 */
export class Seen {
  private readonly ids = new Set<string>();

  constructor(private readonly max: number) {}

  /** True the first time an event is offered (and remembers it). */
  first(key: string, kind: number, version: string): boolean {
    const id = `${kind} ${version} ${key}`;
    if (this.ids.has(id)) return false;
    this.ids.add(id);
    if (this.ids.size > this.max) this.ids.delete(this.ids.values().next().value as string);
    return true;
  }
}

export interface WatchWiring {
  /** Opens a Watch stream to a node. */
  open(address: string): grpc.ClientReadableStream<ChangeEvent__Output>;
  /** The nodes to watch now. */
  addresses(): string[];
}

export class WatchSession implements Watch {
  private readonly streams = new Map<string, grpc.ClientReadableStream<ChangeEvent__Output>>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly seen = new Seen(100_000);
  private closed = false;

  constructor(
    private readonly wiring: WatchWiring,
    private readonly listener: (e: WatchEvent) => void,
    private readonly onClose: (w: WatchSession) => void,
  ) {}

  /** Opens streams to the nodes that have none (called at start and when the client's view changes). */
  sync(): void {
    if (this.closed) return;
    for (const a of this.wiring.addresses()) if (!this.streams.has(a)) this.openTo(a);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const s of this.streams.values()) s.cancel();
    this.streams.clear();
    this.onClose(this);
  }

  private openTo(address: string): void {
    const stream = this.wiring.open(address);
    this.streams.set(address, stream);
    stream.on('data', (e: ChangeEvent__Output) => {
      const kind = KINDS[e.kind];
      if (this.closed || kind === undefined || !this.seen.first(e.key, e.kind, e.version)) return;
      this.deliver({ type: 'change', key: e.key, kind, version: BigInt(e.version) });
    });
    let ended = false;
    const lost = () => {
      if (ended) return;
      ended = true;
      if (this.streams.get(address) === stream) this.streams.delete(address);
      if (this.closed) return;
      this.deliver({ type: 'gap', address });
      const t = setTimeout(() => {
        this.timers.delete(t);
        if (!this.closed && !this.streams.has(address) && this.wiring.addresses().includes(address)) this.openTo(address);
      }, REOPEN_MS);
      t.unref();
      this.timers.add(t);
    };
    stream.on('error', lost);
    stream.on('end', lost);
  }

  private deliver(e: WatchEvent): void {
    try {
      this.listener(e);
    } catch {
      /* a listener's error must not stop the watch */
    }
  }
}
