/** Hint delivery (src/replication/hint-delivery.ts) over an in-memory transport. */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { MemberState } from '../../src/membership/table.ts';
import type { PeerTransport } from '../../src/replication/coordinator.ts';
import { HintDelivery } from '../../src/replication/hint-delivery.ts';
import { HintStore } from '../../src/replication/hints.ts';
import type { EntryRecord } from '../../src/store/store.ts';

const rec = (wall: number): EntryRecord => ({
  value: `v${wall}`,
  binary: false,
  wall,
  logical: 0,
  node: 'a',
  expiresAt: 0,
  tombstone: false,
});

function setup(states: Record<string, MemberState>, opts: { failing?: string[]; held?: boolean } = {}) {
  const hints = new HintStore(100);
  const written: string[] = [];
  const pending: (() => void)[] = [];
  const local: string[] = [];
  const peers: PeerTransport = {
    write(node, key, _rec, cb) {
      written.push(`${node}:${key}`);
      const answer = () => cb(opts.failing?.includes(node) ? new Error(`${node} down`) : null, false);
      if (opts.held) pending.push(answer);
      else answer();
    },
    read() {
      throw new Error('hint delivery does not read');
    },
  };
  const d = new HintDelivery({
    selfId: 'a',
    hints,
    peers,
    stateOf: (id) => states[id],
    replicas: () => ['a', 'c', 'd'],
    applyLocal: (key) => {
      local.push(key);
    },
  });
  return { d, hints, written, pending, local };
}

test('hints for an alive member are written to it and forgotten once it confirmed', () => {
  const { d, hints, written } = setup({ b: 'alive' });
  hints.add('b', 'k1', rec(1));
  hints.add('b', 'k2', rec(2));
  d.deliver();
  assert.deepEqual(written, ['b:k1', 'b:k2']);
  assert.equal(hints.pending, 0);
  assert.equal(hints.delivered, 2);
});

test('members not alive keep their hints; a failed write keeps the hint too', () => {
  const { d, hints, written } = setup({ b: 'suspect', c: 'dead', e: 'alive' }, { failing: ['e'] });
  hints.add('b', 'k', rec(1));
  hints.add('c', 'k', rec(1));
  hints.add('e', 'k', rec(1));
  d.deliver();
  assert.deepEqual(written, ['e:k']);
  assert.equal(hints.pending, 3);
});

test('one batch per target in flight at a time', () => {
  const { d, hints, written, pending } = setup({ b: 'alive' }, { held: true });
  hints.add('b', 'k', rec(1));
  d.deliver();
  d.deliver();
  assert.deepEqual(written, ['b:k'], 'not sent again while the first is unanswered');
  for (const p of pending.splice(0)) p();
  assert.equal(hints.pending, 0);
  hints.add('b', 'j', rec(2));
  d.deliver();
  assert.deepEqual(written, ['b:k', 'b:j']);
});

test('hints for a member that left (or is unknown) go to the current replicas; this node applies its own', () => {
  const { d, hints, written, local } = setup({ gone: 'left' }, { failing: ['d'] });
  hints.add('gone', 'k', rec(1));
  hints.add('ghost', 'j', rec(2));
  d.deliver();
  assert.deepEqual(local.sort(), ['j', 'k']);
  assert.deepEqual(written.sort(), ['c:j', 'c:k', 'd:j', 'd:k']);
  assert.deepEqual(hints.targets(), ['d'], 'a replica that could not be reached keeps a hint of its own');
});

test("rerouteAll sends every target's hints to the current replicas (the node is leaving)", () => {
  const { d, hints, written } = setup({ b: 'alive' });
  hints.add('b', 'k', rec(1));
  d.rerouteAll();
  assert.deepEqual(written.sort(), ['c:k', 'd:k']);
  assert.equal(hints.pending, 0);
});
