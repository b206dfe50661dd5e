/**
 * DATA_DIR against real node processes: a node killed with SIGKILL under writes keeps what it
 * acknowledged (everysec: everything acknowledged more than a second before the kill; always:
 * everything acknowledged); a 3-node cluster stopped with SIGTERM and started again serves every
 * key; a key deleted while a node was down stays deleted once that node is back from its disk;
 * a torn log, a damaged snapshot and another node's files are handled as the README says.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { CacheClient } from '../../src/index.ts';
import { decodeHeader, decodeRecords } from '../../src/persist/format.ts';
import { addresses, converged, nodeEnv, stopAll } from '../helpers/cluster.ts';
import { eventually, freePort, type NodeProc, spawnNode } from '../helpers/procs.ts';

/** Whole records in a log file. */
function recordsIn(path: string): number {
  const buf = readFileSync(path);
  const h = decodeHeader(buf);
  return 'header' in h ? decodeRecords(buf, h.end, () => {}).records : -1;
}

const dirs: string[] = [];
const procs: NodeProc[] = [];
const clients: CacheClient[] = [];
after(async () => {
  for (const c of clients) c.close();
  await stopAll(procs);
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const newDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'tscache-persist-it-'));
  dirs.push(d);
  return d;
};
const spawn = (env: Record<string, string>) => {
  const p = spawnNode(env);
  procs.push(p);
  return p;
};
const client = (addr: string) => {
  const c = new CacheClient({ seeds: addr, routing: false, retries: 0, timeoutMs: 5_000, autoBatch: false });
  clients.push(c);
  return c;
};

/**
 * Writes keys through one node, 8 at a time, until stopped; records when each was acknowledged.
 */
function writer(c: CacheClient, prefix: string) {
  const acked: { key: string; at: number }[] = [];
  let running = true;
  let n = 0;
  const lanes = Array.from({ length: 8 }, async () => {
    while (running) {
      const key = `${prefix}${n++}`;
      try {
        await c.set(key, `value-of-${key}`);
        acked.push({ key, at: Date.now() });
      } catch {
        return; // the node is gone
      }
    }
  });
  return {
    acked,
    stop: async () => {
      running = false;
      await Promise.all(lanes);
    },
  };
}

