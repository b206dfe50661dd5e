/**
 * The batch calls and Flush through grpcurl, the way users first meet the API: discovered by
 * server reflection, JSON in and out. Uses the strict grpcurl stand-in beside the checkout
 * (../shared/tools/grpcurl, Debian's python3-grpcio and python3-grpc-tools; .ci/run installs
 * them), since the real grpcurl cannot be installed on our machines.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { type NodeProc, ROOT, startNode } from '../helpers/procs.ts';

const run = promisify(execFile);
const GRPCURL = `${ROOT}../shared/tools/grpcurl/grpcurl.py`;
const PYTHON = '/usr/bin/python3';
const missing = !existsSync(GRPCURL) ? `no grpcurl stand-in at ${GRPCURL}` : !existsSync(PYTHON) ? `no ${PYTHON}` : undefined;

describe('grpcurl with reflection', { timeout: 60_000, skip: missing }, () => {
  let node: NodeProc;
  before(async () => {
    node = await startNode();
  });
  after(async () => {
    await node.stop('SIGKILL');
  });

  const grpcurl = async (...args: string[]) => (await run(PYTHON, [GRPCURL, '-plaintext', ...args], { timeout: 20_000 })).stdout;
  const call = async (method: string, body: object) => JSON.parse(await grpcurl('-d', JSON.stringify(body), node.addr, method));

  test('MSet, MGet (a bad key answered alone), MDelete, Flush, and describe lists them', async () => {
    const set = await call('cache.v1.CacheService/MSet', {
      entries: [
        { key: 'a', value: '1' },
        { key: 'b', data: 'AAE=' },
        { key: 'p:x', value: 'y' },
      ],
    });
    assert.deepEqual(
      set.results.map((r: { key: string }) => r.key),
      ['a', 'b', 'p:x'],
    );
    const got = await call('cache.v1.CacheService/MGet', { keys: ['a', '', 'b', 'nope'] });
    assert.deepEqual(got.results[0], { key: 'a', found: true, value: '1', version: set.results[0].version });
    assert.deepEqual(got.results[1].error, { code: 3, message: 'key must not be empty' });
    assert.equal(got.results[2].data, 'AAE=');
    assert.deepEqual(got.results[3], { key: 'nope' });
    const del = await call('cache.v1.CacheService/MDelete', { keys: ['a'] });
    assert.equal(del.results[0].deleted, true);
    const flush = await call('cache.v1.ClusterService/Flush', { prefix: 'p:' });
    assert.ok(BigInt(flush.version) > BigInt(set.results[2].version));
    const after = await call('cache.v1.CacheService/MGet', { keys: ['a', 'b', 'p:x'] });
    assert.deepEqual(
      after.results.map((r: { found?: boolean }) => r.found ?? false),
      [false, true, false],
    );
    const described =
      (await grpcurl(node.addr, 'describe', 'cache.v1.CacheService')) + (await grpcurl(node.addr, 'describe', 'cache.v1.ClusterService'));
    for (const m of ['MGet', 'MSet', 'MDelete', 'Flush']) assert.match(described, new RegExp(`rpc ${m} \\(`));
  });
});
