/** cachectl's command-line parsing and output formats (pure parts). */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_ADDR, parseCommandLine, UsageError } from '../../src/cli/args.ts';
import { getJson, membersText, statsText, table, toJson } from '../../src/cli/format.ts';

const usage = (argv: string[], re: RegExp, env = {}) =>
  assert.throws(
    () => parseCommandLine(argv, env),
    (e: unknown) => e instanceof UsageError && re.test(e.message),
  );

test('durations need a unit (0 excepted)', () => {
  // The rules themselves are tested in parse.test.ts; here: the CLI requires a unit and reports a UsageError.
  const ttl = (t: string) => parseCommandLine(['set', 'k', 'v', '--ttl', t]).ttlMs;
  assert.equal(ttl('500ms'), 500);
  assert.equal(ttl('10s'), 10_000);
  assert.equal(ttl('1.5s'), 1_500);
  assert.equal(ttl('2m'), 120_000);
  assert.equal(ttl('1h'), 3_600_000);
  assert.equal(ttl('0'), 0);
  for (const bad of ['10', '', 's', '-1s', '10 sec', '1d', '1e3ms']) assert.throws(() => ttl(bad), UsageError, bad);
  usage(['get', 'k', '--timeout', '2'], /^--timeout "2" is not a duration with a unit: the unit is missing/);
});

test('TLS and token options: flags, CACHE_* variables, pairing rules; leave with and without NODE_ID', () => {
  const inv = parseCommandLine(['--ca', 'ca.pem', '--cert', 'c.pem', '--key', 'k.pem', '--token', 'T', 'get', 'k']);
  assert.deepEqual(inv.tls, { ca: 'ca.pem', cert: 'c.pem', key: 'k.pem', serverName: undefined });
  assert.equal(inv.token, 'T');
  const env = parseCommandLine(['get', 'k'], { CACHE_CA: '/ca.pem', CACHE_TOKEN: 'from-env' });
  assert.deepEqual([env.tls?.ca, env.token], ['/ca.pem', 'from-env']);
  assert.equal(parseCommandLine(['--token', 'flag', 'get', 'k'], { CACHE_TOKEN: 'env' }).token, 'flag', 'the flag wins');
  assert.equal(parseCommandLine(['get', 'k']).tls, undefined, 'plaintext without --ca or --cert');
  usage(['--cert', 'c.pem', 'get', 'k'], /--cert and --key go together/);
  usage(['--server-name', 'x', 'get', 'k'], /--server-name needs TLS/);
  usage(['--token', 'a b', 'get', 'k'], /visible ASCII/);
  assert.deepEqual(parseCommandLine(['leave']), { cmd: 'leave', addrs: [DEFAULT_ADDR], json: false });
  assert.deepEqual(parseCommandLine(['leave', 'n2']), { cmd: 'leave', nodeId: 'n2', addrs: [DEFAULT_ADDR], json: false });
  usage(['leave', 'a', 'b'], /leave takes \[NODE_ID\], got 2 arguments/);
});

test('batch commands: mget and mdel take keys, mset takes pairs; --ttl and --consistency apply', () => {
  assert.deepEqual(parseCommandLine(['mget', 'a', 'b']), { cmd: 'mget', keys: ['a', 'b'], addrs: [DEFAULT_ADDR], json: false });
  assert.deepEqual(parseCommandLine(['mdel', 'a']), { cmd: 'mdel', keys: ['a'], addrs: [DEFAULT_ADDR], json: false });
  const m = parseCommandLine(['mset', 'a', '1', 'b', '2', '--ttl', '10s', '--consistency', 'all']);
  assert.deepEqual(m, {
    cmd: 'mset',
    entries: [
      ['a', '1'],
      ['b', '2'],
    ],
    addrs: [DEFAULT_ADDR],
    json: false,
    ttlMs: 10_000,
    consistency: 'all',
  });
  usage(['mget'], /mget takes one or more KEYs/);
  usage(['mset', 'a', '1', 'b'], /mset takes KEY VALUE pairs, got 3 arguments/);
  usage(['mset', '', 'v'], /KEY must not be empty/);
  usage(['mget', 'a', '--ttl', '1s'], /--ttl applies to set and mset only/);
});

test('commands and their arguments', () => {
  assert.deepEqual(parseCommandLine(['get', 'k']), { cmd: 'get', key: 'k', addrs: [DEFAULT_ADDR], json: false });
  assert.deepEqual(parseCommandLine(['set', 'k', 'v w']), { cmd: 'set', key: 'k', value: 'v w', addrs: [DEFAULT_ADDR], json: false });
  assert.deepEqual(parseCommandLine(['del', 'k']), { cmd: 'del', key: 'k', addrs: [DEFAULT_ADDR], json: false });
  assert.equal(parseCommandLine(['delete', 'k']).cmd, 'del');
  assert.equal(parseCommandLine(['members']).cmd, 'members');
  assert.equal(parseCommandLine(['stats', '--json']).json, true);
  assert.equal(parseCommandLine(['--help']).cmd, 'help');
  assert.equal(parseCommandLine(['-h']).cmd, 'help');
  assert.equal(parseCommandLine(['get', '-h']).cmd, 'help');
  // "--" ends the options, so values may start with a dash.
  assert.deepEqual(parseCommandLine(['set', '--', 'k', '-1']), { cmd: 'set', key: 'k', value: '-1', addrs: [DEFAULT_ADDR], json: false });
});

