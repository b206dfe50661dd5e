/**
 * Rebalance planning: after a ring change, which of this node's keys go to which nodes, and
 * when a key this node no longer replicates may be dropped. Pure: rings, keys and versions
 * in, decisions out; src/replication/rebalance.ts carries them out.
 *
 * For a key this node holds, with R(ring) its replicas on a ring:
 *  - still a replica on the new ring: send it to the members of R(new) that were not in
 *    R(old) (they have no copy yet) and to those that restarted (they lost theirs);
 *  - no longer a replica: send it to every member of R(new), then drop it here once every
 *    one of them confirmed and the key still has the version that was sent (a newer write
 *    that arrived meanwhile is not dropped; the next pass moves it);
 *  - hand-off (this node leaves; `old` is ignored): send it to every member of R(new), and
 *    drop nothing (the node is going away; its store goes with it).
 * Without an old ring every replica of the new ring counts as new, except on a warm start:
 * the first pass of a node that loaded its keys from DATA_DIR (with anti-entropy on) sends a
 * key it still replicates only to members that restarted. Its other replicas held the key
 * while it was down (a graceful leave handed every key to them), and anti-entropy and hints
 * reconcile what differs; pushing its whole share again would only repeat what they hold.
 */
import type { HashRing } from '../ring/ring.js';
import type { EntryVersion } from '../store/store.js';

export interface PlanContext {
  selfId: string;
  replicationFactor: number;
  /** The ring the last complete pass moved keys for (the node's first ring before any). */
  before: HashRing | undefined;
  after: HashRing;
  /** Members that restarted empty since the last complete pass. */
  restarted: ReadonlySet<string>;
  /** This node is leaving: every key goes to every replica on `after`. */
  handoff: boolean;
  /** The first pass after a warm start (see the contract above). */
  warm?: boolean;
}

export interface Move {
  targets: string[];
  /** Drop the key here once every target confirmed it (and its version did not change). */
  dropAfter: boolean;
}

/** Where one key goes; undefined if nowhere. */
export function planMove(key: string, ctx: PlanContext): Move | undefined {
  const self = ctx.selfId;
  const now = ctx.after.preferenceList(key, ctx.replicationFactor);
  if (ctx.handoff) {
    const targets = now.filter((n) => n !== self);
    return targets.length > 0 ? { targets, dropAfter: false } : undefined;
  }
  const stillMine = now.includes(self);
  const old = ctx.before?.preferenceList(key, ctx.replicationFactor) ?? [];
  const targets = now.filter((n) => n !== self && (!stillMine || (!ctx.warm && !old.includes(n)) || ctx.restarted.has(n)));
  return targets.length > 0 ? { targets, dropAfter: !stillMine } : undefined;
}

/** After a move with dropAfter confirmed by every target: drop only if the key still has the version that was sent. */
export function mayDrop(sent: EntryVersion, current: EntryVersion | undefined): boolean {
  return current !== undefined && current.wall === sent.wall && current.logical === sent.logical && current.node === sent.node;
}
