/**
 * COMPRESSION_THRESHOLD on a real 3-node cluster (RF 3: every node holds every key): text and
 * binary values just below, at and above the threshold, incompressible random bytes and a
 * value larger than a slab chunk are read back byte for byte at ONE from every node (each
 * answers from its own store, which got the value by replication); values written while a
 * node was paused reach it (hints / anti-entropy) compressed and intact, with equal Merkle
 * roots; Stats, `cachectl stats --json` and the metrics show what was compressed.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { CacheClient } from '../../src/index.ts';
import { addresses, converged, nodeEnv, stopAll } from '../helpers/cluster.ts';
import { eventually, freePort, type NodeProc, ROOT, spawnNode } from '../helpers/procs.ts';
import { seeded } from '../helpers/random.ts';

const run = promisify(execFile);
const THRESHOLD = 1024;

/** Compressible JSON-like ASCII text of exactly `n` bytes. */
function json(n: number, seed: number): string {
  const rand = seeded(seed);
  let s = '';
  while (s.length < n) s += `{"id":${Math.floor(rand() * 1e6)},"user":"name-${Math.floor(rand() * 500)}","ok":${rand() < 0.5}},`;
  return s.slice(0, n);
}

function randomBytes(n: number, seed: number): Buffer {
  const rand = seeded(seed);
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(rand() * 256);
  return b;
}

function pattern(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 13) & 0xff;
  return b;
}

/** key → value, and whether the node must store it compressed. */
const VALUES: [string, string | Buffer, boolean][] = [
  ['text:below', json(THRESHOLD - 1, 1), false],
  ['text:at', json(THRESHOLD, 2), true],
  ['text:above', json(THRESHOLD + 1, 3), true],
  ['text:4k', json(4096, 4), true],
  ['text:utf8', 'ünïcödé — 日本語テキスト 🎉 '.repeat(100), true],
  ['text:big', json(200_000, 5), true],
  ['bin:below', pattern(THRESHOLD - 1), false],
  ['bin:at', pattern(THRESHOLD), true],
  ['bin:random', randomBytes(4096, 6), false],
  ['bin:random-big', randomBytes(100_000, 7), false],
];
const COMPRESSED = VALUES.filter(([, , c]) => c).length;

const same = (a: string | Buffer | undefined, b: string | Buffer) => (typeof b === 'string' ? a === b : Buffer.isBuffer(a) && a.equals(b));

describe('value compression on a cluster', { timeout: 90_000 }, () => {
  let addrs: string[];
  let nodes: NodeProc[];
  let at: CacheClient[];
  let mport: number;

  before(async () => {
    addrs = await addresses(3);
    mport = await freePort();
    const extra = { COMPRESSION_THRESHOLD: '1kb', ANTI_ENTROPY_INTERVAL: '500ms' };
    nodes = addrs.map((a, i) => spawnNode(nodeEnv(a, addrs, i === 0 ? { ...extra, METRICS_ADDR: `127.0.0.1:${mport}` } : extra)));
    await Promise.all(nodes.map((p) => p.waitFor(/listening on/)));
    await converged(addrs, addrs);
    at = addrs.map((a) => new CacheClient({ seeds: a, routing: false, retries: 0, timeoutMs: 5_000, autoBatch: false }));
  });
  after(async () => {
    for (const c of at ?? []) c.close();
    await stopAll(nodes ?? []);
  });

  /** Asserts that node i answers every value of `vals` byte for byte at ONE (from its own store). */
  const readBack = async (i: number, vals: [string, string | Buffer, boolean][]) => {
    for (const [key, v] of vals) {
      const got = await at[i]!.get(key, { consistency: 'one' });
      assert.ok(same(got?.value, v), `${key} at node ${i}: ${typeof got?.value} of ${got?.value.length} vs ${v.length}`);
    }
  };

  test('every node stores what replication brings it, compressed where it saves space, and answers it byte for byte', async () => {
    for (const [key, v] of VALUES) await at[0]!.set(key, v, { consistency: 'all' });
    for (const i of [0, 1, 2]) await readBack(i, VALUES);
    const mget = await at[1]!.mget(
      VALUES.map(([k]) => k),
      { consistency: 'all' },
    );
    VALUES.forEach(([key, v], j) => {
      assert.ok(same(mget[j]!.value, v), `MGet ${key}`);
    });
    for (const i of [0, 1, 2]) {
      const s = await at[i]!.stats();
      assert.equal(s.items, VALUES.length);
      assert.equal(s.compressedItems, COMPRESSED, `node ${i}: below the threshold and random bytes stay plain`);
      assert.ok(s.compressionRatio > 2, `node ${i} ratio ${s.compressionRatio}`);
      assert.ok(s.compressionSavedBytes > 150_000, `node ${i} saved ${s.compressionSavedBytes}`);
      const plain = VALUES.reduce((n, [k, v]) => n + k.length + (typeof v === 'string' ? Buffer.byteLength(v) : v.length) + 100, 0);
      assert.equal(s.bytes, plain - s.compressionSavedBytes, `node ${i}: bytes count the stored size`);
    }
  });

  test('values written while a node was away reach it intact; Merkle roots agree', async () => {
    const later: [string, string | Buffer, boolean][] = [
      ['late:text', json(5000, 11), true],
      ['late:bin', pattern(3000), true],
      ['late:random', randomBytes(3000, 12), false],
      // overwrites: compressed → plain and plain → compressed
      ['text:at', 'short now', false],
      ['text:below', json(8000, 13), true],
    ];
    nodes[2]!.proc.kill('SIGSTOP');
    try {
      for (const [key, v] of later) await at[0]!.set(key, v, { consistency: 'quorum' });
    } finally {
      nodes[2]!.proc.kill('SIGCONT');
    }
    await eventually(async () => {
      for (const [key, v] of later) if (!same((await at[2]!.get(key, { consistency: 'one' }))?.value, v)) return false;
      return true;
    }, 30_000);
    await readBack(2, later);
    const expected = COMPRESSED + 2 - 1 + 1;
    await eventually(async () => {
      const roots = await Promise.all(at.map((c) => c.stats()));
      return roots.every((s) => s.merkleRoot === roots[0]!.merkleRoot && s.compressedItems === expected);
    }, 20_000);
  });

  test('cachectl stats --json and the metrics show the compression', async () => {
    const cli = await run(process.execPath, [`${ROOT}dist/cli/cachectl.js`, 'stats', '--json', '--addr', addrs[0]!], { timeout: 20_000 });
    const j = JSON.parse(cli.stdout) as { compressedItems: number; compressionSavedBytes: number; compressionRatio: number };
    assert.ok(j.compressedItems > 0 && j.compressionSavedBytes > 0 && j.compressionRatio > 1, cli.stdout);
    const body = await (await fetch(`http://127.0.0.1:${mport}/metrics`)).text();
    const value = (name: string) =>
      Number(
        body
          .split('\n')
          .find((l) => l.startsWith(`${name}{`))
          ?.split(' ')
          .pop(),
      );
    assert.equal(value('cache_compressed_items'), j.compressedItems);
    assert.equal(value('cache_compression_saved_bytes'), j.compressionSavedBytes);
    assert.ok(Math.abs(value('cache_compression_ratio') - j.compressionRatio) < 1e-9, body);
  });
});
