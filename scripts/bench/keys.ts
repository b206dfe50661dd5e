/** Key choosers for the load generator: uniform, and Zipf by precomputed CDF + binary search (O(log n)). */

export type KeyChooser = () => number;

export function uniform(n: number): KeyChooser {
  return () => Math.floor(Math.random() * n);
}

/**
 * Zipf over ranks 0..n-1 with P(rank k) proportional to 1/(k+1)^s. Rank k is key index k
 * (key names are hashed onto the ring, so the hottest keys land on arbitrary nodes).
 */
export function zipf(n: number, s: number): KeyChooser {
  const cdf = new Float64Array(n);
  let acc = 0;
  for (let k = 0; k < n; k++) {
    acc += 1 / (k + 1) ** s;
    cdf[k] = acc;
  }
  const total = acc;
  return () => {
    const u = Math.random() * total;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cdf[mid] < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

/** Share of samples that fall on the `top` hottest ranks (for the report). */
export function zipfTopShare(n: number, s: number, top: number): number {
  let all = 0;
  let head = 0;
  for (let k = 0; k < n; k++) {
    const w = 1 / (k + 1) ** s;
    all += w;
    if (k < top) head += w;
  }
  return head / all;
}
