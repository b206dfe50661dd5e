/**
 * PeerPool's channel bookkeeping (src/peer/client.ts): one channel per peer address, closed
 * when the member goes or moves, replaced when it comes back while the old one waits out a
 * reconnection backoff. The peers here are loopback ports nobody listens on (every operation
 * fails: UNAVAILABLE), or a bare gRPC server that implements nothing (UNIMPLEMENTED: the call
 * reached it).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { HybridClock } from '../../src/hlc/hlc.ts';
import { PeerPool } from '../../src/peer/client.ts';
import type { EntryRecord } from '../../src/store/store.ts';
import { freePort } from '../helpers/procs.ts';

const rec: EntryRecord = { value: 'v', binary: false, wall: 1, logical: 0, node: 'a', expiresAt: 0, tombstone: false };

async function pool(addresses: Record<string, string>) {
  const p = new PeerPool(
    new HybridClock('a'),
    { selfId: 'a', timeoutMs: 500, maxBatchOps: 16, maxBatchBytes: 1 << 16, maxMessageBytes: 1 << 20 },
    (id) => addresses[id],
  );
  const write = (node: string) => new Promise<Error | null>((resolve) => p.write(node, 'k', rec, (err) => resolve(err)));
  return { p, write };
}

test('one channel per address; a member that goes has its channel closed, and its pending operations fail', async () => {
  const addresses: Record<string, string> = { b: `127.0.0.1:${await freePort()}`, c: `127.0.0.1:${await freePort()}` };
  const { p, write } = await pool(addresses);
  await write('c');
  const pending = write('b');
  assert.equal(p.size, 2);
  p.forget('b');
  assert.equal(p.size, 1);
  assert.match((await pending)?.message ?? '', /connection closed/, 'its queued operation failed at once, not left hanging');
  p.forget('b');
  assert.equal(p.size, 1, 'forgetting twice is harmless');
  p.closeAll();
  assert.equal(p.size, 0);
});

test('a member that moved to another address gets a new channel; the old one is closed', async () => {
  const addresses: Record<string, string> = { b: `127.0.0.1:${await freePort()}` };
  const { p, write } = await pool(addresses);
  await write('b');
  addresses.b = `127.0.0.1:${await freePort()}`;
  await write('b');
  assert.equal(p.size, 1);
  p.closeAll();
});

test('an unknown member is refused at once, and seeds have channels of their own', async () => {
  const { p, write } = await pool({});
  assert.match((await write('ghost'))?.message ?? '', /peer ghost unavailable: unknown address/);
  assert.equal(p.size, 0);
  await p.join(`127.0.0.1:${await freePort()}`, {}).catch(() => undefined);
  assert.equal(p.size, 1);
  p.closeAll();
});

test('reconnect: a channel waiting out its reconnection backoff is replaced, so a peer that is back is reached at once', async () => {
  // The backoff ends on a timer; should it end between the peer's return and the first call
  // (rare), the round shows nothing and is run again with another port.
  let shown = false;
  for (let round = 0; round < 3 && !shown; round++) {
    const addresses: Record<string, string> = { b: `127.0.0.1:${await freePort()}` };
    const { p, write } = await pool(addresses);
    const server = new grpc.Server();
    try {
      // The peer is gone for a while: calls to it keep failing, the channel's backoff grows.
      const until = Date.now() + 700;
      while (Date.now() < until) {
        assert.match((await write('b'))?.message ?? '', /unavailable/);
        await new Promise((r) => setTimeout(r, 50));
      }
      p.reconnect('ghost'); // unknown: nothing to do
      // It is back, at the same address.
      await new Promise<void>((resolve, reject) =>
        server.bindAsync(addresses.b, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())),
      );
      const stale = await write('b');
      if (!/No connection established/.test(stale?.message ?? '')) continue;
      // The old channel failed that call at once although the peer is up; no timer ran since.
      p.reconnect('b');
      assert.equal(p.size, 0, 'the backing-off channel was closed');
      const fresh = await write('b');
      assert.match(fresh?.message ?? '', /does not implement|unimplemented/i, `the call reached the peer: ${fresh?.message}`);
      assert.equal(p.size, 1);
      p.reconnect('b');
      assert.equal(p.size, 1, 'a channel that connects is kept');
      shown = true;
    } finally {
      p.closeAll();
      server.forceShutdown();
    }
  }
  assert.ok(shown, 'in 3 rounds the old channel never failed a call to the peer that was back');
});
