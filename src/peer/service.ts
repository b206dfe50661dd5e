/**
 * The node-to-node protocol (proto/cache/peer/v1/peer.proto, plus ClusterService.Join which
 * a starting node calls on its seeds): the service definitions both ends use, with the
 * hand-written codec on the Exchange stream, and the conversions between the generated
 * message types and the core's records. src/peer/client.ts and src/peer/server.ts are the
 * two ends; nothing else speaks this protocol.
 */
import type * as grpc from '@grpc/grpc-js';
import { isMemberState, type MemberRecord } from '../membership/table.js';
import type { Entry, Entry__Output } from '../protos/generated/peer/cache/peer/v1/Entry.js';
import type { FlushMark as WireMark, FlushMark__Output as WireMarkOut } from '../protos/generated/peer/cache/peer/v1/FlushMark.js';
import type {
  MemberRecord as WireRecord,
  MemberRecord__Output as WireRecordOut,
} from '../protos/generated/peer/cache/peer/v1/MemberRecord.js';
import type { PeerServiceDefinition } from '../protos/generated/peer/cache/peer/v1/PeerService.js';
import type { ClusterServiceDefinition } from '../protos/generated/public/cache/v1/ClusterService.js';
import type { Member, Member__Output } from '../protos/generated/public/cache/v1/Member.js';
import { MemberState } from '../protos/generated/public/cache/v1/MemberState.js';
import { peerApi, publicApi } from '../protos/protos.js';
import type { FlushMark } from '../store/flushes.js';
import type { EntryRecord } from '../store/store.js';
import { decodeBatch, decodeBatchReply, encodeBatch, encodeBatchReply, type PeerBatch, type PeerBatchReply } from '../wire/codec.js';

/** PeerService with the hand-written codec of src/wire/codec.ts on Exchange; the other methods as generated. */
export interface PeerDefinition extends grpc.ServiceDefinition {
  Exchange: grpc.MethodDefinition<PeerBatch, PeerBatchReply>;
  Ping: PeerServiceDefinition['Ping'];
  PingReq: PeerServiceDefinition['PingReq'];
  TreeHashes: PeerServiceDefinition['TreeHashes'];
  BucketEntries: PeerServiceDefinition['BucketEntries'];
  Flush: PeerServiceDefinition['Flush'];
}

let definition: PeerDefinition | undefined;

export function peerDefinition(): PeerDefinition {
  if (!definition) {
    const generated = peerApi().PeerService.service;
    definition = {
      ...generated,
      Exchange: {
        ...generated.Exchange,
        requestSerialize: encodeBatch,
        requestDeserialize: decodeBatch,
        responseSerialize: encodeBatchReply,
        responseDeserialize: decodeBatchReply,
      },
    };
  }
  return definition;
}

/** ClusterService, whose Join a node calls on its seeds. */
export function clusterDefinition(): ClusterServiceDefinition {
  return publicApi().ClusterService.service;
}

// ---- entries (BucketEntries) ----

export function entryToWire(key: string, rec: EntryRecord): Entry {
  const e: Entry = rec.binary
    ? { key, data: Buffer.from(rec.value, 'latin1'), wall: rec.wall, logical: rec.logical, node: rec.node }
    : { key, text: rec.value, wall: rec.wall, logical: rec.logical, node: rec.node };
  if (rec.expiresAt !== 0) e.expires_at = rec.expiresAt;
  if (rec.tombstone) e.tombstone = true;
  return e;
}

export function entryFromWire(e: Entry__Output): EntryRecord {
  const binary = e.payload === 'data';
  return {
    value: binary ? (e.data ?? Buffer.alloc(0)).toString('latin1') : (e.text ?? ''),
    binary,
    wall: e.wall,
    logical: e.logical,
    node: e.node,
    expiresAt: e.expires_at,
    tombstone: e.tombstone,
  };
}

// ---- flush marks (Ping, Flush) ----

export function marksToWire(marks: readonly FlushMark[]): WireMark[] {
  return marks.map((m) => ({ prefix: m.prefix, wall: m.wall, logical: m.logical, node: m.node }));
}

/** Marks received from a peer; malformed ones are dropped. */
export function marksFromWire(ms: readonly WireMarkOut[] | undefined): FlushMark[] {
  const out: FlushMark[] = [];
  for (const m of ms ?? []) {
    if (Number.isSafeInteger(m.wall) && m.wall > 0 && Number.isInteger(m.logical)) {
      out.push({ prefix: m.prefix, wall: m.wall, logical: m.logical, node: m.node });
    }
  }
  return out;
}

// ---- member records (Ping: peer MemberRecord; Join and Members: public Member) ----

export function recordToWire(m: MemberRecord): WireRecord {
  return { id: m.id, address: m.address, state: m.state, incarnation: m.incarnation };
}

/** Records received in a Ping; malformed ones are dropped. */
export function recordsFromWire(ms: readonly WireRecordOut[]): MemberRecord[] {
  const out: MemberRecord[] = [];
  for (const m of ms) {
    if (m.id && m.address && isMemberState(m.state) && Number.isSafeInteger(m.incarnation)) {
      out.push({ id: m.id, address: m.address, state: m.state, incarnation: m.incarnation });
    }
  }
  return out;
}

const STATE_OF_NUMBER = {
  [MemberState.MEMBER_STATE_ALIVE]: 'alive',
  [MemberState.MEMBER_STATE_SUSPECT]: 'suspect',
  [MemberState.MEMBER_STATE_DEAD]: 'dead',
  [MemberState.MEMBER_STATE_LEFT]: 'left',
} as const;

const NUMBER_OF_STATE = {
  alive: MemberState.MEMBER_STATE_ALIVE,
  suspect: MemberState.MEMBER_STATE_SUSPECT,
  dead: MemberState.MEMBER_STATE_DEAD,
  left: MemberState.MEMBER_STATE_LEFT,
} as const;

export function memberToWire(m: MemberRecord): Member {
  return { node_id: m.id, address: m.address, state: NUMBER_OF_STATE[m.state], incarnation: String(m.incarnation) };
}

/** A public Member as a table record, or undefined if a field is missing or out of range. */
export function memberFromWire(m: Member__Output): MemberRecord | undefined {
  const state = m.state === MemberState.MEMBER_STATE_UNSPECIFIED ? undefined : STATE_OF_NUMBER[m.state];
  const incarnation = Number(m.incarnation);
  if (!m.node_id || !m.address || state === undefined || !Number.isSafeInteger(incarnation) || incarnation < 0) return undefined;
  return { id: m.node_id, address: m.address, state, incarnation };
}
