/** DATA_DIR's adapter (src/persist/files.ts) against a real directory and a real Store: load, log, snapshot, damage. */
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { pino } from 'pino';
import { HybridClock } from '../../src/hlc/hlc.ts';
import { Persistence, PersistenceError } from '../../src/persist/files.ts';
import { Store } from '../../src/store/store.ts';
import { rec } from '../helpers/records.ts';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const newDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'tscache-persist-'));
  dirs.push(d);
  return d;
};

/** A logger that keeps its lines. */
function memLog() {
  const lines: { level: number; msg: string }[] = [];
  const log = pino({ level: 'info' }, { write: (s: string) => lines.push(JSON.parse(s)) });
  return { log, lines };
}

function node(dir: string, id = 'n1', fsync: 'always' | 'everysec' | 'no' = 'no', graceMs = 600_000) {
  const store = new Store({ shards: 4, capacity: 0, maxMemoryBytes: 0, policy: 'lru', tombstoneGraceMs: graceMs });
  const clock = new HybridClock(id);
  const { log, lines } = memLog();
  const p = new Persistence(store, clock, { dir, nodeId: id, fsync, snapshotIntervalMs: 0, tombstoneGraceMs: graceMs }, log);
  return { store, clock, p, lines };
}

const now = Date.now();
const live = (wall: number, value?: string) => rec(wall, value, { node: 'n1' });

/** Size of the one log in dir. */
const logSize = (dir: string) => statSync(join(dir, readdirSync(dir).find((f) => f.startsWith('log.'))!)).size;

