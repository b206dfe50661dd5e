/**
 * What counting hot keys (src/hotkeys/topk.ts) adds to a request: TopK.hit per key, on keys
 * decoded fresh from bytes as the wire codec does (so V8 hashes each key string anew, as on
 * the Get path). Baseline: the same loop without hit. Alternating rounds, medians.
 *
 *   node --import tsx scripts/bench-hotkeys.ts
 */
import { HOT_KEYS, type KeyCounter, SampledCounter, TopK } from '../src/hotkeys/topk.ts';

const N = 2_000_000;
const DISTINCT = 100_000;

/** Key indexes: Zipf(1.0)-ish over DISTINCT keys (a few hot ones, a long tail), fixed seed. */
function stream(): Uint32Array {
  let a = 12345;
  const rand = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out = new Uint32Array(N);
  for (let i = 0; i < N; i++) out[i] = Math.min(DISTINCT - 1, Math.floor(DISTINCT ** rand()) - 1);
  return out;
}

const idx = stream();
const encoded = Array.from({ length: DISTINCT }, (_, i) => Buffer.from(`user:session:${i.toString(36).padStart(6, '0')}`));

/** every = 0: no counting; 1: TopK.hit on every key; more: through SampledCounter. */
function run(every: number): number {
  const t = new TopK(HOT_KEYS, 0);
  const c: KeyCounter = every <= 1 ? t : new SampledCounter(t, every);
  let sink = 0;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) {
    const b = encoded[idx[i]!]!;
    const key = b.toString('utf8', 0, b.length);
    sink += key.length;
    if (every > 0) c.hit(key);
  }
  const ns = Number(process.hrtime.bigint() - t0) / N;
  if (sink === 0) console.log('');
  return ns;
}

const variants = [0, 1, HOT_KEYS.sampleEvery];
const times: number[][] = variants.map(() => []);
for (let round = 0; round < 7; round++) for (let i = 0; i < variants.length; i++) times[i]!.push(run(variants[i]!));
const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[xs.length >> 1]!;
const b = median(times[0]!);
console.log(`decode only: ${b.toFixed(1)} ns/key`);
variants.forEach((v, i) => {
  if (v === 0) return;
  const h = median(times[i]!);
  console.log(
    `decode + ${v === 1 ? 'TopK.hit' : `SampledCounter(1 in ${v})`}: ${h.toFixed(1)} ns/key, counting costs ${(h - b).toFixed(1)} ns/key`,
  );
});
const t = new TopK(HOT_KEYS, 0);
for (let i = 0; i < N; i++) t.hit(encoded[idx[i]!]!.toString());
console.log('top 5 of the stream:', t.top(5));
