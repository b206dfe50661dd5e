/**
 * Consistent hash ring with virtual nodes.
 *
 * Placement rule (the same on every process):
 *  - A key's position is `keyPosition(key)` = hash32(key), a uint32.
 *  - Each node owns `vnodesPerNode` points; point i of node `id` sits at the first 4 bytes
 *    (big-endian) of sha1(`${id}#${i}`). These are computed once per node, when it is added.
 *  - Points are ordered by (position, node id, i), so ties between nodes are broken by node id
 *    (plain string order, i.e. UTF-16 code units, like Array.prototype.sort).
 *  - A key belongs to the first point whose position is STRICTLY greater than the key's
 *    position, wrapping around to the first point. So the point at position p owns the
 *    half-open arc [previous point's position, p), which is what `ranges()` reports.
 *  - The preference list walks clockwise from that point collecting distinct nodes.
 *
 * Pure: no I/O, no timers. Lookup structures are rebuilt lazily on the first query after
 * a membership change.
 */
import { createHash } from 'node:crypto';
import { hash32 } from '../hash/hash.js';

/** Position of a key on the ring (uint32). Use this everywhere a key must be placed. */
export function keyPosition(key: string): number {
  return hash32(key);
}

/** One arc of the ring, see `HashRing.ranges`. */
export interface RingRange {
  /** First position of the arc (inclusive), uint32. */
  start: number;
  /** End of the arc (exclusive), uint32. If end <= start the arc wraps past 2^32 - 1 to 0;
   *  start === end means the whole ring (only when a single range is returned). */
  end: number;
  /** Preference list of every position in the arc. */
  replicas: string[];
}

/** True if `position` lies in `range` (handles wrapping and whole-ring ranges). */
export function rangeContains(range: { start: number; end: number }, position: number): boolean {
  const { start, end } = range;
  if (start < end) return position >= start && position < end;
  return position >= start || position < end; // wrapping, or whole ring when start === end
}

/** Number of positions in a range (2^32 for the whole ring). */
export function rangeLength(range: { start: number; end: number }): number {
  return range.start < range.end ? range.end - range.start : 0x1_0000_0000 - range.start + range.end;
}

/** Point position i of a node: first 4 bytes of sha1(`${nodeId}#${i}`), big-endian. */
function vnodePositions(nodeId: string, count: number): Uint32Array {
  const out = new Uint32Array(count);
  for (let i = 0; i < count; i++) {
    out[i] = createHash('sha1').update(`${nodeId}#${i}`, 'utf8').digest().readUInt32BE(0);
  }
  return out;
}

/** Upper bound of the number of distinct `n` values whose preference lists are cached. */
const MAX_CACHED_N = 8;

export class HashRing {
  readonly vnodesPerNode: number;

  /** nodeId -> its point positions (index = vnode number). */
  private readonly members = new Map<string, Uint32Array>();

  // --- derived state, rebuilt lazily (see ensure()) ---
  private dirty = false;
  /** Sorted node ids. */
  private ids: string[] = [];
  /** Sorted point positions. */
  private positions = new Uint32Array(0);
  /** owners[k] = index into `ids` of the node owning point k. */
  private owners = new Int32Array(0);
  /** Jump table: jump[b] = index of the first point with position >= b << jumpShift
   *  (b = 0..2^jumpBits; the last entry is the number of points). Narrows the binary search. */
  private jump = new Uint32Array(3);
  private jumpShift = 31;
  /** Per effective n (1..size): lazily filled preference list of each point. */
  private prefCache = new Map<number, Array<readonly string[] | undefined>>();
  /** Scratch marks used while walking (one slot per node). */
  private seen = new Uint32Array(0);
  private epoch = 0;
  private versionCache: string | undefined;

  constructor(vnodesPerNode: number) {
    if (!Number.isInteger(vnodesPerNode) || vnodesPerNode < 1 || vnodesPerNode > 65_536) {
      throw new RangeError(`vnodesPerNode must be an integer in 1..65536, got ${vnodesPerNode}`);
    }
    this.vnodesPerNode = vnodesPerNode;
  }

