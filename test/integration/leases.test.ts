/**
 * Leases against a real 3-node cluster: 50 concurrent getOrLoads of one missing key from 4
 * client processes run the loader once; a lease holder that never writes (dead) leaves the
 * waiters a new lease once lease_ms has passed; a Set with a superseded token is refused with
 * FAILED_PRECONDITION and the newer value stays; the lease owner's death loses the lease, and
 * the next replica grants a new one.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CacheClient, CacheClientError } from '../../src/index.ts';
import { startCluster, stopAll } from '../helpers/cluster.ts';
import { cacheClient, status } from '../helpers/grpc.ts';
import { eventually, type NodeProc, ROOT } from '../helpers/procs.ts';

interface LeaseReply {
  found: boolean;
  value?: string;
  lease_token: string;
  wait_ms: string;
  stale: boolean;
}

/** A client process: waits for "go" on stdin, then makes N concurrent getOrLoads of KEY; the loader appends its pid to OUT. */
const WORKER = `import { appendFileSync } from 'node:fs';
import { CacheClient } from './src/index.ts';
const c = new CacheClient({ seeds: process.env.SEEDS.split(',') });
await c.members();
console.log('ready');
await new Promise((r) => process.stdin.once('data', r));
process.stdin.destroy();
const loader = async () => {
  appendFileSync(process.env.OUT, process.pid + '\\n');
  await new Promise((r) => setTimeout(r, 300));
  return 'loaded by ' + process.pid;
};
const rs = await Promise.all(
  Array.from({ length: Number(process.env.N) }, () => c.getOrLoad(process.env.KEY, loader, { leaseMs: 5000, ttlMs: 60000 })),
);
console.log(JSON.stringify(rs.map((r) => ({ value: r.value, source: r.source }))));
c.close();
process.exit(0);
`;

interface Worker {
  proc: ChildProcess;
  out: string[];
  exited: Promise<number | null>;
}

function startWorker(env: Record<string, string>): Worker {
  const proc = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', WORKER], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const out: string[] = [];
  let err = '';
  proc.stdout!.on('data', (b: Buffer) => out.push(...b.toString('utf8').split('\n').filter(Boolean)));
  proc.stderr!.on('data', (b: Buffer) => {
    err += b.toString('utf8');
  });
  const exited = new Promise<number | null>((resolve) =>
    proc.on('exit', (code) => {
      if (code !== 0) out.push(`stderr: ${err}`);
      resolve(code);
    }),
  );
  return { proc, out, exited };
}

