/**
 * Hinted handoff: writes meant for a replica that could not be reached are kept here,
 * newest version per (target, key), and delivered when the target is reachable again.
 * Bounded by MAX_HINTS; beyond it the oldest hint is dropped (and counted), leaving the
 * repair to anti-entropy. Pure bookkeeping; src/replication/hint-delivery.ts delivers them.
 */

import { compareVersions } from '../hlc/hlc.js';
import type { EntryRecord } from '../store/store.js';

export class HintStore {
  private readonly byTarget = new Map<string, Map<string, EntryRecord>>();
  private count = 0;
  delivered = 0;
  dropped = 0;

  constructor(private readonly max: number) {}

  add(target: string, key: string, rec: EntryRecord): void {
    if (this.max === 0) {
      this.dropped++;
      return;
    }
    let m = this.byTarget.get(target);
    if (!m) {
      m = new Map();
      this.byTarget.set(target, m);
    }
    const cur = m.get(key);
    if (cur) {
      if (compareVersions(rec.wall, rec.logical, rec.node, cur.wall, cur.logical, cur.node) <= 0) return;
      m.delete(key); // re-insert: keeps the map in age order
    } else {
      this.count++;
    }
    m.set(key, rec);
    while (this.count > this.max) this.dropOldest();
  }

  /** Targets that have hints waiting. */
  targets(): string[] {
    return [...this.byTarget.keys()];
  }

  get pending(): number {
    return this.count;
  }

  /** Up to `limit` hints for target, oldest first (still held until ack()). */
  take(target: string, limit: number): [string, EntryRecord][] {
    const m = this.byTarget.get(target);
    if (!m) return [];
    const out: [string, EntryRecord][] = [];
    for (const e of m) {
      out.push(e);
      if (out.length >= limit) break;
    }
    return out;
  }

  /** The target confirmed `key` at `rec`'s version: forget the hint unless a newer one replaced it. */
  ack(target: string, key: string, rec: EntryRecord): void {
    const m = this.byTarget.get(target);
    if (m?.get(key) !== rec) return;
    m.delete(key);
    this.count--;
    this.delivered++;
    if (m.size === 0) this.byTarget.delete(target);
  }

  /** Forgets every hint for a target (it left the cluster for good). Returns them. */
  removeTarget(target: string): [string, EntryRecord][] {
    const m = this.byTarget.get(target);
    if (!m) return [];
    this.byTarget.delete(target);
    this.count -= m.size;
    return [...m];
  }

  private dropOldest(): void {
    // Drop from the target with the most hints: it is the one furthest behind anyway.
    let worst: Map<string, EntryRecord> | undefined;
    let worstTarget = '';
    for (const [t, m] of this.byTarget)
      if (!worst || m.size > worst.size) {
        worst = m;
        worstTarget = t;
      }
    if (!worst) return;
    const first = worst.keys().next().value as string;
    worst.delete(first);
    this.count--;
    this.dropped++;
    if (worst.size === 0) this.byTarget.delete(worstTarget);
  }
}
