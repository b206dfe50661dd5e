/**
 * PeerPool's channel bookkeeping (src/peer/client.ts): one channel per peer address, closed
 * when the member goes or moves. The peers here are loopback ports nobody listens on, so
 * every operation fails (UNAVAILABLE), which is all these tests need.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
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
