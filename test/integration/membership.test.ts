/**
 * SWIM failure detection between real node processes on loopback (src/membership/swim.ts as
 * membership.ts runs it): each node probes one member per HEARTBEAT_INTERVAL whatever the
 * cluster size (not every member, as all-to-all heartbeats did); a member that stops
 * answering is probed through others (PingReq), suspected and declared DEAD everywhere; when
 * it answers again it refutes and is alive everywhere.
 * Message counts come from each node's cache_membership_messages_total{kind}.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { addresses, converged, FAST, members, nodeEnv, stopAll } from '../helpers/cluster.ts';
import { eventually, freePort, type NodeProc, spawnNode } from '../helpers/procs.ts';

const N = 6;
const PERIOD_MS = 200; // FAST.HEARTBEAT_INTERVAL
let addrs: string[] = [];
let nodes: NodeProc[] = [];
const metricsPorts: number[] = [];

before(async () => {
  assert.equal(FAST.HEARTBEAT_INTERVAL, `${PERIOD_MS}ms`);
  addrs = await addresses(N);
  for (let i = 0; i < N; i++) metricsPorts.push(await freePort());
  nodes = addrs.map((a, i) => spawnNode(nodeEnv(a, addrs, { METRICS_ADDR: `127.0.0.1:${metricsPorts[i]}` })));
  await Promise.all(nodes.map((p) => p.waitFor(/listening on/)));
  await converged(addrs, addrs);
});

after(async () => {
  for (const n of nodes) if (n.proc.exitCode === null) process.kill(n.pid, 'SIGCONT');
  await stopAll(nodes);
});

/** cache_membership_messages_total by kind, as node i reports it. */
async function sent(i: number): Promise<Record<string, number>> {
  const body = await (await fetch(`http://127.0.0.1:${metricsPorts[i]}/metrics`)).text();
  const out: Record<string, number> = { ping: 0, 'ping-req': 0, 'push-pull': 0, other: 0 };
  for (const m of body.matchAll(/^cache_membership_messages_total\{[^}]*kind="([^"]+)"[^}]*\} (\S+)$/gm)) out[m[1]!] = Number(m[2]);
  return out;
}

test('each node sends about one probe per HEARTBEAT_INTERVAL, not one to every member', async () => {
  const before = await Promise.all(addrs.map((_, i) => sent(i)));
  const t0 = performance.now();
  await sleep(3_000);
  const afterwards = await Promise.all(addrs.map((_, i) => sent(i)));
  const periods = (performance.now() - t0) / PERIOD_MS;
  for (let i = 0; i < N; i++) {
    const perPeriod = (afterwards[i]!.ping! - before[i]!.ping!) / periods;
    // one probe a period, plus now and then one on another's behalf (when a probe of theirs
    // went unanswered, which a loaded machine makes happen); all-to-all heartbeats would be
    // N - 1 = 5 a period
    assert.ok(perPeriod >= 0.5 && perPeriod <= 2.5, `node ${i}: ${perPeriod.toFixed(2)} pings per period`);
  }
});

test('a member that stops answering (SIGSTOP) is probed through others, then DEAD everywhere; running again, it refutes and is alive everywhere', async () => {
  const paused = N - 1;
  const otherIdx = addrs.map((_, i) => i).filter((i) => i !== paused);
  const others = otherIdx.map((i) => addrs[i]!);
  const reqsBefore = await Promise.all(otherIdx.map(sent));
  process.kill(nodes[paused]!.pid, 'SIGSTOP');
  try {
    await eventually(
      async () => {
        const views = await Promise.all(others.map((a) => members(a)));
        return views.every((v) => v.members.find((m) => m.address === addrs[paused])?.state === 3);
      },
      15_000,
      100,
    );
    const reqsAfter = await Promise.all(otherIdx.map(sent));
    const reqs = reqsAfter.reduce((s, r, i) => s + r['ping-req']! - reqsBefore[i]!['ping-req']!, 0);
    assert.ok(reqs >= 3, `indirect probes sent before it was declared dead: ${reqs}`);
  } finally {
    process.kill(nodes[paused]!.pid, 'SIGCONT');
  }
  // it hears that it was declared dead, raises its incarnation, and everyone takes it back
  await converged(addrs, addrs, 20_000);
});
