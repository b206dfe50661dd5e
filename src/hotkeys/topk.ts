/**
 * The keys a node serves most: the Space-Saving algorithm (Metwally, Agrawal, El Abbadi,
 * "Efficient computation of frequent and top-k elements in data streams", 2005) with decay.
 *
 * Contract:
 *  - At most `capacity` keys are tracked (memory is bounded by capacity keys, whatever the
 *    stream). hit(key, w) (w = 1 by default; w requests at once) on a tracked key adds w to its
 *    count; on an untracked key with a free counter it starts at w with error 0; otherwise the
 *    key takes over the counter with the smallest count c (the old key is forgotten) and starts
 *    at c + w with error c.
 *  - Error bound: for every tracked key, count - error <= true count <= count, where the true
 *    count is the key's hits, each weighted by its decay (below). An untracked key's true count
 *    is 0 while a counter is free, then at most the smallest tracked count, itself at most
 *    (total weighted hits) / capacity: any key with more than that share is tracked.
 *  - Decay: tick(now) halves every count and error once per `windowMs` elapsed since the last
 *    halving (so a hit's weight is 2^-(halvings since it), and a key that stops being hot fades
 *    out). Time (ms) is passed in; nothing decays between ticks, so the caller ticks several
 *    times per window (a tick late by d ms halves hits up to d ms younger than the window). Scaling every count by one factor keeps both bounds and the heap order.
 *  - top(n): the n tracked keys with the largest counts, largest first (ties: key order), and
 *    only those with a count of at least 1/2 (a key decayed below that is no longer hot; its
 *    counter is among the first to be taken over), each with its count and error rounded
 *    outwards to whole numbers (count up, count - error down) so that the bound still holds.
 *
 * Cost per hit: one Map lookup plus a sift in a min-heap of `capacity` slots (log2 capacity
 * steps at most, usually none); no allocation for a tracked key. About 200 ns on a long-tailed
 * stream of fresh key strings (scripts/bench-hotkeys.ts), mostly the Map's hashing and the
 * take-overs: a node counts through SampledCounter (below), 1 request in `every`, weight
 * `every`, so the bounds hold for the sampled stream and in expectation for the real one.
 *
 * Pure: no I/O, no timers.
 */

export interface HotKey {
  key: string;
  /** Upper bound of the key's (decayed) hits. */
  count: number;
  /** count - error is a lower bound of the key's (decayed) hits. */
  error: number;
}

export interface TopKOptions {
  /** Counters (keys tracked at once); the top keys reported should be well below it. */
  capacity: number;
  /** Counts halve once per window; 0 = never. */
  windowMs: number;
}

export class TopK {
  private readonly capacity: number;
  private readonly windowMs: number;
  /** key -> slot. */
  private readonly slots = new Map<string, number>();
  private readonly keys: string[] = [];
  private readonly counts: Float64Array;
  private readonly errors: Float64Array;
  /** Min-heap of slots by count: heap[0] is the slot with the smallest count. */
  private readonly heap: Int32Array;
  /** slot -> its position in heap. */
  private readonly pos: Int32Array;
  private size = 0;
  private windowStart: number;

  constructor(opts: TopKOptions, nowMs: number) {
    if (!Number.isInteger(opts.capacity) || opts.capacity < 1) throw new RangeError('capacity must be a whole number >= 1');
    if (!(opts.windowMs >= 0)) throw new RangeError('windowMs must be >= 0');
    this.capacity = opts.capacity;
    this.windowMs = opts.windowMs;
    this.counts = new Float64Array(opts.capacity);
    this.errors = new Float64Array(opts.capacity);
    this.heap = new Int32Array(opts.capacity);
    this.pos = new Int32Array(opts.capacity);
    this.windowStart = nowMs;
  }

  /** Keys tracked now (at most capacity). */
  get tracked(): number {
    return this.size;
  }

  /** `weight` requests (default 1) for `key`. */
  hit(key: string, weight = 1): void {
    const slot = this.slots.get(key);
    if (slot !== undefined) {
      this.counts[slot]! += weight;
      this.siftDown(this.pos[slot]!);
      return;
    }
    if (this.size < this.capacity) {
      const s = this.size++;
      this.keys[s] = key;
      this.counts[s] = weight;
      this.errors[s] = 0;
      this.heap[s] = s;
      this.pos[s] = s;
      this.slots.set(key, s);
      this.siftUp(s);
      return;
    }
    const s = this.heap[0]!;
    this.slots.delete(this.keys[s]!);
    this.slots.set(key, s);
    this.keys[s] = key;
    const min = this.counts[s]!;
    this.errors[s] = min;
    this.counts[s] = min + weight;
    this.siftDown(0);
  }

