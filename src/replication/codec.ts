/**
 * Hand-written codecs for the peer Exchange stream (cache.peer.v1 Batch and BatchReply,
 * proto/cache/peer/v1/peer.proto). Every replicated write and quorum read crosses this
 * twice (encode on one node, decode on the other), so it goes straight between store
 * records and bytes: no intermediate wire objects, no generic protobufjs passes. The bytes
 * are the proto3 encoding of the .proto (tested against protobufjs), so a peer using the
 * generic codec reads and writes the same messages.
 */
import type { EntryRecord } from '../store/store.js';
import { Reader, Writer, WT_LEN, WT_VARINT } from '../wire/proto.js';

/** Operation kinds of the peer protocol (cache.peer.v1.OpKind). */
export const OpKind = { Write: 1, Read: 2 } as const;

export interface PeerOp {
  kind: number;
  key: string;
  /** WRITE: the record to apply. */
  rec?: EntryRecord;
  /** READ: the version the sender already holds; the replica then answers `same` if it has exactly that. */
  have?: EntryRecord;
}

export interface PeerBatch { seq: number; ops: PeerOp[]; hlcWall: number; hlcLogical: number; from: string }

export interface PeerResult {
  ok: boolean;
  rec?: EntryRecord;
  error?: string;
  existed?: boolean;
  same?: boolean;
}

export interface PeerBatchReply { seq: number; results: PeerResult[]; hlcWall: number; hlcLogical: number }

// ---- Entry {key=1, text=2 | data=3, wall=4, logical=5, node=6, expires_at=7, tombstone=8}

function writeEntry(w: Writer, field: number, key: string, rec: EntryRecord): void {
  w.begin(field);
  w.stringField(1, key);
  if (rec.binary) w.stringField(3, rec.value, 'latin1');
  else w.stringField(2, rec.value);
  w.varintField(4, rec.wall);
  w.varintField(5, rec.logical);
  w.stringField(6, rec.node);
  if (rec.expiresAt !== 0) w.varintField(7, rec.expiresAt);
  w.boolField(8, rec.tombstone);
  w.end();
}

/** Reads an Entry; returns its key and record. */
function readEntry(r: Reader): { key: string; rec: EntryRecord } {
  const rec: EntryRecord = { value: '', binary: false, wall: 0, logical: 0, node: '', expiresAt: 0, tombstone: false };
  let key = '';
  while (!r.done) {
    const tag = r.varint();
    const wt = tag & 7;
    switch (tag >>> 3) {
      case 1: if (wt === WT_LEN) { key = r.string(); continue; } break;
      case 2: if (wt === WT_LEN) { rec.value = r.string(); rec.binary = false; continue; } break;
      case 3: if (wt === WT_LEN) { rec.value = r.latin1(); rec.binary = true; continue; } break;
      case 4: if (wt === WT_VARINT) { rec.wall = r.varint(); continue; } break;
      case 5: if (wt === WT_VARINT) { rec.logical = r.varint(); continue; } break;
      case 6: if (wt === WT_LEN) { rec.node = r.string(); continue; } break;
      case 7: if (wt === WT_VARINT) { rec.expiresAt = r.varint(); continue; } break;
      case 8: if (wt === WT_VARINT) { rec.tombstone = r.varint() !== 0; continue; } break;
    }
    r.skip(wt);
  }
  return { key, rec };
}

// ---- Batch {seq=1, ops=2, hlc_wall=3, hlc_logical=4, from=5}
// ---- Op {kind=1, entry=2, key=3, have_wall=5, have_logical=6, have_node=7}

export function encodeBatch(b: PeerBatch): Buffer {
  const w = new Writer(64 + b.ops.length * 160);
  w.varintField(1, b.seq);
  for (const op of b.ops) {
    w.begin(2);
    w.varintField(1, op.kind);
    if (op.rec) writeEntry(w, 2, op.key, op.rec);
    else w.stringField(3, op.key);
    if (op.have) {
      w.varintField(5, op.have.wall);
      w.varintField(6, op.have.logical);
      w.stringField(7, op.have.node);
    }
    w.end();
  }
  w.varintField(3, b.hlcWall);
  w.varintField(4, b.hlcLogical);
  w.stringField(5, b.from);
  return w.finish();
}

