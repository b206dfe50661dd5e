/**
 * The replica's side of the peer protocol: executes the operations of an Exchange batch
 * against the local store, in order, one result per operation. Pure: the store in, results
 * out (the peer server in src/peer/server.ts only decodes, calls this and encodes).
 *
 * Contract (what a coordinator may rely on, see proto/cache/peer/v1/peer.proto):
 *  - WRITE applies the entry if it is newer than what the store holds (last write wins).
 *    Success (no `error`) means the replica now holds that version or a newer one; an
 *    older write is not applied, and that is not an error, but the answer says `newer` and
 *    carries the version that kept it out (the entry held, or the flush mark covering the
 *    write; no value), so a coordinator can re-stamp its write above it. `existed` says
 *    whether a live value was there before. While the node is leaving (`accepting` false) every WRITE is
 *    refused with an error, so coordinators keep it as a hint for a replica that stays.
 *  - READ answers the stored entry, tombstones included (`found`, `rec`); if the op carries
 *    the version the coordinator already has and the store holds exactly that version, the
 *    answer is `same` without the value.
 *  - An operation that throws (an entry too large for this node's memory budget, a bad
 *    record) fails alone with its error; the others in the batch are unaffected.
 */

import { compareVersions } from '../hlc/hlc.js';
import { OpKind } from '../protos/generated/peer/cache/peer/v1/OpKind.js';
import type { EntryRecord, Store } from '../store/store.js';
import type { PeerOp, PeerResult } from '../wire/codec.js';

const WRITTEN: PeerResult = {};
const WRITTEN_OVER_LIVE: PeerResult = { existed: true };
const NOT_FOUND: PeerResult = {};
const SAME: PeerResult = { found: true, same: true };
const LEAVING: PeerResult = { error: 'node is leaving the cluster' };

export class Replica {
  /** False while this node is leaving the cluster: writes are refused. */
  accepting = true;

  constructor(private readonly store: Store) {}

  execute(op: PeerOp): PeerResult {
    try {
      switch (op.kind) {
        case OpKind.OP_KIND_WRITE: {
          if (!this.accepting) return LEAVING;
          if (!op.rec) return { error: 'write without an entry' };
          const cur = this.store.peek(op.key); // dead (expired) entries are invisible
          if (!this.store.apply(op.key, op.rec)) {
            const above = this.store.newerThan(op.key, op.rec);
            if (above) return { newer: true, rec: { ...above, value: '', binary: false } };
          }
          return cur !== undefined && !cur.tombstone ? WRITTEN_OVER_LIVE : WRITTEN;
        }
        case OpKind.OP_KIND_READ: {
          const rec = this.store.peek(op.key);
          if (!rec) return NOT_FOUND;
          const h = op.have;
          if (h && compareVersions(rec.wall, rec.logical, rec.node, h.wall, h.logical, h.node) === 0) return SAME;
          return { found: true, rec };
        }
        default:
          return { error: `unknown operation kind ${op.kind}` };
      }
    } catch (err) {
      return { error: err instanceof Error ? err.message : String(err) };
    }
  }

  /** A batch's results, in the order of its operations. */
  executeAll(ops: readonly PeerOp[]): PeerResult[] {
    const results = new Array<PeerResult>(ops.length);
    for (let i = 0; i < ops.length; i++) results[i] = this.execute(ops[i]);
    return results;
  }
}

/** What a READ's result means to the coordinator: the replica's entry (`have` itself when it answered `same`), or undefined. */
export function readAnswer(res: PeerResult, have: EntryRecord | undefined): EntryRecord | undefined {
  return res.same ? have : res.found ? res.rec : undefined;
}
