/**
 * Anti-entropy's Merkle trees kept up to date on every change of the store, instead of built
 * by scanning it for each round. Pure: the store's changes, placements and scanned parts in;
 * trees out.
 *
 * What the trees hold (the contract; test/unit/live-trees.test.ts checks it against trees
 * built by scanning, src/antientropy/trees.ts):
 *  - the whole tree: an item (key, wall, logical, node, tombstone) for every entry the store
 *    holds that no flush covers, tombstones included;
 *  - the tree of peer P: those of them whose position P shares with this node (SharedPlacement).
 *  An entry past its expiry stays in until the store reclaims it (and says so), so the trees
 *  equal the scanned ones (which skip dead entries) once every due entry is reclaimed: the
 *  caller sweeps the store before it reads a tree.
 * Only the trees' leaf buckets are kept (MerkleLeaves; the inner nodes are computed when a
 * tree is read). Maintenance (one XOR into one bucket per tree the key is in, the item's
 * digest computed once; the key's position is the one the store hands its observers, computed
 * here only when not given):
 *  - applied(key, rec, prev): prev out (unless a flush covers it: it is not in), rec in
 *    (unless it is a tombstone and tombstones are not kept: it only removed prev);
 *  - removed (expired, grace over, evicted, dropped): the item out, unless a flush covers it;
 *  - a new flush, or a new ring: the trees are rebuilt (rebuild()), by a scan in parts
 *    (Store.heldInPart). While one runs there are no trees to read; a change of a key in a
 *    part already scanned goes into the new trees, one in a part not yet scanned is left to
 *    the scan, which will see the key as it is then.
 */
import { keyLaneLo, MerkleLeaves, NodeLanes, xorDigest } from '../merkle/merkle.js';
import { keyPosition } from '../ring/ring.js';
import type { EntryVersion } from '../store/store.js';
import type { SharedPlacement } from './placement.js';

/** The trees of one placement. */
export interface TreeSet {
  readonly placement: SharedPlacement;
  readonly whole: MerkleLeaves;
  /** peers[i]: the tree shared with placement.peers[i]. */
  readonly peers: readonly MerkleLeaves[];
}

export interface LiveTreesOptions {
  depth: number;
  /** Whether the store keeps tombstones (a tombstone grace > 0). */
  keepsTombstones: boolean;
  /** Whether a flush covers this version of key. */
  covered: (key: string, wall: number, logical: number, node: string) => boolean;
  /** The part of key when the store is cut with `bits` (Store.partOf). */
  partOf: (key: string, bits: number) => number;
}

interface Rebuild {
  set: TreeSet;
  bits: number;
  parts: number;
  /** parts below this one are scanned */
  next: number;
}

export class LiveTrees {
  private ready: TreeSet | undefined;
  private building: Rebuild | undefined;
  private readonly d = new Uint32Array(2);
  private readonly nodes = new NodeLanes();

  constructor(private readonly opts: LiveTreesOptions) {}

  /** The trees, or undefined while a rebuild runs (or before the first). */
  get trees(): TreeSet | undefined {
    return this.ready;
  }

  /** Starts a rebuild for `placement` over `parts` parts cut with `bits` (the current trees are dropped); scanned() feeds it. */
  rebuild(placement: SharedPlacement, bits: number, parts: number): void {
    const depth = this.opts.depth;
    const set = { placement, whole: new MerkleLeaves(depth), peers: placement.peers.map(() => new MerkleLeaves(depth)) };
    this.ready = undefined;
    this.building = { set, bits, parts, next: 0 };
    if (parts === 0) this.finish();
  }

  /** The next part to scan for the rebuild under way, or -1 if none runs. */
  get nextPart(): number {
    return this.building?.next ?? -1;
  }

  /** The bits the rebuild under way cuts the store with. */
  get partBits(): number {
    return this.building?.bits ?? 0;
  }

  /** The entries of part `part` (which must be nextPart), as Store.heldInPart gives them, scanned in one go. */
  scanned(part: number, entries: Iterable<[string, EntryVersion]>): void {
    const b = this.building;
    if (b === undefined || part !== b.next)
      throw new RangeError(`part ${part} is not the next part of a rebuild (${b?.next ?? 'none runs'})`);
    for (const [key, v] of entries) {
      if (this.opts.covered(key, v.wall, v.logical, v.node)) continue;
      this.change(b.set, key, keyPosition(key), undefined, v);
    }
    if (++b.next === b.parts) this.finish();
  }

  /** A change the store applied (StoreObserver.applied); `position`: keyPosition(key), which the store hands its observers. */
  applied(key: string, rec: EntryVersion, prev: EntryVersion | undefined, position = keyPosition(key)): void {
    const set = this.target(key);
    if (set === undefined) return;
    const out = prev !== undefined && !this.opts.covered(key, prev.wall, prev.logical, prev.node) ? prev : undefined;
    const into = rec.tombstone && !this.opts.keepsTombstones ? undefined : rec;
    this.change(set, key, position, out, into);
  }

  /** An entry the store removed (StoreObserver.removed); `position` as for applied. */
  removed(key: string, wall: number, logical: number, node: string, tombstone: boolean, position = keyPosition(key)): void {
    const set = this.target(key);
    if (set === undefined || this.opts.covered(key, wall, logical, node)) return;
    const d = this.d;
    d[0] = 0;
    d[1] = 0;
    xorDigest(d, position, keyLaneLo(key), this.nodes.of(node), wall, logical, tombstone);
    this.xorInto(set, position);
  }

  private finish(): void {
    this.ready = this.building?.set;
    this.building = undefined;
  }

  /** The trees a change of key goes into: the ready ones, or the rebuild's if key's part is scanned. */
  private target(key: string): TreeSet | undefined {
    if (this.ready !== undefined) return this.ready;
    const b = this.building;
    if (b === undefined || this.opts.partOf(key, b.bits) >= b.next) return undefined;
    return b.set;
  }

  private change(set: TreeSet, key: string, position: number, prev: EntryVersion | undefined, next: EntryVersion | undefined): void {
    if (prev === undefined && next === undefined) return;
    const d = this.d;
    d[0] = 0;
    d[1] = 0;
    const kLo = keyLaneLo(key);
    if (prev !== undefined) xorDigest(d, position, kLo, this.nodes.of(prev.node), prev.wall, prev.logical, prev.tombstone);
    if (next !== undefined) xorDigest(d, position, kLo, this.nodes.of(next.node), next.wall, next.logical, next.tombstone);
    this.xorInto(set, position);
  }

  private xorInto(set: TreeSet, position: number): void {
    const hi = this.d[0]!;
    const lo = this.d[1]!;
    set.whole.xorAt(position, hi, lo);
    const shared = set.placement.peersAt(position);
    for (let i = 0; i < shared.length; i++) set.peers[shared[i]!]!.xorAt(position, hi, lo);
  }
}