/** Waits until the buffered changes have been written to the log (its size grows past `from`), as a crash would find it. */
async function written(dir: string, from: number): Promise<void> {
  const end = Date.now() + 5_000;
  while (logSize(dir) <= from) {
    if (Date.now() > end) throw new Error('the log was not written within 5 s');
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('what was applied (values, tombstones, drops, flush marks) comes back from the log alone, and the clock moves past it', async () => {
  const dir = newDir();
  const a = node(dir);
  assert.deepEqual(a.p.load(), { entries: 0, drops: 0, marks: 0, logs: 0, ms: 0 }, 'an empty directory loads nothing');
  a.p.start();
  const empty = logSize(dir);
  a.store.apply('k1', live(now, 'one'));
  a.store.apply('k2', live(now + 1, 'two'));
  a.store.apply('k2', rec(now + 2, '', { tombstone: true, node: 'n2' }));
  a.store.apply('gone', live(now + 3));
  a.store.drop('gone');
  a.store.apply('u:1', live(now + 4));
  a.store.flush([{ prefix: 'u:', wall: now + 5, logical: 7, node: 'n3' }]);
  a.store.apply('expiring', live(now + 6, 'x'));
  a.store.apply('ttl', rec(now + 6, 'short', { node: 'n1', expiresAt: Date.now() + 60_000 }));
  await written(dir, empty); // in the file, not fsynced: what survives a crash of the process

  const b = node(dir);
  b.p.load();
  assert.equal(b.store.peek('k1')?.value, 'one');
  assert.equal(b.store.peek('k2')?.tombstone, true, 'the tombstone is back');
  assert.equal(b.store.peek('gone'), undefined, 'the drop was replayed');
  assert.equal(b.store.peek('u:1'), undefined, 'the flush mark is back');
  assert.equal(b.store.flushMarks().size, 1);
  assert.equal(b.store.peek('ttl')?.expiresAt !== 0, true);
  assert.ok(b.clock.peek().wall >= now + 6, 'the clock is at or past the newest version loaded');
  await a.p.close(false);
});

test('a snapshot replaces the logs; writes during and after it are in the next log; expired entries are not loaded', async () => {
  const dir = newDir();
  const a = node(dir);
  a.p.load();
  a.p.start();
  for (let i = 0; i < 5000; i++) a.store.apply(`k${i}`, live(now + i, `v${i}`));
  a.store.apply('soon', rec(now, 'x', { node: 'n1', expiresAt: Date.now() + 150 }));
  a.store.apply('f:1', live(now));
  a.store.apply('t', rec(now + 1, '', { tombstone: true, node: 'n1' }));
  a.store.flush([{ prefix: 'f:', wall: now + 1, logical: 0, node: 'n1' }]);
  const snap = a.p.snapshot();
  a.store.apply('during', live(now + 9999, 'd')); // after the rotation: in the new log
  await snap;
  a.store.apply('after', live(now + 10_000, 'a'));
  a.store.drop('k1');
  await a.p.close(false);
  const files = readdirSync(dir).sort();
  assert.equal(files.filter((f) => f.startsWith('log.')).length, 1, `one log left: ${files}`);
  assert.ok(files.includes('snapshot.tscd'));
  await new Promise((r) => setTimeout(r, 200)); // 'soon' expires

  const b = node(dir);
  const report = b.p.load();
  assert.equal(b.store.size, 5000 - 1 + 2, 'every key but the dropped one, plus the two written during and after');
  assert.equal(b.store.peek('k4999')?.value, 'v4999');
  assert.equal(b.store.peek('during')?.value, 'd');
  assert.equal(b.store.peek('after')?.value, 'a');
  assert.equal(b.store.peek('k1'), undefined);
  assert.equal(b.store.peek('soon'), undefined, 'expired: not loaded');
  assert.equal(b.store.flushMarks().size, 1, 'the flush mark is in the snapshot');
  assert.equal(b.store.isFlushed('f:1', live(now)), true, 'a flushed key stays flushed');
  assert.equal(b.store.peek('t')?.tombstone, true, 'the tombstone is in the snapshot');
  assert.equal(report.logs, 1);
  for (const f of readdirSync(dir)) assert.equal(statSync(join(dir, f)).mode & 0o777, 0o600, `${f}: readable by the node's user only`);
});

test('a truncated log is cut at its last good record, with a warning, and the file itself is cut', async () => {
  const dir = newDir();
  const a = node(dir);
  a.p.load();
  a.p.start();
  for (let i = 0; i < 10; i++) a.store.apply(`k${i}`, live(now + i, `value-${i}`));
  await a.p.close(false);
  const log = readdirSync(dir).find((f) => f.startsWith('log.'))!;
  const size = readFileSync(join(dir, log)).length;
  truncateSync(join(dir, log), size - 5); // the last record torn
  const b = node(dir);
  b.p.load();
  assert.equal(b.store.size, 9);
  assert.equal(b.store.peek('k9'), undefined);
  assert.ok(
    b.lines.some((l) => l.level === 40 && /cut at its last good record/.test(l.msg)),
    'warned',
  );
  const cut = readFileSync(join(dir, log)).length;
  assert.ok(cut < size - 5, 'the torn bytes are gone from the file');
  appendFileSync(join(dir, log), Buffer.from([1, 2, 3])); // garbage after the cut
  const c = node(dir);
  c.p.load();
  assert.equal(c.store.size, 9);
});

test('a snapshot with a flipped byte is moved aside with an error and the node starts empty', async () => {
  const dir = newDir();
  const a = node(dir);
  a.p.load();
  a.p.start();
  for (let i = 0; i < 100; i++) a.store.apply(`k${i}`, live(now + i, `value-${i}`));
  await a.p.close(true);
  const path = join(dir, 'snapshot.tscd');
  const bytes = readFileSync(path);
  bytes[Math.floor(bytes.length / 2)] ^= 0x40;
  writeFileSync(path, bytes);
  const b = node(dir);
  b.p.load();
  assert.equal(b.store.size, 0);
  assert.ok(
    b.lines.some((l) => l.level === 50 && /snapshot is damaged/.test(l.msg)),
    'error logged',
  );
  const files = readdirSync(dir);
  assert.ok(!files.includes('snapshot.tscd') && files.some((f) => f.startsWith('snapshot.tscd.corrupt-')), `${files}`);
  // and the node goes on: a new snapshot can be written and loaded
  b.p.start();
  b.store.apply('new', live(now + 1000));
  await b.p.close(true);
  const c = node(dir);
  c.p.load();
  assert.equal(c.store.size, 1);
});

test("another node's files, or another format, stop the node with a message naming DATA_DIR", async () => {
  const dir = newDir();
  const a = node(dir, 'n1');
  a.p.load();
  a.p.start();
  a.store.apply('k', live(now));
  await a.p.close(true);
  assert.throws(
    () => node(dir, 'n2').p.load(),
    (e) =>
      e instanceof PersistenceError && e.message.startsWith(`DATA_DIR=${dir}: snapshot.tscd is written by node "n1", this node is "n2"`),
  );
  const path = join(dir, 'snapshot.tscd');
  const bytes = readFileSync(path);
  bytes.writeUInt16LE(99, 4);
  writeFileSync(path, bytes);
  assert.throws(() => node(dir, 'n1').p.load(), /DATA_DIR=.*snapshot\.tscd: format version 99, this build reads version 1/);
});

test('data older than TOMBSTONE_GRACE is not loaded (set aside, with a warning)', async () => {
  const dir = newDir();
  const a = node(dir, 'n1', 'no', 1000);
  a.p.load();
  a.p.start();
  a.store.apply('k', live(Date.now()));
  await a.p.close(true);
  const b = node(dir, 'n1', 'no', 1000);
  b.p.load(Date.now() + 5000);
  assert.equal(b.store.size, 0);
  assert.ok(b.lines.some((l) => l.level === 40 && /longer than TOMBSTONE_GRACE/.test(l.msg)));
});

test('an idle node keeps its log looking fresh, so a restart soon after is not taken for a long absence', async () => {
  const dir = newDir();
  const a = node(dir, 'n1', 'no', 4000); // touched every second (a quarter of the grace)
  a.p.load();
  a.p.start();
  a.store.apply('k', live(Date.now()));
  const log = join(dir, readdirSync(dir).find((f) => f.startsWith('log.'))!);
  const wroteAt = statSync(log).mtimeMs;
  const end = Date.now() + 5_000;
  while (statSync(log).mtimeMs < wroteAt + 1500) {
    if (Date.now() > end) throw new Error('the idle log was not touched within 5 s');
    await new Promise((r) => setTimeout(r, 100));
  }
  await a.p.close(false);
  const b = node(dir, 'n1', 'no', 4000);
  b.p.load(wroteAt + 5000); // longer than the grace after the write, not after the node last ran
  assert.equal(b.store.peek('k')?.value !== undefined, true, 'loaded');
});

test('with APPEND_FSYNC=always a write is in the file when apply returns', () => {
  const dir = newDir();
  const a = node(dir, 'n1', 'always');
  a.p.load();
  a.p.start();
  const log = readdirSync(dir).find((f) => f.startsWith('log.'))!;
  const before = readFileSync(join(dir, log)).length;
  a.store.apply('k', live(now, 'v'));
  assert.ok(readFileSync(join(dir, log)).length > before);
  void a.p.close(false);
});

test('a DATA_DIR that cannot be made or written stops the node, naming it', () => {
  const dir = newDir();
  writeFileSync(join(dir, 'file'), 'x');
  const bad = join(dir, 'file', 'data');
  assert.throws(
    () => node(bad).p.load(),
    (e) => e instanceof PersistenceError && e.message.startsWith(`DATA_DIR=${bad}: `),
  );
});

test('a snapshot whose logs are gone: the next log still comes after it (and is not taken for a superseded one)', async () => {
  const dir = newDir();
  const a = node(dir);
  a.p.load();
  a.p.start();
  a.store.apply('old', live(now));
  await a.p.close(true);
  for (const f of readdirSync(dir)) if (f.startsWith('log.')) rmSync(join(dir, f));
  const b = node(dir);
  b.p.load();
  b.p.start();
  b.store.apply('new', live(now + 1));
  await b.p.close(false);
  const c = node(dir);
  c.p.load();
  assert.equal(c.store.peek('old')?.wall, now);
  assert.equal(c.store.peek('new')?.wall, now + 1, 'the write logged after the restart is loaded, not deleted as older than the snapshot');
});