  /** Halves every count and error once per whole window elapsed since the last halving. */
  tick(nowMs: number): void {
    if (this.windowMs === 0 || nowMs - this.windowStart < this.windowMs) return;
    const windows = Math.floor((nowMs - this.windowStart) / this.windowMs);
    this.windowStart += windows * this.windowMs;
    const factor = windows >= 1100 ? 0 : 2 ** -windows; // 2^-1100 is below any double's reach
    // One factor for every count keeps the heap order, and the bounds (they are linear).
    for (let s = 0; s < this.size; s++) {
      this.counts[s]! *= factor;
      this.errors[s]! *= factor;
    }
  }

  /** The n most requested tracked keys, largest count first. */
  top(n: number): HotKey[] {
    const order: number[] = [];
    for (let s = 0; s < this.size; s++) if (this.counts[s]! >= 0.5) order.push(s);
    order.sort((a, b) => this.counts[b]! - this.counts[a]! || (this.keys[a]! < this.keys[b]! ? -1 : 1));
    return order.slice(0, Math.max(0, n)).map((s) => {
      const c = this.counts[s]!;
      const count = Math.ceil(c);
      const lower = Math.max(0, Math.floor(c - this.errors[s]!));
      return { key: this.keys[s]!, count, error: count - lower };
    });
  }

  private less(i: number, j: number): boolean {
    return this.counts[this.heap[i]!]! < this.counts[this.heap[j]!]!;
  }

  private swap(i: number, j: number): void {
    const a = this.heap[i]!;
    const b = this.heap[j]!;
    this.heap[i] = b;
    this.heap[j] = a;
    this.pos[b] = i;
    this.pos[a] = j;
  }

  private siftUp(i: number): void {
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(i, p)) return;
      this.swap(i, p);
      i = p;
    }
  }

  private siftDown(i: number): void {
    for (;;) {
      const l = 2 * i + 1;
      if (l >= this.size) return;
      const r = l + 1;
      const m = r < this.size && this.less(r, l) ? r : l;
      if (!this.less(m, i)) return;
      this.swap(i, m);
      i = m;
    }
  }
}

/** A key as shown to operators: at most `max` characters (whole code points), with … when cut. */
export function shownKey(key: string, max = 200): string {
  if (key.length <= max) return key;
  let cut = max - 1;
  // Do not split a surrogate pair.
  const c = key.charCodeAt(cut - 1);
  if (c >= 0xd800 && c <= 0xdbff) cut--;
  return `${key.slice(0, cut)}…`;
}

/** What the request handlers see of the top-k: one call per key a client call asks for. */
export interface KeyCounter {
  hit(key: string): void;
}

/**
 * Counts a random 1 in `every` hits, each with weight `every` (an unbiased estimate of every
 * key's count: a key with n requests is counted n ± about sqrt(n * every)). Random rather
 * than every N-th, so a client that cycles through N keys is not seen as hitting one of them:
 * each hit is counted with probability 1/every, drawn as geometric gaps between counted hits
 * (the same distribution), so a hit that is not counted costs one decrement.
 */
export class SampledCounter implements KeyCounter {
  private skip: number;
  private readonly logKeep: number;

  constructor(
    private readonly topk: TopK,
    private readonly every: number,
    private readonly random: () => number = Math.random,
  ) {
    if (!Number.isInteger(every) || every < 1) throw new RangeError('every must be a whole number >= 1');
    this.logKeep = Math.log(1 - 1 / every);
    this.skip = this.gap();
  }

  hit(key: string): void {
    if (--this.skip > 0) return;
    this.topk.hit(key, this.every);
    this.skip = this.gap();
  }

  /** Hits until the next counted one, counted one included: geometric with p = 1/every. */
  private gap(): number {
    if (this.every === 1) return 1;
    const u = 1 - this.random(); // (0, 1]
    return Math.max(1, Math.ceil(Math.log(u) / this.logKeep));
  }
}

/** A node's settings: counters kept, keys shown (Stats, cachectl, the metric), decay window, 1 hit in sampleEvery counted. */
export const HOT_KEYS = { capacity: 64, shown: 10, windowMs: 60_000, sampleEvery: 8 } as const;

/** The `n` hottest keys as shown to operators (keys cut by shownKey). */
export function hottest(t: TopK, n: number): HotKey[] {
  return t.top(n).map((h) => ({ ...h, key: shownKey(h.key) }));
}