  /** Adds a node; false if it is already present. */
  add(nodeId: string): boolean {
    if (this.members.has(nodeId)) return false;
    this.members.set(nodeId, vnodePositions(nodeId, this.vnodesPerNode));
    this.invalidate();
    return true;
  }

  /** Removes a node; false if it is absent. */
  remove(nodeId: string): boolean {
    if (!this.members.delete(nodeId)) return false;
    this.invalidate();
    return true;
  }

  has(nodeId: string): boolean {
    return this.members.has(nodeId);
  }

  /** Node ids, sorted (a fresh array). */
  nodes(): string[] {
    this.ensure();
    return this.ids.slice();
  }

  /** Number of nodes. */
  get size(): number {
    return this.members.size;
  }

  /**
   * First `n` distinct nodes clockwise from the key's position; fewer if the ring has fewer
   * nodes, [] if it is empty or n < 1. Depends only on the membership, not on insertion order.
   * Returns a fresh array the caller may keep or modify.
   */
  preferenceList(key: string, n: number): string[] {
    return this.preferenceListAt(hash32(key), n);
  }

  /** Same as preferenceList, for a position already computed with keyPosition(). */
  preferenceListAt(position: number, n: number): string[] {
    this.ensure();
    const len = this.positions.length;
    if (len === 0 || !(n >= 1)) return [];
    const k = this.pointAt(position);
    const m = Math.min(Math.floor(n), this.ids.length);
    return this.cachedList(k, m).slice();
  }

  /** Whether `node` is in key's preference list of n nodes (= preferenceList(key, n).includes(node)) without allocating. */
  inPreferenceList(key: string, n: number, node: string): boolean {
    this.ensure();
    if (this.positions.length === 0 || !(n >= 1)) return false;
    return this.cachedList(this.pointAt(hash32(key)), Math.min(Math.floor(n), this.ids.length)).includes(node);
  }

  /** Primary owner of a key (= preferenceList(key, 1)[0]) without allocating; undefined if empty. */
  primary(key: string): string | undefined {
    return this.primaryAt(hash32(key));
  }

  /** Same as primary, for a position already computed with keyPosition(). */
  primaryAt(position: number): string | undefined {
    this.ensure();
    if (this.positions.length === 0) return undefined;
    return this.ids[this.owners[this.pointAt(position)]!];
  }

  /**
   * Deterministic id of the membership: hex sha1 over the sorted node ids (each prefixed by its
   * length). Equal on two processes iff they hold the same node set. (It does not cover
   * vnodesPerNode: all processes are expected to use the same value.)
   */
  get version(): string {
    this.ensure();
    if (this.versionCache === undefined) {
      const h = createHash('sha1');
      for (const id of this.ids) h.update(`${id.length}:${id}`, 'utf8');
      this.versionCache = h.digest('hex');
    }
    return this.versionCache;
  }

  /**
   * The ring cut into arcs [start, end) of uint32 positions, each with the preference list of
   * n nodes shared by all its positions. Adjacent arcs with the same list are merged. The arcs
   * are sorted by start and cover the ring exactly once; the last one may wrap (end <= start),
   * and a single arc with start === end covers the whole ring. [] for an empty ring.
   */
  ranges(n: number): RingRange[] {
    this.ensure();
    const pos = this.positions;
    const len = pos.length;
    if (len === 0) return [];
    const m = Math.max(1, Math.min(Math.floor(n) || 1, this.ids.length));

    // One arc per distinct point position p: [previous distinct position, p), owned by the
    // first point (in sort order) at p. Walk in ring order starting with the arc ending at
    // the lowest position (it starts at the highest position, i.e. it wraps).
    const arcs: RingRange[] = [];
    let prevPos = pos[len - 1]!;
    for (let k = 0; k < len; k++) {
      const p = pos[k]!;
      if (k > 0 && p === pos[k - 1]) continue; // tied points after the first own nothing
      const replicas = this.cachedList(k, m);
      const last = arcs[arcs.length - 1];
      if (last !== undefined && sameList(last.replicas, replicas)) {
        last.end = p;
      } else {
        arcs.push({ start: prevPos, end: p, replicas: replicas as string[] });
      }
      prevPos = p;
    }
    // Join the tail onto the head if they carry the same list (the head is the wrapping arc).
    if (arcs.length > 1 && sameList(arcs[0]!.replicas, arcs[arcs.length - 1]!.replicas)) {
      arcs[0]!.start = arcs.pop()!.start;
    }
    // Rotate so the arcs are sorted by start: the (possibly) wrapping head goes last.
    if (arcs.length > 1) arcs.push(arcs.shift()!);
    return arcs.map((a) => ({ start: a.start, end: a.end, replicas: a.replicas.slice() }));
  }

