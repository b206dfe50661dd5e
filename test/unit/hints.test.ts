import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HintStore } from '../../src/replication/hints.ts';
import type { EntryRecord } from '../../src/store/store.ts';

const rec = (wall: number, value = 'v'): EntryRecord => ({
  value,
  binary: false,
  wall,
  logical: 0,
  node: 'a',
  expiresAt: 0,
  tombstone: false,
});

test('keeps the newest version per target and key', () => {
  const h = new HintStore(10);
  h.add('b', 'k', rec(2, 'new'));
  h.add('b', 'k', rec(1, 'old'));
  assert.equal(h.pending, 1);
  assert.equal(h.take('b', 10)[0][1].value, 'new');
});

test('ack forgets a delivered hint but not one replaced meanwhile', () => {
  const h = new HintStore(10);
  h.add('b', 'k', rec(1));
  const [[key, r]] = h.take('b', 1);
  h.add('b', 'k', rec(2)); // newer write arrived while delivering
  h.ack('b', key, r);
  assert.equal(h.pending, 1);
  const [[, r2]] = h.take('b', 1);
  h.ack('b', 'k', r2);
  assert.equal(h.pending, 0);
  assert.equal(h.delivered, 1);
  assert.deepEqual(h.targets(), []);
});

test('bounded: over the limit the oldest hint of the largest backlog is dropped', () => {
  const h = new HintStore(3);
  h.add('b', 'k1', rec(1));
  h.add('b', 'k2', rec(2));
  h.add('c', 'k3', rec(3));
  h.add('c', 'k4', rec(4));
  assert.equal(h.pending, 3);
  assert.equal(h.dropped, 1);
  assert.deepEqual(
    h.take('b', 10).map(([k]) => k),
    ['k2'],
  );
});
