/**
 * When a rebalance is over, read from the nodes' log lines (Stats would do: but each Stats call
 * computes the Merkle root over the whole store, a load of its own at a million keys).
 */
import type { NodeProc } from '../../test/helpers/procs.ts';

/** Where each node's log stands now: pass it to rebalanced() to look only at what comes after. */
export function logMarks(nodes: readonly NodeProc[]): number[] {
  return nodes.map((n) => n.lines.length);
}

/**
 * Resolves once some node has logged a rebalance pass since its mark, every node of `senders`
 * one without failures, and no node has logged a ring change or a pass for `quietMs`; with the keys the passes
 * sent, and when the last of them ended (performance.now()). Rejects after `maxMs`.
 */
export async function rebalanced(
  nodes: readonly NodeProc[],
  marks: readonly number[],
  senders: readonly NodeProc[],
  quietMs = 2_000,
  maxMs = 300_000,
): Promise<{ sent: number; lastAt: number }> {
  const started = performance.now();
  const counts = nodes.map((n) => n.lines.length);
  let lastAt = performance.now();
  for (;;) {
    nodes.forEach((n, i) => {
      if (n.lines.length !== counts[i]) {
        const fresh = n.lines.slice(counts[i]);
        counts[i] = n.lines.length;
        if (fresh.some((l) => l.includes('rebalance pass done') || l.includes('ring changed'))) lastAt = performance.now();
      }
    });
    const passes = (n: NodeProc) => n.lines.slice(marks[nodes.indexOf(n)]).filter((l) => l.includes('rebalance pass done'));
    const done = senders.every((n) => passes(n).some((l) => /"failed":0\b/.test(l))) && nodes.some((n) => passes(n).length > 0);
    if (done && performance.now() - lastAt >= quietMs) {
      const sent = nodes.flatMap(passes).reduce((a, l) => a + Number(/"sent":(\d+)/.exec(l)?.[1] ?? 0), 0);
      return { sent, lastAt };
    }
    if (performance.now() - started > maxMs) throw new Error(`rebalancing not over after ${maxMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
