import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, parseConfig } from '../../src/config/config.ts';

test('defaults fit a real deployment', () => {
  const c = parseConfig({});
  assert.equal(c.ADDR, '127.0.0.1:8080');
  assert.equal(c.LISTEN_ADDR, '127.0.0.1:8080');
  assert.equal(c.NODE_ID, '127.0.0.1:8080');
  assert.equal(c.RATE_LIMIT, 0); // unlimited
  assert.equal(c.EVICTION_POLICY, 'lru');
  assert.equal(c.MAX_MEMORY, 512 * 1024 * 1024);
  assert.equal(c.RPC_TIMEOUT, 2000);
  assert.equal(c.TTL, 0);
  assert.equal(c.REPLICATION_FACTOR, 3);
  assert.equal(c.WRITE_QUORUM, 2);
  assert.equal(c.READ_QUORUM, 2);
  assert.deepEqual(c.PEERS, []);
});

test('units and derived values', () => {
  const c = parseConfig({
    ADDR: 'cache1:8080',
    PEERS: 'cache2, cache3:9090',
    MAX_MEMORY: '256mb',
    TTL: '60',
    RPC_TIMEOUT: '500ms',
    MAX_RECV_MSG_SIZE: '1MiB',
    RATE_LIMIT: '100',
    REPLICATION_FACTOR: '5',
    METRICS_ADDR: ':9100',
  });
  assert.equal(c.LISTEN_ADDR, '0.0.0.0:8080'); // a host name is advertised, all interfaces are bound
  assert.deepEqual(c.PEERS, ['cache2', 'cache3:9090']);
  assert.equal(c.MAX_MEMORY, 256 * 1024 * 1024);
  assert.equal(c.TTL, 60_000);
  assert.equal(c.RPC_TIMEOUT, 500);
  assert.equal(c.MAX_RECV_MSG_SIZE, 1024 * 1024);
  assert.equal(c.RATE_LIMIT_BURST, 100);
  assert.equal(c.WRITE_QUORUM, 3);
  assert.equal(c.METRICS_ADDR, '0.0.0.0:9100');
  assert.equal(c.port, 8080);
});

test('COMPRESSION_THRESHOLD: off by default, a size otherwise', () => {
  assert.equal(parseConfig({}).COMPRESSION_THRESHOLD, 0);
  assert.equal(parseConfig({ COMPRESSION_THRESHOLD: '1kb' }).COMPRESSION_THRESHOLD, 1024);
  assert.equal(parseConfig({ COMPRESSION_THRESHOLD: '512' }).COMPRESSION_THRESHOLD, 512);
});

test('EVICTION_POLICY accepts each policy', () => {
  for (const p of ['lru', 'lfu', 'fifo', 'ttl', 'random'] as const) assert.equal(parseConfig({ EVICTION_POLICY: p }).EVICTION_POLICY, p);
});

const bad: [Record<string, string>, string, RegExp][] = [
  [{ NUM_SHARDS: 'abc' }, 'NUM_SHARDS', /whole number from 1 to 4096/],
  [{ NUM_SHARDS: '0' }, 'NUM_SHARDS', /whole number/],
  [{ CAPACITY: '-1' }, 'CAPACITY', /whole number from 0/],
  [{ EVICTION_POLICY: 'mru' }, 'EVICTION_POLICY', /one of lru, lfu, fifo, ttl, random$/],
  [{ APPEND_FSYNC: 'sometimes' }, 'APPEND_FSYNC', /one of always, everysec, no$/],
  [{ NODE_ID: 'n'.repeat(129) }, 'NODE_ID', /a non-empty id of at most 128 characters$/],
  [{ NODE_ID: '   ' }, 'NODE_ID', /a non-empty id of at most 128 characters$/],
  [{ SNAPSHOT_INTERVAL: 'often' }, 'SNAPSHOT_INTERVAL', /a duration/],
  [{ MAX_MEMORY: 'lots' }, 'MAX_MEMORY', /size in bytes/],
  [{ COMPRESSION_THRESHOLD: 'big' }, 'COMPRESSION_THRESHOLD', /size in bytes from 0/],
  [{ TTL: '-5' }, 'TTL', /duration/],
  [{ ADDR: 'nohost' }, 'ADDR', /host:port/],
  [{ ADDR: '127.0.0.1:99999' }, 'ADDR', /host:port/],
  [{ ADDR: 'cache1:0' }, 'ADDR', /host:port, e\.g\. .*\(port 0 is outside 1\.\.65535\)$/], // port 0 only where a node binds
  [{ METRICS_ADDR: '9100' }, 'METRICS_ADDR', /host:port or :port/],
  [{ PEERS: 'a,b c' }, 'PEERS', /comma-separated/],
  [{ RATE_LIMIT: 'fast' }, 'RATE_LIMIT', /number from 0/],
  [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL', /one of trace/],
  [{ WRITE_QUORUM: '4' }, 'WRITE_QUORUM', /at most REPLICATION_FACTOR/],
  [{ SUSPECT_TIMEOUT: '5s', DEAD_TIMEOUT: '2s' }, 'DEAD_TIMEOUT', /longer than SUSPECT_TIMEOUT/],
  [{ TLS_CERT: '/c.pem' }, 'TLS_KEY', /required when TLS_CERT is set/],
  [{ TLS_KEY: '/k.pem' }, 'TLS_CERT', /required when TLS_KEY or TLS_CA is set/],
  [{ TLS_CERT: '/c.pem', TLS_KEY: '/k.pem' }, 'TLS_CA', /required when TLS_CERT is set/],
  [{ TLS_CLIENT_AUTH: 'require' }, 'TLS_CLIENT_AUTH', /need TLS/],
  [{ TLS_CLIENT_AUTH: 'maybe' }, 'TLS_CLIENT_AUTH', /one of none, request, require/],
  [{ AUTH_JWT_AUDIENCE: 'cache' }, 'AUTH_JWT_AUDIENCE', /only with AUTH_JWT_KEY/],
  [{ RELOAD_INTERVAL: '1ms' }, 'RELOAD_INTERVAL', /duration from 100ms/],
  [{ CLUSTER_SECRET: 'short-secret' }, 'CLUSTER_SECRET', /^invalid configuration: CLUSTER_SECRET=<redacted>: at least 16 characters$/],
];
for (const [env, variable, allowed] of bad) {
  test(`bad ${variable}=${Object.values(env).join(',')} is refused, naming the variable and what is allowed`, () => {
    assert.throws(
      () => parseConfig(env),
      (e: unknown) => {
        assert.ok(e instanceof ConfigError);
        assert.equal(e.variable, variable);
        assert.match(e.message, new RegExp(`^invalid configuration: ${variable}=`));
        assert.match(e.message, allowed);
        assert.ok(!e.message.includes('\n'), 'one line');
        return true;
      },
    );
  });
}