describe('persistence', { timeout: 120_000 }, () => {
  for (const fsync of ['everysec', 'always'] as const) {
    test(`APPEND_FSYNC=${fsync}: a node killed with SIGKILL under writes restarts with what it acknowledged`, async () => {
      const dir = newDir();
      const env = { ADDR: `127.0.0.1:${await freePort()}`, DATA_DIR: dir, APPEND_FSYNC: fsync };
      const first = spawn(env);
      await first.waitFor(/serving client calls/);
      const c = client(env.ADDR);
      const w = writer(c, `${fsync}:`);
      await eventually(() => w.acked.length >= 300 && Date.now() - w.acked[0].at > 1500, 30_000, 50);
      const killedAt = Date.now();
      await first.stop('SIGKILL');
      await w.stop();
      const due = w.acked.filter((a) => fsync === 'always' || a.at < killedAt - 1000).map((a) => a.key);
      assert.ok(due.length > 0);

      const second = spawn(env);
      await second.waitFor(/serving client calls/);
      assert.ok(second.lines.some((l) => /loaded \d+ entries and \d+ tombstones from DATA_DIR/.test(l)));
      const missing: string[] = [];
      for (let i = 0; i < due.length; i += 1000) {
        const got = await c.mget(due.slice(i, i + 1000), { consistency: 'one' });
        for (const r of got) if (r.value !== `value-of-${r.key}`) missing.push(r.key);
      }
      assert.deepEqual(missing.slice(0, 10), [], `${missing.length} of ${due.length} acknowledged keys missing after the restart`);
      await second.stop('SIGKILL');
    });
  }

  test('a 3-node cluster stopped with SIGTERM and started again serves every key; a key deleted while a node was down stays deleted', async () => {
    const addrs = await addresses(3);
    const data = addrs.map(() => newDir());
    const envOf = (i: number) =>
      nodeEnv(addrs[i], addrs, { DATA_DIR: data[i], SHUTDOWN_TIMEOUT: '3s', ANTI_ENTROPY_INTERVAL: '500ms', TOMBSTONE_GRACE: '1h' });
    const startAll = async () => {
      const nodes = addrs.map((_, i) => spawn(envOf(i)));
      await Promise.all(nodes.map((p) => p.waitFor(/listening on/)));
      await converged(addrs, addrs);
      return nodes;
    };
    let nodes = await startAll();
    const at = addrs.map(client);
    const keys = Array.from({ length: 300 }, (_, i) => `k:${i}`);
    const res = await at[0].mset(
      keys.map((key) => ({ key, value: `v-${key}` })),
      { consistency: 'all' },
    );
    assert.deepEqual(
      res.filter((r) => r.error),
      [],
    );

    // every node stopped gracefully, at once, then started again: each serves every key from its own disk
    const roots = async () => Promise.all(at.map(async (c) => (await c.stats()).merkleRoot));
    const before = await roots();
    assert.equal(new Set(before).size, 1, 'the replicas hold the same data');
    await Promise.all(nodes.map((n) => n.stop('SIGTERM')));
    nodes = await startAll();
    // what each node loaded is in its Merkle trees (Stats' root: the kept whole tree once rebuilt)
    await eventually(async () => (await roots()).every((r) => r === before[0]), 10_000);
    for (const i of [0, 1, 2]) {
      assert.ok(
        nodes[i].lines.some((l) => /loaded 300 entries and \d+ tombstones from DATA_DIR/.test(l)),
        `node ${i} loaded its keys`,
      );
      const got = await at[i].mget(keys, { consistency: 'one' });
      assert.deepEqual(
        got.filter((r) => r.value !== `v-${r.key}`).map((r) => r.key),
        [],
        `node ${i} (read at ONE: its own store)`,
      );
    }

    // node 2 down (killed: no last snapshot; its log has the keys); keys deleted meanwhile
    await nodes[2].stop('SIGKILL');
    await converged([addrs[0], addrs[1]], [addrs[0], addrs[1]]);
    const deleted = keys.slice(0, 100);
    const del = await at[0].mdelete(deleted, { consistency: 'quorum' });
    assert.deepEqual(
      del.filter((r) => r.error),
      [],
    );
    nodes[2] = spawn(envOf(2));
    await nodes[2].waitFor(/loaded 300 entries and \d+ tombstones from DATA_DIR/); // the old values, deleted ones included
    await converged(addrs, addrs);
    // hints and anti-entropy bring the deletes: nothing deleted is readable on the node that was down, nor anywhere
    await eventually(
      async () => (await at[2].mget(deleted, { consistency: 'one' })).every((r) => r.value === undefined && !r.error),
      20_000,
      200,
    );
    const rounds = (await at[0].stats()).antiEntropyRounds;
    await eventually(async () => (await at[0].stats()).antiEntropyRounds >= rounds + 3, 20_000);
    await eventually(async () => new Set(await roots()).size === 1, 20_000);
    for (const i of [0, 1, 2]) {
      const got = await at[i].mget(deleted, { consistency: 'one' });
      assert.deepEqual(
        got.filter((r) => r.value !== undefined).map((r) => r.key),
        [],
        `node ${i}`,
      );
      const kept = await at[i].mget(keys.slice(100), { consistency: 'one' });
      assert.ok(
        kept.every((r) => r.value === `v-${r.key}`),
        `node ${i} keeps the others`,
      );
    }
    await stopAll(nodes);
  });

  test("a torn log is cut with a warning; a damaged snapshot is moved aside and the node starts empty; another node's files stop it", async () => {
    const dir = newDir();
    const env = { ADDR: `127.0.0.1:${await freePort()}`, DATA_DIR: dir };
    let node = spawn(env);
    await node.waitFor(/serving client calls/);
    const c = client(env.ADDR);
    for (let i = 0; i < 20; i++) await c.set(`t:${i}`, `value-${i}`);
    const log = readdirSync(dir).find((f) => f.startsWith('log.'))!;
    await eventually(() => recordsIn(join(dir, log)) === 20); // written (within WRITE_DELAY_MS), then the kill
    await node.stop('SIGKILL');
    truncateSync(join(dir, log), readFileSync(join(dir, log)).length - 3);

    node = spawn(env);
    await node.waitFor(/cut at its last good record/);
    await node.waitFor(/serving client calls/);
    const got = await c.mget(
      Array.from({ length: 20 }, (_, i) => `t:${i}`),
      { consistency: 'one' },
    );
    assert.deepEqual(
      got.map((r) => r.value !== undefined),
      [...Array(19).fill(true), false],
      'every record but the torn last one',
    );
    await node.stop('SIGTERM'); // writes a snapshot

    const snap = join(dir, 'snapshot.tscd');
    const bytes = readFileSync(snap);
    bytes[bytes.length - 30] ^= 0x01;
    writeFileSync(snap, bytes);
    node = spawn(env);
    await node.waitFor(/snapshot is damaged .*moved aside; starting empty/);
    await node.waitFor(/serving client calls/);
    assert.equal((await c.stats()).items, 0);
    assert.ok(readdirSync(dir).some((f) => f.startsWith('snapshot.tscd.corrupt-')));
    await c.set('mine', 'x');
    await node.stop('SIGTERM');

    const other = spawn({ ...env, NODE_ID: 'someone-else' });
    const exit = await other.exited;
    assert.equal(exit.code, 1);
    assert.ok(
      other.lines.some((l) => l.includes(`DATA_DIR=${dir}: snapshot.tscd is written by node`)),
      other.lines.slice(-3).join('\n'),
    );
  });
});
