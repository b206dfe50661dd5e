import assert from 'node:assert/strict';
import { test } from 'node:test';
import { inSlices, SCAN_SLICE } from '../../src/scan/slices.ts';

test('store scans come in slices, with the event loop running between them', async () => {
  const n = SCAN_SLICE * 2 + 7;
  const items = Array.from({ length: n }, (_, i) => i);
  const events: string[] = [];
  let ticks = 0;
  const tick = () => {
    ticks++;
    if (ticks < 100) setImmediate(tick);
  };
  setImmediate(tick);
  const seen: number[] = [];
  for await (const part of inSlices(items)) {
    events.push(`slice of ${part.length} after ${ticks} ticks`);
    seen.push(...part);
  }
  assert.deepEqual(seen, items);
  assert.deepEqual(
    events.map((e) => e.split(' after ')[0]),
    [`slice of ${SCAN_SLICE}`, `slice of ${SCAN_SLICE}`, 'slice of 7'],
  );
  // other work (the setImmediate chain standing in for requests) ran between the slices
  const at = events.map((e) => Number(/after (\d+)/.exec(e)![1]));
  assert.ok(at[1] > at[0] && at[2] > at[1], events.join('; '));
});

test('an empty scan yields nothing', async () => {
  for await (const _ of inSlices([])) assert.fail('no slice expected');
});