function readOp(r: Reader): PeerOp {
  const op: PeerOp = { kind: 0, key: '' };
  let haveWall = 0;
  let haveLogical = 0;
  let haveNode = '';
  while (!r.done) {
    const tag = r.varint();
    const wt = tag & 7;
    switch (tag >>> 3) {
      case 1: if (wt === WT_VARINT) { op.kind = r.varint(); continue; } break;
      case 2: if (wt === WT_LEN) { const e = readEntry(r.sub()); op.key = e.key; op.rec = e.rec; continue; } break;
      case 3: if (wt === WT_LEN) { op.key = r.string(); continue; } break;
      case 5: if (wt === WT_VARINT) { haveWall = r.varint(); continue; } break;
      case 6: if (wt === WT_VARINT) { haveLogical = r.varint(); continue; } break;
      case 7: if (wt === WT_LEN) { haveNode = r.string(); continue; } break;
    }
    r.skip(wt);
  }
  if (haveWall !== 0) {
    op.have = { value: '', binary: false, wall: haveWall, logical: haveLogical, node: haveNode, expiresAt: 0, tombstone: false };
  }
  return op;
}

export function decodeBatch(buf: Buffer): PeerBatch {
  const r = new Reader(buf);
  const b: PeerBatch = { seq: 0, ops: [], hlcWall: 0, hlcLogical: 0, from: '' };
  while (!r.done) {
    const tag = r.varint();
    const wt = tag & 7;
    switch (tag >>> 3) {
      case 1: if (wt === WT_VARINT) { b.seq = r.varint(); continue; } break;
      case 2: if (wt === WT_LEN) { b.ops.push(readOp(r.sub())); continue; } break;
      case 3: if (wt === WT_VARINT) { b.hlcWall = r.varint(); continue; } break;
      case 4: if (wt === WT_VARINT) { b.hlcLogical = r.varint(); continue; } break;
      case 5: if (wt === WT_LEN) { b.from = r.string(); continue; } break;
    }
    r.skip(wt);
  }
  return b;
}

// ---- BatchReply {seq=1, results=2, hlc_wall=3, hlc_logical=4}
// ---- Result {ok=1, entry=2, error=3, existed=4, same=5}
// A READ result's entry has no key: the sender knows which key it asked for.

export function encodeBatchReply(b: PeerBatchReply): Buffer {
  const w = new Writer(64 + b.results.length * 160);
  w.varintField(1, b.seq);
  for (const res of b.results) {
    w.begin(2);
    w.boolField(1, res.ok);
    if (res.rec) writeEntry(w, 2, '', res.rec);
    if (res.error) w.stringField(3, res.error);
    w.boolField(4, res.existed === true);
    w.boolField(5, res.same === true);
    w.end();
  }
  w.varintField(3, b.hlcWall);
  w.varintField(4, b.hlcLogical);
  return w.finish();
}

function readResult(r: Reader): PeerResult {
  const res: PeerResult = { ok: false };
  while (!r.done) {
    const tag = r.varint();
    const wt = tag & 7;
    switch (tag >>> 3) {
      case 1: if (wt === WT_VARINT) { res.ok = r.varint() !== 0; continue; } break;
      case 2: if (wt === WT_LEN) { res.rec = readEntry(r.sub()).rec; continue; } break;
      case 3: if (wt === WT_LEN) { res.error = r.string(); continue; } break;
      case 4: if (wt === WT_VARINT) { res.existed = r.varint() !== 0; continue; } break;
      case 5: if (wt === WT_VARINT) { res.same = r.varint() !== 0; continue; } break;
    }
    r.skip(wt);
  }
  return res;
}

export function decodeBatchReply(buf: Buffer): PeerBatchReply {
  const r = new Reader(buf);
  const b: PeerBatchReply = { seq: 0, results: [], hlcWall: 0, hlcLogical: 0 };
  while (!r.done) {
    const tag = r.varint();
    const wt = tag & 7;
    switch (tag >>> 3) {
      case 1: if (wt === WT_VARINT) { b.seq = r.varint(); continue; } break;
      case 2: if (wt === WT_LEN) { b.results.push(readResult(r.sub())); continue; } break;
      case 3: if (wt === WT_VARINT) { b.hlcWall = r.varint(); continue; } break;
      case 4: if (wt === WT_VARINT) { b.hlcLogical = r.varint(); continue; } break;
    }
    r.skip(wt);
  }
  return b;
}

/** Rough size of a write on the wire, for batch size limits. */
export function opSize(key: string, rec?: EntryRecord): number {
  return rec ? key.length + rec.value.length + rec.node.length + 40 : key.length + 40;
}

/** The Exchange method's codecs, for both ends (see withCodecs in src/server/protos.ts). */
export const EXCHANGE_CODECS = {
  requestSerialize: encodeBatch,
  requestDeserialize: decodeBatch,
  responseSerialize: encodeBatchReply,
  responseDeserialize: decodeBatchReply,
};
