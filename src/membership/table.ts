/**
 * Cluster membership table with incarnation numbers (the record rules of SWIM; the probing
 * and dissemination are src/membership/swim.ts).
 *
 * Every node keeps one record per member: (id, address, state, incarnation). Records received
 * by gossip or in a Join are merged with a precedence that is a total order per member
 * (incarnation first, then state alive < suspect < dead < left, then address), so merging is
 * commutative, associative and idempotent: nodes that exchange records() converge to the same
 * view (the same records()) whatever the order of the messages.
 *
 * Two moves are outside that order, both on purpose:
 *  - our own entry: a rumour about us that is worse (or newer) than what we know is refuted by
 *    raising our incarnation above it, so the refutation outranks the rumour everywhere;
 *  - heard(): direct evidence that a member is up makes it alive locally at the incarnation we
 *    know, even if it was suspect/dead there. Gossip at that same incarnation can make it
 *    suspect/dead again; the member's own refutation (a higher incarnation) settles it.
 *
 * Pure: no I/O, no timers; time (ms) is passed in by the caller.
 */

export type MemberState = 'alive' | 'suspect' | 'dead' | 'left';

export interface MemberRecord {
  id: string;
  address: string;
  state: MemberState;
  incarnation: number;
}

export interface MemberView extends MemberRecord {
  /** Last time (ms) we had evidence the member was up (direct contact, join, or a new alive incarnation). */
  lastHeard: number;
  /** When (ms) the member entered its current state in our view. */
  stateSince: number;
}

/**
 * A change of our view of one member. `from` is undefined for a member we did not know.
 * `from === to` happens when only the incarnation and/or the address changed (a restart,
 * a refutation, a new IP): the adapter should still gossip it, and re-check the address.
 */
export interface MemberChange {
  id: string;
  from: MemberState | undefined;
  to: MemberState;
  record: MemberRecord;
}

export interface MemberTableOptions {
  /**
   * A rumour that a member we heard from directly less than this long ago is suspect or dead
   * (at the incarnation we know) is ignored (see merge).
   */
  directWindowMs: number;
}

const RANK: Readonly<Record<MemberState, number>> = { alive: 0, suspect: 1, dead: 2, left: 3 };

/** True if `s` is one of the four member states. */
export function isMemberState(s: unknown): s is MemberState {
  return typeof s === 'string' && Object.hasOwn(RANK, s);
}

/**
 * Orders two records about the same member by merge precedence: positive if `a` wins over `b`,
 * negative if `b` wins, 0 if they are the same record. Higher incarnation wins; at equal
 * incarnation the worse state wins; at equal state the greater address wins (a deterministic
 * tie-break, only reachable when two records disagree about the address at one incarnation).
 */
export function compareRecords(a: MemberRecord, b: MemberRecord): number {
  if (a.incarnation !== b.incarnation) return a.incarnation > b.incarnation ? 1 : -1;
  const ra = RANK[a.state];
  const rb = RANK[b.state];
  if (ra !== rb) return ra > rb ? 1 : -1;
  if (a.address === b.address) return 0;
  return a.address > b.address ? 1 : -1;
}

function validRecord(rec: MemberRecord): boolean {
  return (
    rec !== null &&
    typeof rec === 'object' &&
    typeof rec.id === 'string' &&
    rec.id.length > 0 &&
    typeof rec.address === 'string' &&
    isMemberState(rec.state) &&
    Number.isSafeInteger(rec.incarnation) &&
    rec.incarnation >= 0 &&
    rec.incarnation < Number.MAX_SAFE_INTEGER // so that a refutation (+1) stays exact
  );
}