describe('leases on a 3-node cluster', { timeout: 120_000 }, () => {
  let addrs: string[];
  let nodes: NodeProc[];
  let client: CacheClient;
  const workers: Worker[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'tscache-leases-'));

  before(async () => {
    ({ addrs, nodes } = await startCluster(3));
    client = new CacheClient({ seeds: addrs, timeoutMs: 3_000 });
  });
  after(async () => {
    client?.close();
    for (const w of workers) {
      if (w.proc.exitCode === null && w.proc.signalCode === null && w.proc.pid) process.kill(w.proc.pid, 'SIGKILL');
    }
    await Promise.all(workers.map((w) => w.exited));
    await stopAll(nodes ?? []);
    rmSync(dir, { recursive: true, force: true });
  });

  test('50 concurrent getOrLoads of one missing key from 4 processes run the loader once; all get its value', async () => {
    const out = join(dir, 'loads.txt');
    const counts = [12, 12, 13, 13];
    for (const n of counts) workers.push(startWorker({ SEEDS: addrs.join(','), KEY: 'stampede', OUT: out, N: String(n) }));
    await eventually(() => workers.every((w) => w.out.includes('ready')), 30_000, 50);
    for (const w of workers) w.proc.stdin!.write('go\n');
    const codes = await Promise.all(workers.map((w) => w.exited));
    assert.deepEqual(codes, [0, 0, 0, 0], workers.map((w) => w.out.join('\n')).join('\n---\n'));
    const loads = readFileSync(out, 'utf8').trim().split('\n');
    assert.equal(loads.length, 1, `the loader ran once cluster-wide, not ${loads.length} times`);
    const results = workers.map((w) => JSON.parse(w.out.at(-1)!) as { value: string; source: string }[]);
    assert.deepEqual(
      results.map((r) => r.length),
      counts,
    );
    for (const r of results.flat()) assert.equal(r.value, `loaded by ${loads[0]}`);
    const loaderProc = workers.findIndex((w) => w.proc.pid === Number(loads[0]));
    results.forEach((rs, i) => {
      for (const r of rs) assert.equal(r.source, i === loaderProc ? 'loader' : 'cache');
    });
    assert.equal(await client.getString('stampede', { consistency: 'all' }), `loaded by ${loads[0]}`);
  });

  test('a lease holder that dies (never writes): others wait, and get a new lease once lease_ms has passed', async () => {
    const raw = cacheClient(addrs[1]!);
    try {
      const first = await raw.call<LeaseReply>('GetOrLease', { key: 'orphan', lease_ms: 1500 });
      const grantedAt = Date.now();
      assert.ok(first.res?.lease_token, `a lease for the first caller: ${first.err?.message}`);
      assert.equal(first.res!.found, false);
      const second = await raw.call<LeaseReply>('GetOrLease', { key: 'orphan', lease_ms: 1500 });
      assert.equal(second.res?.lease_token, '', 'no second lease while the first is live');
      assert.ok(Number(second.res!.wait_ms) > 0 && Number(second.res!.wait_ms) <= 1500, `wait_ms ${second.res!.wait_ms}`);
      // A waiter through the client library: it polls, gets the lease once the first has expired, and loads.
      let loads = 0;
      const got = await client.getOrLoad(
        'orphan',
        async () => {
          loads++;
          return 'reloaded';
        },
        { leaseMs: 1500, maxWaitMs: 10_000 },
      );
      assert.deepEqual([got.value, got.source, loads], ['reloaded', 'loader', 1]);
      assert.ok(Date.now() - grantedAt >= 1400, `the new lease came only after the first expired (${Date.now() - grantedAt}ms)`);
      // the dead holder's token, if it ever came back, is refused
      const late = await raw.call('Set', { key: 'orphan', value: 'zombie', lease_token: first.res!.lease_token });
      assert.equal(late.err?.code, status.FAILED_PRECONDITION);
      assert.equal(await client.getString('orphan', { consistency: 'all' }), 'reloaded');
    } finally {
      raw.close();
    }
  });

  test('a loader error reaches every caller waiting in the process; the loader ran once', async () => {
    let calls = 0;
    const boom = async (): Promise<string> => {
      calls++;
      await new Promise((r) => setTimeout(r, 50));
      throw new Error('backend down');
    };
    const all = await Promise.allSettled(Array.from({ length: 5 }, () => client.getOrLoad('failing', boom, { leaseMs: 60_000 })));
    assert.equal(calls, 1);
    for (const r of all) assert.equal(r.status === 'rejected' && (r.reason as Error).message, 'backend down');
    // the failed loader gave its lease back (ReleaseLease): the next caller loads at once, not after 60 s
    const next = await client.getOrLoad('failing', async () => 'recovered', { leaseMs: 60_000, maxWaitMs: 1_000 });
    assert.deepEqual([next.value, next.source], ['recovered', 'loader']);
    // a caller that does not get the lease and runs out of patience: DEADLINE_EXCEEDED
    const raw = cacheClient(addrs[0]!);
    try {
      assert.ok((await raw.call<LeaseReply>('GetOrLease', { key: 'held', lease_ms: 60_000 })).res?.lease_token);
      const impatient = await client
        .getOrLoad('held', async () => 'never', { maxWaitMs: 300 })
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      assert.ok(impatient instanceof CacheClientError && impatient.code === 'DEADLINE_EXCEEDED', String(impatient));
    } finally {
      raw.close();
    }
  });

  test('a Set with a superseded lease token is FAILED_PRECONDITION, nothing is written, the newer value stays', async () => {
    const raw = cacheClient(addrs[2]!);
    try {
      const lease = await raw.call<LeaseReply>('GetOrLease', { key: 'raced', lease_ms: 10_000 });
      const token = lease.res!.lease_token;
      assert.ok(token);
      await client.set('raced', 'newer', { consistency: 'all' });
      const slow = await raw.call('Set', { key: 'raced', value: 'slow loader', lease_token: token });
      assert.equal(slow.err?.code, status.FAILED_PRECONDITION, String(slow.err));
      assert.match(slow.err!.details, /written or deleted after the lease was granted/);
      for (const a of addrs) {
        const one = new CacheClient({ seeds: a, routing: false });
        try {
          assert.equal(await one.getString('raced', { consistency: 'one' }), 'newer', `on ${a}`);
        } finally {
          one.close();
        }
      }
      // a lease never holds up a plain Set; a hit answers the value
      await raw.call<LeaseReply>('GetOrLease', { key: 'raced2' });
      await client.set('raced2', 'x');
      const hit = await raw.call<LeaseReply>('GetOrLease', { key: 'raced2' });
      assert.deepEqual([hit.res?.found, hit.res?.value, hit.res?.lease_token], [true, 'x', '']);
      const invalid = await raw.call('GetOrLease', { key: 'raced', lease_ms: 3_600_000 });
      assert.equal(invalid.err?.code, status.INVALID_ARGUMENT);
    } finally {
      raw.close();
    }
  });

  test("the lease owner's death loses the lease: the next replica grants a new one", async () => {
    const key = 'owner-dies';
    await client.refresh();
    const ownerAddr = client.route(key)[0]!.address;
    const owner = nodes.find((n) => n.addr === ownerAddr)!;
    const other = addrs.find((a) => a !== ownerAddr)!;
    const raw = cacheClient(other);
    try {
      const first = await raw.call<LeaseReply>('GetOrLease', { key, lease_ms: 60_000 });
      assert.ok(first.res?.lease_token);
      assert.equal((await raw.call<LeaseReply>('GetOrLease', { key, lease_ms: 60_000 })).res?.lease_token, '');
      await owner.stop('SIGKILL');
      const next = await eventually(async () => {
        const r = await raw.call<LeaseReply>('GetOrLease', { key, lease_ms: 60_000 });
        return r.res?.lease_token ? r.res.lease_token : undefined;
      });
      assert.notEqual(next, first.res!.lease_token);
      const set = await raw.call('Set', { key, value: 'after failover', lease_token: next });
      assert.equal(set.err, undefined, String(set.err));
      assert.equal(await client.getString(key), 'after failover');
    } finally {
      raw.close();
    }
  });
});
