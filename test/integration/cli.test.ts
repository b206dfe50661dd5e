/** cachectl (dist/cli/cachectl.js, built by `npm run build`) against a real node. */

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { CacheClient } from '../../src/index.ts';
import { eventually, freePort, type NodeProc, ROOT, startNode } from '../helpers/procs.ts';

const CLI = `${ROOT}dist/cli/cachectl.js`;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  raw: Buffer;
}

/** Runs cachectl asynchronously (the test process keeps reading the node's output meanwhile). */
function cachectl(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      { env: { PATH: process.env.PATH ?? '', ...env }, encoding: 'buffer', timeout: 20_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
        if (err && code === -1) {
          reject(err);
          return;
        }
        resolve({ code, stdout: stdout.toString('utf8'), stderr: stderr.toString('utf8'), raw: stdout });
      },
    );
  });
}

describe('cachectl', { timeout: 120_000 }, () => {
  let node: NodeProc;
  let addr: string[];
  const at = (...args: string[]) => cachectl(['--addr', node.addr, ...args]);

  before(async () => {
    node = await startNode();
    addr = ['--addr', node.addr];
  });
  after(async () => {
    await node?.stop('SIGKILL');
  });

  test('--help prints usage on stdout and exits 0', async () => {
    for (const args of [['--help'], ['-h'], ['get', 'k', '--help']]) {
      const r = await cachectl(args);
      assert.equal(r.code, 0, args.join(' '));
      assert.match(r.stdout, /^Usage: cachectl \[options\] <command>/);
      for (const word of [
        'get KEY',
        'set KEY VALUE',
        'del KEY',
        'members',
        'stats',
        '--addr',
        '--ttl',
        '--consistency',
        '--json',
        'CACHE_ADDR',
        'Exit status',
      ]) {
        assert.ok(r.stdout.includes(word), word);
      }
      assert.equal(r.stderr, '');
    }
  });

  test('usage errors exit 2 with a message on stderr', async () => {
    const cases: [string[], RegExp][] = [
      [[], /no command given/],
      [['frob'], /unknown command "frob"/],
      [['get'], /get takes KEY/],
      [['set', 'k'], /set takes KEY VALUE/],
      [['set', 'k', 'v', '--ttl', '10'], /--ttl "10" is not a duration with a unit/],
      [['set', 'k', 'v', '--consistency', 'most'], /one of one, quorum, all/],
      [['get', 'k', '--nope'], /Unknown option '--nope'/],
      [['--addr', 'nohost', 'get', 'k'], /--addr: "nohost" is not host:port/],
    ];
    for (const [args, re] of cases) {
      const r = await cachectl(args);
      assert.equal(r.code, 2, args.join(' '));
      assert.match(r.stderr, re, args.join(' '));
      assert.match(r.stderr, /Try 'cachectl --help'/);
      assert.equal(r.stdout, '');
    }
  });

  test('set then get prints the value; --json prints JSON', async () => {
    const s = await at('set', 'greeting', 'hello world');
    assert.equal(s.code, 0, s.stderr);
    assert.match(s.stdout, /^OK version=\d+\n$/);
    const g = await at('get', 'greeting');
    assert.equal(g.code, 0, g.stderr);
    assert.equal(g.stdout, 'hello world\n');
    const j = await at('get', 'greeting', '--json');
    assert.equal(j.code, 0);
    const parsed = JSON.parse(j.stdout);
    assert.equal(parsed.key, 'greeting');
    assert.equal(parsed.value, 'hello world');
    assert.equal(parsed.encoding, 'utf8');
    assert.equal(parsed.version, /version=(\d+)/.exec(s.stdout)![1]);
    assert.equal(parsed.ttlRemainingMs, 0);
    const sj = await at('--json', 'set', 'greeting', 'again');
    assert.match(JSON.parse(sj.stdout).version, /^\d+$/);
  });

  test('values that look like options, unicode and empty values', async () => {
    assert.equal((await at('set', '--', 'neg', '-1')).code, 0);
    assert.equal((await at('get', 'neg')).stdout, '-1\n');
    assert.equal((await at('set', 'uni', 'значение ✓ 😀')).code, 0);
    assert.equal((await at('get', 'uni')).stdout, 'значение ✓ 😀\n');
    assert.equal((await at('set', 'empty', '')).code, 0);
    const e = await at('get', 'empty');
    assert.equal(e.code, 0);
    assert.equal(e.stdout, '\n');
  });

  test('binary values: raw bytes on stdout, base64 with --json', async () => {
    const bytes = Buffer.from([0, 1, 2, 0xfe, 0xff, 0x0a]);
    const lib = new CacheClient({ seeds: [node.addr] });
    try {
      await lib.set('bin', bytes);
    } finally {
      lib.close();
    }
    const g = await at('get', 'bin');
    assert.equal(g.code, 0);
    assert.deepEqual(g.raw, bytes);
    const j = JSON.parse((await at('get', 'bin', '--json')).stdout);
    assert.equal(j.encoding, 'base64');
    assert.deepEqual(Buffer.from(j.value, 'base64'), bytes);
  });

  test('get of a missing key exits 1 with a message on stderr', async () => {
    const r = await at('get', 'missing-key');
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^cachectl: key not found: "missing-key"\n$/);
  });

  test('del: exit 0 when deleted, 1 when there was nothing to delete', async () => {
    await at('set', 'doomed', 'x');
    const d = await at('del', 'doomed', '--consistency', 'all');
    assert.equal(d.code, 0, d.stderr);
    assert.equal(d.stdout, 'deleted\n');
    assert.equal((await at('get', 'doomed')).code, 1);
    const again = await at('del', 'doomed');
    assert.equal(again.code, 1);
    assert.match(again.stderr, /key not found: "doomed"/);
    const j = await at('delete', 'doomed', '--json');
    assert.equal(j.code, 1);
    assert.deepEqual(JSON.parse(j.stdout), { key: 'doomed', deleted: false });
  });

  test('--ttl expires the value; --consistency is accepted', async () => {
    // Each cachectl run is a process start: keep the TTL well above that under load.
    const s = await at('set', 'brief', 'v', '--ttl', '3s', '--consistency', 'quorum');
    assert.equal(s.code, 0, s.stderr);
    const g = await at('get', 'brief', '--json', '--consistency', 'one');
    assert.equal(g.code, 0, 'expired before it could be read: the machine is very slow');
    const j = JSON.parse(g.stdout);
    assert.ok(j.ttlRemainingMs > 0 && j.ttlRemainingMs <= 3000, String(j.ttlRemainingMs));
    await eventually(async () => (await at('get', 'brief')).code === 1, 10_000, 100);
    const long = await at('set', 'long', 'v', '--ttl', '1h');
    assert.equal(long.code, 0);
    const lj = JSON.parse((await at('get', 'long', '--json')).stdout);
    assert.ok(lj.ttlRemainingMs > 3_590_000 && lj.ttlRemainingMs <= 3_600_000);
  });

  test('members prints a table and the ring version', async () => {
    const r = await at('members');
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.split('\n');
    assert.match(lines[0]!, /^NODE ID\s+ADDRESS\s+STATE\s+INCARNATION\s+CLOCK$/);
    assert.match(lines[1]!, new RegExp(`^${node.addr.replace(/\./g, '\\.')} \\*\\s+${node.addr.replace(/\./g, '\\.')}\\s+alive\\s+\\d+$`));
    assert.match(r.stdout, /\nring version: [0-9a-f]{40}\n/);
    const j = JSON.parse((await at('members', '--json')).stdout);
    assert.equal(j.self, node.addr);
    assert.equal(j.members[0].state, 'alive');
    assert.match(j.members[0].incarnation, /^\d+$/);
  });

  test('stats prints key: value lines', async () => {
    const r = await at('stats');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^nodeId: ${node.addr.replace(/\./g, '\\.')}\n`));
    for (const k of ['items', 'hits', 'misses', 'bytes', 'uptimeMs', 'ringVersion'])
      assert.match(r.stdout, new RegExp(`\n${k}: \\S+\n`), k);
    const [counters, hot] = r.stdout.split('\n\n');
    assert.ok(
      counters!
        .split('\n')
        .filter(Boolean)
        .every((l) => /^\w+: /.test(l)),
    );
    // Earlier tests set and got keys through this node: the hot keys table follows the counters.
    assert.match(hot!, /^(HOT KEY\s+REQUESTS\s+ERROR\n|hot keys: none yet\n$)/);
    const j = JSON.parse((await at('stats', '--json')).stdout);
    assert.equal(j.nodeId, node.addr);
    assert.equal(typeof j.items, 'number');
    assert.ok(Array.isArray(j.hotKeys));
  });

  test('CACHE_ADDR is the default address; --addr wins over it', async () => {
    await at('set', 'envkey', 'from-env');
    const r = await cachectl(['get', 'envkey'], { CACHE_ADDR: node.addr });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'from-env\n');
    const dead = `127.0.0.1:${await freePort()}`;
    const over = await cachectl([...addr, 'get', 'envkey'], { CACHE_ADDR: dead });
    assert.equal(over.stdout, 'from-env\n');
  });

  test('an unreachable node exits 3 naming UNAVAILABLE; a list of addresses fails over', async () => {
    const dead = `127.0.0.1:${await freePort()}`;
    for (const args of [['get', 'k'], ['set', 'k', 'v'], ['del', 'k'], ['members'], ['stats']]) {
      const r = await cachectl(['--addr', dead, '--retries', '1', ...args]);
      assert.equal(r.code, 3, args.join(' '));
      assert.match(r.stderr, /^cachectl: .*UNAVAILABLE: /, args.join(' '));
      assert.equal(r.stdout, '');
    }
    const r = await cachectl(['--addr', `${dead},${node.addr}`, 'get', 'greeting']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'again\n');
  });

  test('an error answer from the node exits 3 naming the code', async () => {
    const r = await at('set', 'k'.repeat(2000), 'v');
    assert.equal(r.code, 3);
    assert.match(r.stderr, /INVALID_ARGUMENT: key is 2000 bytes; the limit is 1024 \(MAX_KEY_SIZE\)/);
  });
});
