/**
 * The answering side of the node-to-node protocol (src/peer/service.ts): PeerService's
 * handlers. Each decodes, hands the request to the module that decides (the replica's
 * executor, the membership, anti-entropy) and encodes the answer; errors go through the
 * status table.
 */
import type * as grpc from '@grpc/grpc-js';
import { toStatus } from '../errors/status.js';
import type { HybridClock } from '../hlc/hlc.js';
import type { Logger } from '../log/logger.js';
import type { FlushGossip } from '../membership/membership.js';
import type { MemberRecord } from '../membership/table.js';
import type { PeerServiceHandlers } from '../protos/generated/peer/cache/peer/v1/PeerService.js';
import type { Replica } from '../replication/replica.js';
import type { EntryRecord } from '../store/store.js';
import type { PeerBatch, PeerBatchReply } from '../wire/codec.js';
import { entryToWire, marksFromWire, marksToWire, recordsFromWire, recordToWire } from './service.js';

export interface PeerServerDeps {
  selfId: string;
  clock: HybridClock;
  replica: Replica;
  /** A message arrived from this member (direct evidence that it is up). */
  heard(node: string): void;
  /** A SWIM probe (full: a push-pull) from `from`: merges its records, returns ours to answer with. */
  ping(from: string, members: MemberRecord[], full: boolean): MemberRecord[];
  /** SWIM's indirect probe: Pings `target` for `from`; whether it answered within the period, and records to answer with. */
  pingReq(from: string, target: string, members: MemberRecord[]): Promise<{ acked: boolean; members: MemberRecord[] }>;
  /** Flush marks: merges a peer's (from a Ping or a Flush), and ours to gossip back. */
  flushes: FlushGossip;
  /** Anti-entropy, answering `requester`'s round. */
  treeHashes(requester: string, level: number, indexes: number[]): Promise<string[]>;
  bucketEntries(requester: string, buckets: number[]): Promise<[string, EntryRecord][]>;
  log: Logger;
}

/** PeerService's handlers, Exchange typed by the hand-written codec. */
export interface PeerHandlers extends grpc.UntypedServiceImplementation {
  Exchange: grpc.handleBidiStreamingCall<PeerBatch, PeerBatchReply>;
  Ping: PeerServiceHandlers['Ping'];
  PingReq: PeerServiceHandlers['PingReq'];
  TreeHashes: PeerServiceHandlers['TreeHashes'];
  BucketEntries: PeerServiceHandlers['BucketEntries'];
  Flush: PeerServiceHandlers['Flush'];
}

export function peerHandlers(d: PeerServerDeps): PeerHandlers {
  return {
    Exchange(call) {
      let from = '';
      call.on('data', (batch: PeerBatch) => {
        if (batch.hlcWall) d.clock.observe(batch.hlcWall, batch.hlcLogical);
        if (batch.from) from = batch.from;
        if (from) d.heard(from);
        const results = d.replica.executeAll(batch.ops);
        const hlc = d.clock.peek();
        call.write({ seq: batch.seq, results, hlcWall: hlc.wall, hlcLogical: hlc.logical });
      });
      call.on('end', () => call.end());
      call.on('error', (err) => d.log.debug({ err, from }, 'peer stream error'));
    },

    Ping(call, reply) {
      // Our clock on arrival and on reply: the sender estimates the offset between our clocks from them.
      const receivedAt = Date.now();
      const r = call.request;
      d.flushes.received(marksFromWire(r.flushes), r.from);
      const members = d.ping(r.from, recordsFromWire(r.members), r.full);
      const answer = { from: d.selfId, members: members.map(recordToWire), flushes: marksToWire(d.flushes.held()) };
      reply(null, { ...answer, received_at_ms: receivedAt, replied_at_ms: Date.now() });
    },

    PingReq(call, reply) {
      const r = call.request;
      d.flushes.received(marksFromWire(r.flushes), r.from);
      d.pingReq(r.from, r.target, recordsFromWire(r.members)).then(
        (a) =>
          reply(null, { from: d.selfId, acked: a.acked, members: a.members.map(recordToWire), flushes: marksToWire(d.flushes.held()) }),
        (err: unknown) => reply(toStatus(err)),
      );
    },

    Flush(call, reply) {
      const r = call.request;
      if (r.hlc_wall) d.clock.observe(r.hlc_wall, r.hlc_logical);
      d.flushes.received(marksFromWire(r.marks), r.from);
      const hlc = d.clock.peek();
      reply(null, { hlc_wall: hlc.wall, hlc_logical: hlc.logical });
    },

    TreeHashes(call, reply) {
      const r = call.request;
      d.treeHashes(r.requester, r.level, r.indexes).then(
        (hashes) => reply(null, { hashes }),
        (err: unknown) => reply(toStatus(err)),
      );
    },

    BucketEntries(call, reply) {
      d.bucketEntries(call.request.requester, call.request.buckets).then(
        (entries) => reply(null, { entries: entries.map(([k, rec]) => entryToWire(k, rec)) }),
        (err: unknown) => reply(toStatus(err)),
      );
    },
  };
}
