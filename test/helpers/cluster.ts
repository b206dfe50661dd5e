/** Starting and watching loopback clusters of real node processes for tests. */

import { type ClientOptions, clusterClient } from './grpc.ts';
import { eventually, freePort, type NodeProc, spawnNode } from './procs.ts';

/** Failure-detection timings short enough for tests. */
export const FAST = { HEARTBEAT_INTERVAL: '200ms', SUSPECT_TIMEOUT: '600ms', DEAD_TIMEOUT: '1500ms', RPC_TIMEOUT: '1s', LOG_LEVEL: 'info' };

export async function addresses(n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(`127.0.0.1:${await freePort()}`);
  return out;
}

/** Env of node `addr` in a cluster whose members are `all`. */
export function nodeEnv(addr: string, all: string[], extra: Record<string, string> = {}): Record<string, string> {
  return { ...FAST, ADDR: addr, PEERS: all.filter((a) => a !== addr).join(','), ...extra };
}

export async function startCluster(n: number, extra: Record<string, string> = {}): Promise<{ addrs: string[]; nodes: NodeProc[] }> {
  const addrs = await addresses(n);
  const nodes = addrs.map((a) => spawnNode(nodeEnv(a, addrs, extra)));
  await Promise.all(nodes.map((p) => p.waitFor(/listening on/)));
  await converged(addrs, addrs);
  return { addrs, nodes };
}

/** ClusterService/Members' answer, as tests read it. */
export interface Members {
  members: { node_id: string; address: string; state: number }[];
  ring_version: string;
}

export async function members(addr: string, opts: ClientOptions = {}): Promise<Members> {
  const c = clusterClient(addr, opts);
  try {
    const r = await c.call<Members>('Members', {}, 2_000);
    if (r.err) throw r.err;
    return r.res!;
  } finally {
    c.close();
  }
}

/** Waits until every node in `ask` sees exactly `alive` as ALIVE members on one common ring. */
export async function converged(ask: string[], alive: string[], ms = 20_000, opts: ClientOptions = {}): Promise<string> {
  let version = '';
  await eventually(
    async () => {
      const views = await Promise.all(ask.map((a) => members(a, opts)));
      const want = [...alive].sort().join(',');
      const ok =
        views.every(
          (v) =>
            v.members
              .filter((m) => m.state === 1)
              .map((m) => m.node_id)
              .sort()
              .join(',') === want,
        ) && views.every((v) => v.ring_version === views[0].ring_version);
      version = views[0].ring_version;
      return ok;
    },
    ms,
    150,
  );
  return version;
}

export async function stopAll(nodes: NodeProc[]): Promise<void> {
  await Promise.all(nodes.map((n) => n.stop('SIGKILL')));
}
