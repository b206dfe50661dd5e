/**
 * Runs inside a host's network namespace (FaultCluster.probe spawns it there) and calls the
 * node at PROBE_JOB.addr directly, so that a node cut off from its peers can be asked even
 * though the root namespace cannot reach it. Prints one JSON line with the gRPC status of
 * every call, then exits. Bounded: a fixed number of calls, each with a deadline.
 *
 * PROBE_JOB = {"addr":"10.213.5.4:8080","setKeys":["probe-1"],"getKeys":["k1"],"deadlineMs":4000}
 */

import { CONSISTENCY, statusName } from './checker.ts';
import { cacheClient } from './grpc.ts';

interface Job {
  addr: string;
  setKeys: string[];
  getKeys: string[];
  deadlineMs: number;
}

const job = JSON.parse(process.env.PROBE_JOB ?? '{}') as Job;
const c = cacheClient(job.addr);
const t0 = Date.now();
const timed = async (p: Promise<{ err?: { code: number } }>) => {
  const s = Date.now();
  const r = await p;
  return { code: statusName(r.err?.code), ms: Date.now() - s };
};
const [setQuorum, getQuorum, getOne] = await Promise.all([
  Promise.all(
    job.setKeys.map((key) => timed(c.call('Set', { key, value: `probe.${key}`, consistency: CONSISTENCY.QUORUM }, job.deadlineMs))),
  ),
  Promise.all(job.getKeys.map((key) => timed(c.call('Get', { key, consistency: CONSISTENCY.QUORUM }, job.deadlineMs)))),
  Promise.all(job.getKeys.map((key) => timed(c.call('Get', { key, consistency: CONSISTENCY.ONE }, job.deadlineMs)))),
]);
c.close();
process.stdout.write(`${JSON.stringify({ setQuorum, getQuorum, getOne, ms: Date.now() - t0 })}\n`);
process.exit(0);