test('options: --addr (list), CACHE_ADDR, --ttl, --consistency, --timeout, --retries', () => {
  assert.deepEqual(parseCommandLine(['get', 'k'], { CACHE_ADDR: '10.0.0.1:9000' }).addrs, ['10.0.0.1:9000']);
  assert.deepEqual(parseCommandLine(['--addr', 'a:1,b:2', 'get', 'k'], { CACHE_ADDR: '10.0.0.1:9000' }).addrs, ['a:1', 'b:2']);
  assert.deepEqual(parseCommandLine(['get', 'k', '--addr=a:1']).addrs, ['a:1']);
  const s = parseCommandLine(['set', 'k', 'v', '--ttl', '10s', '--consistency', 'QUORUM', '--timeout', '500ms', '--retries', '0']);
  assert.equal(s.ttlMs, 10_000);
  assert.equal(s.consistency, 'quorum');
  assert.equal(s.timeoutMs, 500);
  assert.equal(s.retries, 0);
  assert.equal(parseCommandLine(['get', 'k', '--consistency', 'all']).consistency, 'all');
  assert.equal(parseCommandLine(['del', 'k', '--consistency', 'one']).consistency, 'one');
});

test('usage errors', () => {
  usage([], /no command given/);
  usage(['frob'], /unknown command "frob"/);
  usage(['get'], /get takes KEY, got 0 arguments/);
  usage(['get', 'a', 'b'], /get takes KEY, got 2 arguments/);
  usage(['set', 'k'], /set takes KEY VALUE, got 1 argument$/);
  usage(['members', 'x'], /members takes no arguments/);
  usage(['get', ''], /KEY must not be empty/);
  usage(['get', 'k', '--bogus'], /Unknown option '--bogus'/);
  usage(['get', 'k', '--addr'], /--addr/);
  usage(['get', 'k', '--addr', 'nohost'], /--addr: "nohost" is not host:port: the port is missing/);
  usage(['get', 'k', '--addr', 'a:1,h:0'], /--addr: "h:0" is not host:port: port 0 is outside 1\.\.65535/);
  usage(['get', 'k', '--addr', ','], /--addr: no address/);
  usage(['get', 'k', '--ttl', '1s'], /--ttl applies to set and mset only/);
  usage(['set', 'k', 'v', '--ttl', '10'], /not a duration with a unit/);
  usage(['set', 'k', 'v', '--consistency', 'most'], /one of one, quorum, all/);
  usage(['members', '--consistency', 'one'], /--consistency applies to get, set, del, mget, mset and mdel/);
  usage(['get', 'k', '--timeout', '0'], /--timeout must be at least 1ms/);
  usage(['get', 'k', '--retries', 'x'], /--retries "x"/);
  usage(['get', 'k', '--json=yes'], /--json/);
  usage(['get', 'k'], /not host:port/, { CACHE_ADDR: 'bad' });
});

test('output formats', () => {
  assert.equal(toJson({ v: 12345678901234567890n, a: [1n] }), '{"v":"12345678901234567890","a":["1"]}');
  assert.deepEqual(JSON.parse(getJson('k', { value: 'v', version: 5n, ttlRemainingMs: 0 })), {
    key: 'k',
    value: 'v',
    encoding: 'utf8',
    version: '5',
    ttlRemainingMs: 0,
  });
  assert.deepEqual(JSON.parse(getJson('b', { value: Buffer.from([0, 255]), version: 1n, ttlRemainingMs: 9 })), {
    key: 'b',
    value: 'AP8=',
    encoding: 'base64',
    version: '1',
    ttlRemainingMs: 9,
  });
  assert.equal(
    table([
      ['A', 'BB'],
      ['ccc', 'd'],
    ]),
    'A    BB\nccc  d',
  );
  const text = membersText({
    members: [
      { nodeId: 'n1', address: '127.0.0.1:1', state: 'alive', stateCode: 1, incarnation: 7n, clockOffsetMs: 0 },
      { nodeId: 'node-2', address: '127.0.0.1:22', state: 'dead', stateCode: 3, incarnation: 8n, clockOffsetMs: -1250 },
    ],
    ringVersion: 'abc',
    self: 'n1',
    replicationFactor: 3,
    vnodes: 128,
  });
  assert.match(text, /^NODE ID\s+ADDRESS\s+STATE\s+INCARNATION\s+CLOCK\n/);
  assert.match(text, /\nn1 \*\s+127\.0\.0\.1:1\s+alive\s+7\n/);
  assert.match(text, /\nnode-2\s+127\.0\.0\.1:22\s+dead\s+8\s+-1250ms\n/);
  assert.match(text, /ring version: abc\n/);
  assert.equal(statsText({ nodeId: 'n1', items: 2 } as never), 'nodeId: n1\nitems: 2\n');
});

test('statsText: the hot keys as a table after the counters, keys quoted', () => {
  const text = statsText({
    nodeId: 'n1',
    items: 2,
    hotKeys: [
      { key: 'user:1', count: 1200, error: 0 },
      { key: 'a b\n', count: 8, error: 8 },
    ],
  } as never);
  assert.match(text, /^nodeId: n1\nitems: 2\n\nHOT KEY\s+REQUESTS\s+ERROR\n"user:1"\s+1200\s+0\n"a b\\n"\s+8\s+8\n\(requests halve/);
  assert.ok(!text.includes('hotKeys'), 'not also as a counter line');
  assert.equal(statsText({ nodeId: 'n1', hotKeys: [] } as never), 'nodeId: n1\n\nhot keys: none yet\n');
});
