import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Pacer } from '../../src/replication/pace.ts';

test('rule 1: rate 0 never waits', () => {
  const p = new Pacer(0, 0, 256);
  for (let i = 0; i < 100; i++) assert.equal(p.take(1_000_000, 0), 0);
});

test('rule 2: the bucket starts full with a tenth of a second, at least one chunk', () => {
  assert.equal(new Pacer(10_000, 0, 256).take(1000, 0), 0, 'a tenth of 10k/s is 1000 keys');
  assert.equal(new Pacer(10_000, 0, 256).take(1001, 0), 1, 'one key over: 0.1 ms, rounded up');
  assert.equal(new Pacer(100, 0, 256).take(256, 0), 0, 'at least one chunk even when rate/10 is smaller');
});

test('rule 3: a debt is waited off, and the long-run rate is the configured one', () => {
  const p = new Pacer(10_000, 0, 256);
  assert.equal(p.take(1000, 0), 0);
  assert.equal(p.take(500, 0), 50, '500 keys at 10k/s = 50 ms');
  assert.equal(p.take(500, 50), 50, 'after waiting, the next 500 again 50 ms');
  // A sender that always waits what it is told sends 10k keys/s over a simulated minute.
  let now = 100;
  let sent = 0;
  const q = new Pacer(10_000, now, 256);
  while (now < 60_100) {
    now += q.take(256, now);
    sent += 256;
  }
  assert.ok(Math.abs(sent - 600_000) <= 1000 + 256, `sent ${sent} in 60 s`);
});

test('rule 3: idle time refills only up to the burst', () => {
  const p = new Pacer(10_000, 0, 256);
  p.take(1000, 0);
  assert.equal(p.take(1000, 3_600_000), 0, 'an hour idle refills a full bucket');
  assert.equal(p.take(1000, 3_600_000), 100, 'but no more than one burst');
});

test('rule 4: a clock that steps back refills nothing', () => {
  const p = new Pacer(1000, 10_000, 100);
  assert.equal(p.take(100, 10_000), 0);
  assert.equal(p.take(100, 5_000), 100, 'no tokens came back with the step back');
});