function byId(a: { id: string }, b: { id: string }): number {
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

interface Entry {
  id: string;
  address: string;
  state: MemberState;
  incarnation: number;
  lastHeard: number;
  stateSince: number;
  /** Last direct contact (heard()), as opposed to records learned second-hand. */
  lastDirect?: number;
}

function toRecord(e: Entry): MemberRecord {
  return { id: e.id, address: e.address, state: e.state, incarnation: e.incarnation };
}

function toView(e: Entry): MemberView {
  return {
    id: e.id,
    address: e.address,
    state: e.state,
    incarnation: e.incarnation,
    lastHeard: e.lastHeard,
    stateSince: e.stateSince,
  };
}

export class MemberTable {
  readonly selfId: string;
  private readonly opts: MemberTableOptions;
  private readonly members = new Map<string, Entry>();
  private readonly self: Entry;

  constructor(self: { id: string; address: string; incarnation: number }, opts: MemberTableOptions, now: number) {
    if (typeof self.id !== 'string' || self.id.length === 0) throw new TypeError('self.id must be a non-empty string');
    if (!Number.isSafeInteger(self.incarnation) || self.incarnation < 0) {
      throw new RangeError('self.incarnation must be a non-negative safe integer');
    }
    if (!(opts.directWindowMs > 0)) throw new RangeError('need directWindowMs > 0');
    this.selfId = self.id;
    this.opts = { directWindowMs: opts.directWindowMs };
    this.self = {
      id: self.id,
      address: self.address,
      state: 'alive',
      incarnation: self.incarnation,
      lastHeard: now,
      stateSince: now,
    };
    this.members.set(self.id, this.self);
  }

  /** Merge one record (gossip, join, members list). Returns the change if our view changed, else undefined. */
  merge(rec: MemberRecord, now: number): MemberChange | undefined {
    if (!validRecord(rec)) return undefined;
    if (rec.id === this.selfId) return this.mergeAboutSelf(rec, now);

    const cur = this.members.get(rec.id);
    if (cur === undefined) {
      const e: Entry = {
        id: rec.id,
        address: rec.address,
        state: rec.state,
        incarnation: rec.incarnation,
        lastHeard: now,
        stateSince: now,
      };
      this.members.set(e.id, e);
      return { id: e.id, from: undefined, to: e.state, record: toRecord(e) };
    }

    if (compareRecords(rec, cur) <= 0) return undefined;
    // A rumour that a member we heard from directly within directWindowMs is suspect or dead
    // (at the incarnation we know) is stale: typically a node that was cut off repeating its
    // old view after the heal. Our own evidence wins; if the member really is in trouble our
    // own detector will say so, and if the rumour is right about a restart the member's higher
    // incarnation settles it.
    if (
      rec.incarnation === cur.incarnation &&
      cur.state === 'alive' &&
      (rec.state === 'suspect' || rec.state === 'dead') &&
      cur.lastDirect !== undefined &&
      now - cur.lastDirect < this.opts.directWindowMs
    ) {
      return undefined;
    }

    const from = cur.state;
    const newIncarnation = rec.incarnation > cur.incarnation;
    cur.address = rec.address;
    cur.incarnation = rec.incarnation;
    if (rec.state !== from) {
      cur.state = rec.state;
      cur.stateSince = now;
    }
    // A new incarnation that is alive is fresh evidence the member is up (it restarted or
    // refuted a rumour just now): restart the failure-detection clock so we do not suspect
    // it again before we had a chance to probe it.
    if (newIncarnation && rec.state === 'alive' && now > cur.lastHeard) cur.lastHeard = now;
    return { id: cur.id, from, to: cur.state, record: toRecord(cur) };
  }

  /** Merge many; returns all changes (in input order). */
  mergeAll(recs: MemberRecord[], now: number): MemberChange[] {
    const out: MemberChange[] = [];
    for (const r of recs) {
      const c = this.merge(r, now);
      if (c !== undefined) out.push(c);
    }
    return out;
  }

  /** We got a direct reply/message from `id`: record it, and make it alive if it was suspect/dead. */
  heard(id: string, now: number): MemberChange | undefined {
    if (id === this.selfId) return undefined;
    const e = this.members.get(id);
    if (e === undefined) return undefined;
    if (now > e.lastHeard) e.lastHeard = now;
    e.lastDirect = now;
    // 'left' is final for its incarnation: only the member's own higher incarnation revives it.
    if (e.state !== 'suspect' && e.state !== 'dead') return undefined;
    const from = e.state;
    e.state = 'alive';
    e.stateSince = now;
    return { id, from, to: 'alive', record: toRecord(e) };
  }

  /** Self -> left (incarnation unchanged). Calling it again returns a left -> left change. */
  leave(now: number): MemberChange {
    const from = this.self.state;
    if (from !== 'left') {
      this.self.state = 'left';
      this.self.stateSince = now;
    }
    return { id: this.selfId, from, to: 'left', record: toRecord(this.self) };
  }

  /**
   * Mark another member as left at the incarnation we know (operator removing a dead node, or a
   * Leave RPC on its behalf). Undefined if unknown or already left. On selfId this is leave().
   * A member that is in fact still running will refute it with a higher incarnation.
   */
  markLeft(id: string, now: number): MemberChange | undefined {
    if (id === this.selfId) {
      return this.self.state === 'left' ? undefined : this.leave(now);
    }
    const e = this.members.get(id);
    if (e === undefined || e.state === 'left') return undefined;
    const from = e.state;
    e.state = 'left';
    e.stateSince = now;
    return { id, from, to: 'left', record: toRecord(e) };
  }

  /**
   * Forget members that have been 'left' for at least retentionMs (not self). Returns their ids.
   * Keep the retention well above the time gossip needs to reach every node: a tombstone that is
   * forgotten while some node still gossips an older alive record would let that record back in.
   */
  prune(now: number, retentionMs: number): string[] {
    const removed: string[] = [];
    for (const e of this.sortedEntries()) {
      if (e === this.self || e.state !== 'left') continue;
      if (now - e.stateSince >= retentionMs) {
        this.members.delete(e.id);
        removed.push(e.id);
      }
    }
    return removed;
  }

  get(id: string): MemberView | undefined {
    const e = this.members.get(id);
    return e === undefined ? undefined : toView(e);
  }

  /** All members including self, sorted by id. */
  list(): MemberView[] {
    return this.sortedEntries().map(toView);
  }

  /** Records to gossip (all members incl. self), sorted by id. */
  records(): MemberRecord[] {
    return this.sortedEntries().map(toRecord);
  }

  /** Every member whose state is not 'left' (dead and suspect included), sorted by id. */
  ringMembers(): string[] {
    return this.sortedEntries()
      .filter((e) => e.state !== 'left')
      .map((e) => e.id);
  }

  /** Address of a member (or undefined). */
  addressOf(id: string): string | undefined {
    return this.members.get(id)?.address;
  }

  /** A record about ourselves: refute it if it would otherwise outrank (or muddle) our own. */
  private mergeAboutSelf(rec: MemberRecord, now: number): MemberChange | undefined {
    const me = this.self;
    if (rec.incarnation < me.incarnation) return undefined;
    if (rec.incarnation === me.incarnation) {
      if (rec.state === me.state && rec.address === me.address) return undefined;
      // Ours already wins at this incarnation (e.g. we left and they still say alive): it spreads by itself.
      if (RANK[me.state] > RANK[rec.state]) return undefined;
    }
    // Refute: stay as we are (alive, or left if we are leaving) at an incarnation above the rumour.
    me.incarnation = rec.incarnation + 1;
    if (now > me.lastHeard) me.lastHeard = now;
    return { id: me.id, from: me.state, to: me.state, record: toRecord(me) };
  }

  private sortedEntries(): Entry[] {
    return [...this.members.values()].sort(byId);
  }
}