  // ---------------------------------------------------------------------------------------

  private invalidate(): void {
    this.dirty = true;
    this.versionCache = undefined;
  }

  /** Index of the first point with position > `position`, wrapping to 0. Ring must be non-empty. */
  private pointAt(position: number): number {
    const pos = this.positions;
    position >>>= 0;
    const b = position >>> this.jumpShift;
    let lo = this.jump[b]!;
    let hi = this.jump[b + 1]!;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (pos[mid]! <= position) lo = mid + 1;
      else hi = mid;
    }
    return lo === pos.length ? 0 : lo;
  }

  /** Preference list of m (1..size) distinct nodes starting at point k, cached. */
  private cachedList(k: number, m: number): readonly string[] {
    let lists = this.prefCache.get(m);
    if (lists === undefined) {
      if (this.prefCache.size >= MAX_CACHED_N) this.prefCache.clear();
      lists = new Array<readonly string[] | undefined>(this.positions.length);
      this.prefCache.set(m, lists);
    }
    let list = lists[k];
    if (list === undefined) {
      list = this.walk(k, m);
      lists[k] = list;
    }
    return list;
  }

  /** Walks clockwise from point k collecting m distinct nodes (m <= number of nodes). */
  private walk(k: number, m: number): string[] {
    const out: string[] = [];
    const owners = this.owners;
    const len = owners.length;
    if (++this.epoch === 0xffff_ffff) {
      this.seen.fill(0);
      this.epoch = 1;
    }
    const epoch = this.epoch;
    for (let step = 0; step < len && out.length < m; step++) {
      const o = owners[(k + step) % len]!;
      if (this.seen[o] !== epoch) {
        this.seen[o] = epoch;
        out.push(this.ids[o]!);
      }
    }
    return out;
  }

  private ensure(): void {
    if (!this.dirty) return;
    this.dirty = false;
    this.prefCache = new Map();
    const ids = [...this.members.keys()].sort();
    const v = this.vnodesPerNode;
    const total = ids.length * v;
    const allPos = new Uint32Array(total);
    for (let j = 0; j < ids.length; j++) allPos.set(this.members.get(ids[j]!)!, j * v);
    // Point t = node (t / v), vnode (t % v); sort by (position, node id, vnode number).
    const order = new Uint32Array(total);
    for (let t = 0; t < total; t++) order[t] = t;
    order.sort((a, b) => allPos[a]! - allPos[b]! || a - b);
    const positions = new Uint32Array(total);
    const owners = new Int32Array(total);
    for (let k = 0; k < total; k++) {
      const t = order[k]!;
      positions[k] = allPos[t]!;
      owners[k] = Math.floor(t / v);
    }
    // Jump table with about one bucket per point (at least 2, at most 2^16 buckets).
    let bits = 1;
    while (bits < 16 && 1 << bits < total) bits++;
    const shift = 32 - bits;
    const buckets = 1 << bits;
    const jump = new Uint32Array(buckets + 1);
    let k = 0;
    for (let b = 0; b < buckets; b++) {
      const bucketStart = b * 2 ** shift;
      while (k < total && positions[k]! < bucketStart) k++;
      jump[b] = k;
    }
    jump[buckets] = total;
    this.jump = jump;
    this.jumpShift = shift;
    this.ids = ids;
    this.positions = positions;
    this.owners = owners;
    this.seen = new Uint32Array(ids.length);
    this.epoch = 0;
  }
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
