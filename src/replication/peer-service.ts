/** cache.peer.v1.PeerService: the receiving side of replication, gossip and anti-entropy. */
import type * as grpc from '@grpc/grpc-js';
import type { Store } from '../store/store.js';
import type { HybridClock } from '../hlc/hlc.js';
import type { Logger } from '../log/logger.js';
import type { HintStore } from './hints.js';
import { fromWire, toWire, type WireEntry } from './wire.js';
import { OpKind } from './peers.js';

interface WireOp { kind?: number; entry?: WireEntry; key?: string; target?: string }
interface WireBatch { seq?: number; ops?: WireOp[]; hlc_wall?: number; hlc_logical?: number; from?: string }
interface WireResult { ok?: boolean; entry?: WireEntry; error?: string; existed?: boolean }

export interface PeerHandlers {
  /** Gossip (Ping) and anti-entropy handlers are provided by their own modules. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  Ping?: grpc.handleUnaryCall<any, unknown>;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  TreeHashes?: grpc.handleUnaryCall<any, unknown>;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  BucketEntries?: grpc.handleUnaryCall<any, unknown>;
}

export interface ExchangeHooks {
  /** A batch arrived from this node (direct evidence that it is up). */
  heard(node: string): void;
  /** False while this node is leaving: replica writes are refused so coordinators keep them elsewhere. */
  accepting(): boolean;
}

export function peerServiceHandlers(
  store: Store, clock: HybridClock, hints: HintStore, hooks: ExchangeHooks, log: Logger, extra: PeerHandlers,
): grpc.UntypedServiceImplementation {
  const now = Date.now;

  function execute(op: WireOp): WireResult {
    try {
      switch (op.kind) {
        case OpKind.Write: {
          if (!hooks.accepting()) return { error: 'node is leaving the cluster' };
          const e = op.entry!;
          const cur = store.peek(e.key);
          const existed = cur !== undefined && !cur.tombstone && (cur.expiresAt === 0 || cur.expiresAt > now());
          store.apply(e.key, fromWire(e));
          return existed ? { ok: true, existed: true } : { ok: true };
        }
        case OpKind.Read: {
          const rec = store.peek(op.key ?? '');
          return rec ? { ok: true, entry: toWire(op.key!, rec) } : { ok: false };
        }
        case OpKind.Hint: {
          const e = op.entry!;
          hints.add(op.target ?? '', e.key, fromWire(e));
          return { ok: true };
        }
        default:
          return { error: `unknown operation kind ${op.kind}` };
      }
    } catch (err) {
      return { error: (err as Error).message };
    }
  }

  const Exchange: grpc.handleBidiStreamingCall<WireBatch, unknown> = (call) => {
    let from = '';
    call.on('data', (batch: WireBatch) => {
      if (batch.hlc_wall) clock.observe(Number(batch.hlc_wall), batch.hlc_logical ?? 0);
      if (batch.from && batch.from !== from) from = batch.from;
      if (from) hooks.heard(from);
      const ops = batch.ops ?? [];
      const results = new Array<WireResult>(ops.length);
      for (let i = 0; i < ops.length; i++) results[i] = execute(ops[i]);
      const hlc = clock.peek();
      call.write({ seq: batch.seq ?? 0, results, hlc_wall: hlc.wall, hlc_logical: hlc.logical });
    });
    call.on('end', () => call.end());
    call.on('error', (err) => log.debug({ err, from }, 'peer stream error'));
  };

  return { Exchange, ...extra } as grpc.UntypedServiceImplementation;
}
