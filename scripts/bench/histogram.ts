/**
 * Log-linear latency histogram (HDR-like), values in microseconds.
 * Values below 2*SUB are exact; above, each power of two is split into SUB buckets,
 * so a recorded value is off by at most 1/SUB (0.8%). Recording is O(1), no allocation.
 */
const SUB_BITS = 7;
const SUB = 1 << SUB_BITS; // 128 buckets per power of two
const MAX_US = 2 ** 31 - 1; // ~36 minutes; larger values are clamped

function indexOf(v: number): number {
  if (v < 2 * SUB) return v;
  const e = 31 - Math.clz32(v) - SUB_BITS; // >= 1
  return 2 * SUB + (e - 1) * SUB + ((v >>> e) - SUB);
}

/** Middle of the value range a bucket stands for. */
function bucketValue(idx: number): number {
  if (idx < 2 * SUB) return idx;
  const e = Math.floor((idx - 2 * SUB) / SUB) + 1;
  const m = ((idx - 2 * SUB) % SUB) + SUB;
  return m * 2 ** e + (2 ** e - 1) / 2;
}

export class Histogram {
  readonly counts = new Float64Array(indexOf(MAX_US) + 1);
  count = 0;
  sum = 0;
  min = Infinity;
  max = 0;

  record(us: number): void {
    const v = us < 0 ? 0 : us > MAX_US ? MAX_US : Math.round(us);
    this.counts[indexOf(v)]++;
    this.count++;
    this.sum += v;
    if (v < this.min) this.min = v;
    if (v > this.max) this.max = v;
  }

  /** Nearest-rank percentile (q in 0..1), in microseconds; 0 when empty. */
  percentile(q: number): number {
    if (this.count === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i];
      if (seen >= rank) return Math.min(Math.max(bucketValue(i), this.min), this.max);
    }
    return this.max;
  }

  mean(): number {
    return this.count === 0 ? 0 : this.sum / this.count;
  }

  merge(o: Histogram): void {
    for (let i = 0; i < this.counts.length; i++) this.counts[i] += o.counts[i];
    this.count += o.count;
    this.sum += o.sum;
    if (o.min < this.min) this.min = o.min;
    if (o.max > this.max) this.max = o.max;
  }
}
