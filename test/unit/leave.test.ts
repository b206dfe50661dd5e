/** The graceful leave sequence (src/topology/leave.ts) with its steps faked and time passed in. */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HashRing } from '../../src/ring/ring.ts';
import { type LeaveSteps, leave, within } from '../../src/topology/leave.ts';

const ring = new HashRing(8);
ring.add('b');

function steps(over: Partial<LeaveSteps> = {}) {
  const log: string[] = [];
  const s: LeaveSteps = {
    stopAcceptingWrites: () => {
      log.push('stop-writes');
    },
    announce: async () => {
      log.push('announce');
    },
    ringWithoutSelf: () => ring,
    handoff: async (r) => {
      log.push(`handoff ${r.nodes().join(',')}`);
      return { keys: 3, unconfirmed: 1 };
    },
    rerouteHints: () => {
      log.push('reroute');
    },
    ...over,
  };
  return { s, log };
}

const never = <T>() => new Promise<T>(() => undefined);

test("in order: stop taking writes, announce, hand keys and hints on; the outcome is the hand-off's", async () => {
  const { s, log } = steps();
  assert.deepEqual(await leave(s, Date.now() + 5_000), { kind: 'handed-off', keys: 3, unconfirmed: 1 });
  assert.deepEqual(log, ['stop-writes', 'announce', 'handoff b', 'reroute']);
});

test('alone: nothing to hand on, nothing done', async () => {
  const { s, log } = steps({ ringWithoutSelf: () => undefined });
  assert.deepEqual(await leave(s, Date.now() + 5_000), { kind: 'alone' });
  assert.deepEqual(log, []);
});

test('an announce that never answers costs at most announceMs, not the deadline', { timeout: 5_000 }, async () => {
  const { s, log } = steps({ announce: never });
  // the deadline is an hour away: only announceMs (10 ms) lets this finish within the timeout
  assert.deepEqual(await leave(s, 3_600_000, () => 0, 10), { kind: 'handed-off', keys: 3, unconfirmed: 1 });
  assert.deepEqual(log, ['stop-writes', 'handoff b', 'reroute']);
});

test('a hand-off still running at the deadline is cut short', { timeout: 5_000 }, async () => {
  const { s, log } = steps({ handoff: never });
  assert.deepEqual(await leave(s, Date.now() + 30), { kind: 'cut-short' });
  assert.deepEqual(log, ['stop-writes', 'announce', 'reroute'], 'hints were rerouted all the same');
});
test('within(): the value, or undefined on timeout or failure', async () => {
  assert.equal(await within(Promise.resolve(7), 1_000), 7);
  assert.equal(await within(never(), 5), undefined);
  assert.equal(await within(Promise.reject(new Error('x')), 1_000), undefined);
});
