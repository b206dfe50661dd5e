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
 *  - LEASE and LEASE_WRITE go to the key's first replica, which keeps the key's leases
 *    (src/replication/leases.ts). LEASE answers a live entry this node holds (`found`, `rec`),
 *    or a new lease (`leaseToken`), or how long the current one has left (`waitMs`, with a
 *    value that expired within STALE_WINDOW_MS and is still held, flagged `stale`). LEASE_WRITE
 *    checks the token against the key's version here and applies the entry in the same step
 *    (nothing else runs in between), as WRITE does; a refused one says why in `refused` and
 *    writes nothing. LEASE_RELEASE gives a lease back (`found`: it was the key's).
 *  - An operation that throws (an entry too large for this node's memory budget, a bad
 *    record) fails alone with its error; the others in the batch are unaffected.
 */

import { compareVersions } from '../hlc/hlc.js';
import { OpKind } from '../protos/generated/peer/cache/peer/v1/OpKind.js';
import type { EntryRecord, Store } from '../store/store.js';
import type { PeerOp, PeerResult } from '../wire/codec.js';
import { LeaseTable } from './leases.js';

/** How long after its expiry a value still held may be answered as stale to callers waiting for a lease. */
const STALE_WINDOW_MS = 60_000;

const WRITTEN: PeerResult = {};
const WRITTEN_OVER_LIVE: PeerResult = { existed: true };
const NOT_FOUND: PeerResult = {};
const SAME: PeerResult = { found: true, same: true };
const LEAVING: PeerResult = { error: 'node is leaving the cluster' };

export class Replica {
  /** False while this node is leaving the cluster: writes are refused. */
  accepting = true;

  constructor(
    private readonly store: Store,
    private readonly now: () => number = Date.now,
    readonly leases: LeaseTable = new LeaseTable(),
  ) {}

  execute(op: PeerOp): PeerResult {
    try {
      switch (op.kind) {
        case OpKind.OP_KIND_WRITE: {
          if (!this.accepting) return LEAVING;
          if (!op.rec) return { error: 'write without an entry' };
          return this.write(op.key, op.rec);
        }
        case OpKind.OP_KIND_LEASE:
          return this.lease(op.key, op.leaseMs ?? 0);
        case OpKind.OP_KIND_LEASE_RELEASE:
          return this.release(op.key, op.leaseToken ?? '');
        case OpKind.OP_KIND_LEASE_WRITE:
          if (!op.rec) return { error: 'write without an entry' };
          return this.leasedWrite(op.key, op.rec, op.leaseToken ?? '');
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

  /** LEASE (see the contract above); the coordinator calls it directly when this node is the key's first replica. */
  lease(key: string, leaseMs: number): PeerResult {
    const cur = this.store.peek(key);
    if (cur !== undefined && !cur.tombstone) return { found: true, rec: cur };
    const now = this.now();
    const g = this.leases.grant(key, now, leaseMs, cur);
    if ('token' in g) return { leaseToken: g.token };
    const stale = this.store.peekExpired(key, STALE_WINDOW_MS);
    return stale ? { waitMs: g.waitMs, stale: true, rec: stale } : { waitMs: g.waitMs };
  }

  /** LEASE_WRITE: the token checked against the key's version here and the entry applied, in one step. */
  leasedWrite(key: string, rec: EntryRecord, token: string): PeerResult {
    if (!this.accepting) return LEAVING;
    const refused = this.leases.check(key, token, this.now(), this.store.peek(key));
    return refused === undefined ? this.write(key, rec) : { refused };
  }

  /** LEASE_RELEASE: `found` = the token was the key's live lease, now given back. */
  release(key: string, token: string): PeerResult {
    return this.leases.release(key, token) ? { found: true } : {};
  }

  private write(key: string, rec: EntryRecord): PeerResult {
    const cur = this.store.peek(key); // dead (expired) entries are invisible
    if (!this.store.apply(key, rec)) {
      const above = this.store.newerThan(key, rec, cur); // apply() did not change what peek() saw
      if (above) return { newer: true, rec: { ...above, value: '', binary: false } };
    }
    return cur !== undefined && !cur.tombstone ? WRITTEN_OVER_LIVE : WRITTEN;
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
