/** cache.peer.v1.PeerService: the receiving side of replication, gossip and anti-entropy. */
import type * as grpc from '@grpc/grpc-js';
import type { Store } from '../store/store.js';
import type { HybridClock } from '../hlc/hlc.js';
import type { Logger } from '../log/logger.js';
import { compareVersions } from '../hlc/hlc.js';
import { OpKind, type PeerBatch, type PeerOp, type PeerResult } from './codec.js';

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
  store: Store, clock: HybridClock, hooks: ExchangeHooks, log: Logger, extra: PeerHandlers,
): grpc.UntypedServiceImplementation {
  const now = Date.now;

  const OK: PeerResult = { ok: true };
  const OK_EXISTED: PeerResult = { ok: true, existed: true };
  const ABSENT: PeerResult = { ok: false };
  const SAME: PeerResult = { ok: true, same: true };

  function execute(op: PeerOp): PeerResult {
    try {
      switch (op.kind) {
        case OpKind.Write: {
          if (!hooks.accepting()) return { ok: false, error: 'node is leaving the cluster' };
          if (!op.rec) return { ok: false, error: 'write without an entry' };
          const cur = store.peek(op.key);
          const existed = cur !== undefined && !cur.tombstone && (cur.expiresAt === 0 || cur.expiresAt > now());
          store.apply(op.key, op.rec);
          return existed ? OK_EXISTED : OK;
        }
        case OpKind.Read: {
          const rec = store.peek(op.key);
          if (!rec) return ABSENT;
          const h = op.have;
          if (h && compareVersions(rec.wall, rec.logical, rec.node, h.wall, h.logical, h.node) === 0) return SAME;
          return { ok: true, rec };
        }
        default:
          return { ok: false, error: `unknown operation kind ${op.kind}` };
      }
    } catch (err) {
      return { ok: false, error: (err as Error).message };
    }
  }

  const Exchange: grpc.handleBidiStreamingCall<PeerBatch, unknown> = (call) => {
    let from = '';
    call.on('data', (batch: PeerBatch) => {
      if (batch.hlcWall) clock.observe(batch.hlcWall, batch.hlcLogical);
      if (batch.from && batch.from !== from) from = batch.from;
      if (from) hooks.heard(from);
      const ops = batch.ops;
      const results = new Array<PeerResult>(ops.length);
      for (let i = 0; i < ops.length; i++) results[i] = execute(ops[i]);
      const hlc = clock.peek();
      call.write({ seq: batch.seq, results, hlcWall: hlc.wall, hlcLogical: hlc.logical });
    });
    call.on('end', () => call.end());
    call.on('error', (err) => log.debug({ err, from }, 'peer stream error'));
  };

  return { Exchange, ...extra } as grpc.UntypedServiceImplementation;
}
