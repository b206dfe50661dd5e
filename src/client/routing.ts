/**
 * The client's view of the cluster (from a MembersResponse) and the order in which it tries
 * addresses for a call. Pure: health information is passed in.
 */

import { MemberState } from '../protos/generated/public/cache/v1/MemberState.js';
import type { MembersResponse__Output } from '../protos/generated/public/cache/v1/MembersResponse.js';
import { HashRing } from '../ring/ring.js';

/** cache.v1.MemberState names, indexed by number. */
export const MEMBER_STATES = ['unspecified', 'alive', 'suspect', 'dead', 'left'] as const;
export type MemberStateName = (typeof MEMBER_STATES)[number];

const { MEMBER_STATE_SUSPECT: STATE_SUSPECT, MEMBER_STATE_DEAD: STATE_DEAD, MEMBER_STATE_LEFT: STATE_LEFT } = MemberState;

/** What the view is built from: a MembersResponse (src/protos). */
export type MembersWire = Pick<MembersResponse__Output, 'members' | 'ring_version' | 'replication_factor' | 'vnodes'>;

export interface ViewMember {
  nodeId: string;
  address: string;
  state: number;
}

/** A ring built the way the nodes build theirs: every non-LEFT member, `vnodes` points each. */
export class RingView {
  readonly ring: HashRing;
  readonly ringVersion: string;
  readonly replicationFactor: number;
  readonly vnodes: number;
  /** node id -> member (every member, LEFT ones included). */
  readonly members: ReadonlyMap<string, ViewMember>;

  private constructor(ring: HashRing, ringVersion: string, rf: number, vnodes: number, members: Map<string, ViewMember>) {
    this.ring = ring;
    this.ringVersion = ringVersion;
    this.replicationFactor = rf;
    this.vnodes = vnodes;
    this.members = members;
  }

  /**
   * Builds a view from a Members answer; reuses `previous`'s ring when the node set and vnodes
   * are unchanged. Undefined if the answer cannot be routed with (no vnodes, no members).
   */
  static from(res: MembersWire, previous?: RingView): RingView | undefined {
    const { vnodes, replication_factor: rf } = res;
    if (!Number.isInteger(vnodes) || vnodes < 1 || vnodes > 65_536 || !Number.isInteger(rf) || rf < 1) return undefined;
    const members = new Map<string, ViewMember>();
    for (const m of res.members) {
      if (!m.node_id || !m.address) continue;
      members.set(m.node_id, { nodeId: m.node_id, address: m.address, state: m.state });
    }
    const ids = [...members.values()]
      .filter((m) => m.state !== STATE_LEFT)
      .map((m) => m.nodeId)
      .sort();
    if (ids.length === 0) return undefined;
    let ring: HashRing;
    if (previous && previous.vnodes === vnodes && sameIds(previous.ring.nodes(), ids)) {
      ring = previous.ring;
    } else {
      ring = new HashRing(vnodes);
      for (const id of ids) ring.add(id);
    }
    return new RingView(ring, res.ring_version, rf, vnodes, members);
  }

  /** The key's replicas in preference order. */
  replicas(key: string): ViewMember[] {
    return this.ring.preferenceList(key, this.replicationFactor).map((id) => this.members.get(id)!);
  }

  /** Addresses of members that are not LEFT. */
  addresses(): string[] {
    return [...this.members.values()].filter((m) => m.state !== STATE_LEFT).map((m) => m.address);
  }
}

function sameIds(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** 0 = try first, 1 = doubtful, 2 = known trouble (try last). */
export type Rank = 0 | 1 | 2;

export interface Candidate {
  address: string;
  replica: boolean;
}

/**
 * The order in which addresses are tried for a call.
 *  - With a view and a key: the key's replicas in preference order, then the other members,
 *    then the seeds (any node coordinates any key, a non-replica only costs a hop).
 *  - Without a key (Members, Stats) or without a view: the seeds, then the members.
 * Each address is then ranked: 0 normally; 1 if the view says SUSPECT; 2 if the view says DEAD
 * or `health` says the address failed recently. A stable sort on the rank keeps the
 * preference order within a rank, so a healthy replica always comes before a healthy
 * non-replica and a troubled replica after both.
 */
export function candidates(
  view: RingView | undefined,
  key: string | undefined,
  seeds: readonly string[],
  health: (address: string) => Rank,
): Candidate[] {
  const out: (Candidate & { rank: Rank; i: number })[] = [];
  const seen = new Set<string>();
  const stateOf = new Map<string, number>();
  if (view) for (const m of view.members.values()) stateOf.set(m.address, m.state);
  const push = (address: string, replica: boolean) => {
    if (seen.has(address)) return;
    seen.add(address);
    const s = stateOf.get(address);
    const viewRank: Rank = s === STATE_DEAD || s === STATE_LEFT ? 2 : s === STATE_SUSPECT ? 1 : 0;
    const rank = Math.max(viewRank, health(address)) as Rank;
    out.push({ address, replica, rank, i: out.length });
  };
  if (view && key !== undefined) {
    for (const r of view.replicas(key)) push(r.address, true);
    for (const a of view.addresses()) push(a, false);
    for (const s of seeds) push(s, false);
  } else {
    for (const s of seeds) push(s, false);
    if (view) for (const a of view.addresses()) push(a, false);
  }
  out.sort((a, b) => a.rank - b.rank || a.i - b.i);
  return out.map(({ address, replica }) => ({ address, replica }));
}
