/**
 * Persistence for warm restarts: DATA_DIR's snapshot and append-only logs. Edge: files, timers;
 * the byte format and the rules on what may be loaded are src/persist/format.ts.
 *
 * Files (all in DATA_DIR):
 *   snapshot.tscd         the store (entries, tombstones, flush marks) as of some moment
 *   log.<gen>.tscd        every change applied since: generation `gen` begins when a snapshot
 *                         begins, and the snapshot's header names it: loading reads the
 *                         snapshot, then every log of that generation or later, in order
 *   *.tmp                 a snapshot being written (fsynced, then renamed over snapshot.tscd,
 *                         then the directory fsynced); removed at start if a crash left one
 *
 * Replaying is safe in any overlap: entries are last-write-wins and marks merge, so a change in
 * both the snapshot and a log (written while the snapshot was being taken) is applied twice to
 * the same effect. Drops are replayed in log order after the snapshot.
 */
import {
  closeSync,
  existsSync,
  fdatasync,
  fdatasyncSync,
  fsyncSync,
  ftruncateSync,
  futimes,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { type FileHandle, open, readdir, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { compareVersions, type HybridClock } from '../hlc/hlc.js';
import type { Logger } from '../log/logger.js';
import { nextTurn } from '../scan/slices.js';
import { CHANGE_DROP, type RemovalKind, type StoreObserver } from '../store/changes.js';
import type { FlushMark } from '../store/flushes.js';
import type { EntryRecord, Store } from '../store/store.js';
import {
  checkHeader,
  type DecodedRecord,
  decodeHeader,
  decodeRecords,
  encodeHeader,
  type FileHeader,
  type FileKind,
  FORMAT_VERSION,
  KIND_LOG,
  KIND_SNAPSHOT,
  RecordEncoder,
  staleReason,
  T_DROP,
  T_ENTRY,
  T_FLUSH,
} from './format.js';

type FsyncPolicy = 'always' | 'everysec' | 'no';

export interface PersistOptions {
  dir: string;
  nodeId: string;
  fsync: FsyncPolicy;
  snapshotIntervalMs: number;
  tombstoneGraceMs: number;
}

/** Files this node must not load (another node's, another format): the node stops, naming DATA_DIR. */
export class PersistenceError extends Error {
  constructor(dir: string, message: string) {
    super(`DATA_DIR=${dir}: ${message}`);
    this.name = 'PersistenceError';
  }
}

export interface LoadReport {
  /** records applied (an entry overwritten by a later record counts each time) */
  entries: number;
  drops: number;
  marks: number;
  logs: number;
  ms: number;
}

const SNAPSHOT = 'snapshot.tscd';
/** The files hold cached values: readable by the node's user only (a directory it makes: 0700). */
const FILE_MODE = 0o600;
const LOG_RE = /^log\.(\d{10})\.tscd$/;
const logName = (gen: number) => `log.${String(gen).padStart(10, '0')}.tscd`;
/** A snapshot encodes for at most this long before letting the event loop run (and writing what it has). */
const SLICE_MS = 8;
/** ...or until it holds this much. */
const SLICE_BYTES = 4 * 1024 * 1024;
/**
 * With everysec and no, changes are buffered in the process and written to the log (one system
 * call) this long after the first of them, or at once past LOG_BUFFER_BYTES: a crash of the
 * process loses at most this much, well inside everysec's one second; the fsync each second
 * bounds what a crash of the machine loses.
 */
const WRITE_DELAY_MS = 50;
const LOG_BUFFER_BYTES = 256 * 1024;

export class Persistence implements StoreObserver {
  private fd = -1;
  private gen = 0;
  private readonly enc = new RecordEncoder();
  private syncing: Promise<void> | undefined;
  private timers: NodeJS.Timeout[] = [];
  private snapshotting: Promise<void> | undefined;
  /** FileHandles of logs opened off the event loop (see rotate). */
  private handles: FileHandle[] = [];
  private writeTimer: NodeJS.Timeout | undefined;
  /** During a graceful stop: the hand-off's drops are not logged (see ignoreDrops). */
  private dropsIgnored = false;
  private writeFailed = false;
  private closed = false;
  private unobserve: (() => void) | undefined;

  constructor(
    private readonly store: Store,
    private readonly clock: HybridClock,
    private readonly opts: PersistOptions,
    private readonly log: Logger,
  ) {}

  /**
   * Loads snapshot then logs into the (empty) store and moves the clock past their high-water
   * mark. Synchronous, before the node binds. Throws PersistenceError for files this node must
   * not load; damaged files are handled as the README says (cut, or moved aside).
   */
  load(now = Date.now()): LoadReport {
    try {
      return this.loadFiles(now);
    } catch (e) {
      if (e instanceof PersistenceError) throw e;
      throw new PersistenceError(this.opts.dir, (e as Error).message);
    }
  }

  private loadFiles(now: number): LoadReport {
    const { dir, nodeId } = this.opts;
    const started = performance.now();
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
    } catch (e) {
      throw new PersistenceError(dir, `cannot create the directory: ${(e as Error).message}`);
    }
    const names = this.list();
    for (const n of names) if (n.endsWith('.tmp')) unlinkSync(join(dir, n));
    const logs = names
      .map((n) => LOG_RE.exec(n))
      .filter((m) => m !== null)
      .map((m) => Number(m[1]))
      .sort((a, b) => a - b);
    const hasSnapshot = names.includes(SNAPSHOT);
    const report: LoadReport = { entries: 0, drops: 0, marks: 0, logs: 0, ms: 0 };
    this.gen = logs.length > 0 ? logs[logs.length - 1] : 0;
    if (!hasSnapshot && logs.length === 0) return report;

    const newest = Math.max(
      ...[hasSnapshot ? SNAPSHOT : undefined, ...logs.map(logName)]
        .filter((n) => n !== undefined)
        .map((n) => statSync(join(dir, n)).mtimeMs),
    );
    const stale = staleReason(newest, now, this.opts.tombstoneGraceMs);
    if (stale) {
      this.log.warn({ dataDir: dir }, `not loading DATA_DIR ${dir}: ${stale}; starting empty (the other replicas bring the keys back)`);
      this.moveAside([hasSnapshot ? SNAPSHOT : undefined, ...logs.map(logName)], 'stale', now);
      return report;
    }

    const hwm = { wall: 0, logical: 0 };
    const raise = (wall: number, logical: number) => {
      if (compareVersions(wall, logical, '', hwm.wall, hwm.logical, '') > 0) {
        hwm.wall = wall;
        hwm.logical = logical;
      }
    };
    let fromGen = 0;
    const marks: FlushMark[] = [];
    const visit = (r: DecodedRecord) => {
      const rec = r.rec;
      switch (r.type) {
        case T_ENTRY:
          raise(rec.wall, rec.logical);
          if (this.store.apply(r.key, rec)) report.entries++;
          break;
        case T_DROP:
          if (this.store.drop(r.key)) report.drops++;
          break;
        case T_FLUSH:
          raise(rec.wall, rec.logical);
          marks.length = 0;
          marks.push({ prefix: r.key, wall: rec.wall, logical: rec.logical, node: rec.node });
          if (this.store.flush(marks)) report.marks++;
          break;
      }
    };

    if (hasSnapshot) {
      const buf = readFileSync(join(dir, SNAPSHOT));
      const h = this.header(buf, SNAPSHOT, KIND_SNAPSHOT);
      let damage: string | undefined;
      if ('damaged' in h) damage = h.damaged;
      else {
        raise(h.header.wall, h.header.logical);
        fromGen = h.header.gen;
        this.gen = Math.max(this.gen, fromGen); // the next log comes after the snapshot's, even with its logs gone
        const res = decodeRecords(buf, h.end, visit);
        if (!res.ended) damage = res.problem ?? 'no end record (incomplete)';
      }
      if (damage !== undefined) {
        this.log.error(
          { dataDir: dir, file: SNAPSHOT },
          `DATA_DIR ${dir}: snapshot is damaged (${damage}): moved aside; starting empty (the other replicas bring the keys back)`,
        );
        this.clear();
        this.moveAside([SNAPSHOT, ...logs.map(logName)], 'corrupt', now);
        return { entries: 0, drops: 0, marks: 0, logs: 0, ms: Math.round(performance.now() - started) };
      }
    }
    for (const gen of logs) {
      const name = logName(gen);
      if (gen < fromGen) {
        unlinkSync(join(dir, name)); // superseded by the snapshot (a crash came before its deletion)
        continue;
      }
      const path = join(dir, name);
      const buf = readFileSync(path);
      const h = this.header(buf, name, KIND_LOG);
      if ('damaged' in h) {
        this.log.warn({ dataDir: dir, file: name }, `DATA_DIR ${dir}: log ${name} has a damaged header (${h.damaged}): moved aside`);
        this.moveAside([name], 'corrupt', now);
        continue;
      }
      raise(h.header.wall, h.header.logical);
      const res = decodeRecords(buf, h.end, visit);
      report.logs++;
      if (res.problem !== undefined) {
        this.log.warn(
          { dataDir: dir, file: name, cutAt: res.end, bytesDropped: buf.length - res.end },
          `DATA_DIR ${dir}: log ${name} cut at its last good record (${res.problem}); ${buf.length - res.end} bytes dropped`,
        );
        const fd = openSync(path, 'r+');
        try {
          ftruncateSync(fd, res.end);
          fsyncSync(fd);
        } finally {
          closeSync(fd);
        }
      }
    }
    if (hwm.wall > 0 && !this.clock.observe(hwm.wall, hwm.logical)) {
      this.log.warn(
        { dataDir: dir, wall: hwm.wall },
        `DATA_DIR ${dir}: its newest version is far ahead of this node's clock; the clock was not moved`,
      );
    }
    report.ms = Math.round(performance.now() - started);
    const held = this.store.stats();
    this.log.info(
      { dataDir: dir, ...report, items: held.items, tombstones: held.tombstones, node: nodeId },
      `loaded ${held.items} entries and ${held.tombstones} tombstones from DATA_DIR ${dir}`,
    );
    return report;
  }

  /** Opens a new log generation, starts logging every change and the timers (fsync, snapshots). */
  start(): void {
    try {
      this.openLog(this.gen + 1);
    } catch (e) {
      throw new PersistenceError(this.opts.dir, `cannot write the log: ${(e as Error).message}`);
    }
    this.unobserve = this.store.observe(this);
    if (this.opts.fsync === 'everysec') this.every(1000, () => void this.sync());
    if (this.opts.snapshotIntervalMs > 0) this.every(this.opts.snapshotIntervalMs, () => void this.snapshot());
    // The staleness rule at load judges by the files' times; an idle node keeps its log's
    // fresh, so that the time of the newest file is when the node last ran, not last wrote.
    this.every(Math.max(1000, Math.min(30_000, this.opts.tombstoneGraceMs / 4)), () => this.touch());
  }

  /** Marks the current log as written now (off the event loop; a failure is harmless). */
  private touch(): void {
    if (this.fd === -1) return;
    const now = new Date();
    futimes(this.fd, now, now, () => {});
  }

  // ---- the log: StoreObserver ----

  applied(key: string, rec: EntryRecord): void {
    this.enc.entry(key, rec);
    this.written();
  }

  /** Expiries and evictions are not logged (a restart finds what expired gone anyway, and evicts again over capacity); drops are. */
  removed(kind: RemovalKind, key: string): void {
    if (kind !== CHANGE_DROP || this.dropsIgnored) return;
    this.enc.drop(key);
    this.written();
  }

  flushed(marks: readonly FlushMark[]): void {
    for (const m of marks) this.enc.flush(m);
    this.written();
  }

  /**
   * From now on drops are not logged: a node leaving gracefully hands its keys on and drops
   * them, and on its restart it should find them again (the ring gives them back to it).
   */
  ignoreDrops(): void {
    this.dropsIgnored = true;
  }

  private written(): void {
    if (this.opts.fsync === 'always') {
      this.writeOut();
      if (this.fd !== -1) fdatasyncSync(this.fd);
      return;
    }
    if (this.enc.size >= LOG_BUFFER_BYTES) this.writeOut();
    else if (this.writeTimer === undefined) {
      this.writeTimer = setTimeout(() => {
        this.writeTimer = undefined;
        this.writeOut();
      }, WRITE_DELAY_MS);
      this.writeTimer.unref();
    }
  }

  /** Writes the buffered records to the log (the OS holds them: they survive the process, not the machine, until fsynced). */
  private writeOut(): void {
    if (this.enc.size === 0 || this.fd === -1) return;
    const bytes = this.enc.takeView();
    try {
      let off = 0;
      while (off < bytes.length) off += writeSync(this.fd, bytes, off, bytes.length - off);
      if (this.writeFailed) this.log.info({ dataDir: this.opts.dir }, 'writing the log works again');
      this.writeFailed = false;
    } catch (e) {
      if (!this.writeFailed)
        this.log.error({ dataDir: this.opts.dir, err: e }, `cannot write the log in DATA_DIR ${this.opts.dir}: changes are not persisted`);
      this.writeFailed = true;
    }
  }

  /** Writes out and fsyncs the log (off the event loop); one at a time. */
  private sync(): Promise<void> {
    this.writeOut();
    if (this.syncing || this.fd === -1) return this.syncing ?? Promise.resolve();
    const fd = this.fd;
    this.syncing = new Promise<void>((resolve) =>
      fdatasync(fd, (err) => {
        if (err && !this.writeFailed) this.log.error({ dataDir: this.opts.dir, err }, 'cannot fsync the log');
        this.syncing = undefined;
        resolve();
      }),
    );
    return this.syncing;
  }

  // ---- snapshots ----

  /**
   * Writes a snapshot in slices (the event loop runs between them): a new log generation begins
   * first, the store is written to a temporary file, which is fsynced and renamed over the old
   * snapshot; then the logs before that generation are deleted. One at a time.
   */
  snapshot(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.snapshotting ??= this.writeSnapshot().finally(() => {
      this.snapshotting = undefined;
    });
    return this.snapshotting;
  }

  /** A failed snapshot is logged and leaves the previous snapshot and its logs in place (the timer must not see a rejection). */
  private async writeSnapshot(): Promise<void> {
    const { dir } = this.opts;
    const started = performance.now();
    let tmp: string | undefined;
    try {
      await this.rotate();
      const gen = this.gen;
      tmp = join(dir, `${SNAPSHOT}.${gen}.tmp`);
      const count = await this.writeSnapshotFile(tmp, gen);
      await rename(tmp, join(dir, SNAPSHOT));
      tmp = undefined;
      await this.syncDirAsync();
      for (const n of await readdir(dir)) {
        const m = LOG_RE.exec(n);
        if (m && Number(m[1]) < gen) await unlink(join(dir, n));
      }
      this.log.info({ dataDir: dir, records: count, ms: Math.round(performance.now() - started), gen }, 'snapshot written');
    } catch (e) {
      if (tmp !== undefined) await unlink(tmp).catch(() => {});
      this.log.error({ dataDir: dir, err: e }, `snapshot to DATA_DIR ${dir} failed: ${(e as Error).message}`);
    }
  }

  /** The store as snapshot `gen` into file `tmp`, fsynced; returns the records written. */
  private async writeSnapshotFile(tmp: string, gen: number): Promise<number> {
    const fh = await open(tmp, 'w', FILE_MODE);
    let count = 0;
    try {
      await fh.write(this.fileHeader(KIND_SNAPSHOT, gen));
      const enc = new RecordEncoder(SLICE_BYTES + 64 * 1024);
      for (const m of this.store.flushMarks().list()) {
        enc.flush(m);
        count++;
      }
      let sliceStart = performance.now();
      for (const [key, rec] of this.store.entries()) {
        enc.entry(key, rec);
        count++;
        if ((count & 255) === 0 && (enc.size >= SLICE_BYTES || performance.now() - sliceStart >= SLICE_MS)) {
          await fh.write(enc.takeView()); // the event loop runs meanwhile
          await nextTurn();
          sliceStart = performance.now();
        }
      }
      enc.end(count);
      await fh.write(enc.takeView());
      await fh.sync();
    } finally {
      await fh.close();
    }
    return count;
  }

  /**
   * Ends the current log (written out, fsynced, closed) and begins the next generation. The new
   * log's file is made off the event loop (with APPEND_FSYNC=always, on it: every change must
   * reach a file at once); changes meanwhile stay buffered and go to the new log.
   */
  private async rotate(): Promise<void> {
    this.writeOut();
    const old = this.fd;
    const gen = this.gen + 1;
    if (this.opts.fsync === 'always') this.openLog(gen);
    else {
      // Changes meanwhile still go to the old log (the snapshot, which starts after the switch,
      // holds them); if the new log cannot be made, the old one simply stays in use.
      const fh = await open(join(this.opts.dir, logName(gen)), 'w', FILE_MODE);
      try {
        await fh.write(this.fileHeader(KIND_LOG, gen));
        await fh.sync();
        await this.syncDirAsync();
      } catch (e) {
        await fh.close();
        throw e;
      }
      this.writeOut();
      this.handles.push(fh); // kept open (closed through it), written with writeSync on its fd
      this.fd = fh.fd;
      this.gen = gen;
    }
    await this.syncing;
    if (old !== -1) {
      await new Promise<void>((resolve) => fdatasync(old, () => resolve()));
      this.closeFd(old);
    }
  }

  /** Opens log `gen` on the event loop (at start, before the node binds). */
  private openLog(gen: number): void {
    const fd = openSync(join(this.opts.dir, logName(gen)), 'w', FILE_MODE);
    writeSync(fd, this.fileHeader(KIND_LOG, gen));
    fsyncSync(fd);
    this.syncDir();
    this.fd = fd;
    this.gen = gen;
  }

  /** A new file's header: this node, the clock's high-water mark now. */
  private fileHeader(kind: FileKind, gen: number): Buffer {
    const t = this.clock.peek();
    return encodeHeader({
      version: FORMAT_VERSION,
      kind,
      gen,
      wall: t.wall,
      logical: t.logical,
      writtenAt: Date.now(),
      node: this.opts.nodeId,
    });
  }

  /** Closes a log's descriptor, through its FileHandle if it was opened as one. */
  private closeFd(fd: number): void {
    const i = this.handles.findIndex((h) => h.fd === fd);
    if (i === -1) closeSync(fd);
    else void this.handles.splice(i, 1)[0].close();
  }

  /**
   * Graceful stop: a last snapshot (unless `snapshot` is false), then the log written out,
   * fsynced and closed. Nothing is logged afterwards.
   */
  async close(snapshot = true): Promise<void> {
    if (this.closed) return;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    // without a last snapshot, one still running is not waited for (its .tmp goes at the next start)
    if (snapshot) await this.snapshot();
    this.closed = true;
    this.unobserve?.();
    this.writeOut();
    await this.syncing;
    if (this.writeTimer) clearTimeout(this.writeTimer);
    if (this.fd !== -1) {
      fdatasyncSync(this.fd);
      this.closeFd(this.fd);
      this.fd = -1;
    }
  }

  // ---- helpers ----

  private header(buf: Buffer, name: string, kind: FileKind): { header: FileHeader; end: number } | { damaged: string } {
    const h = decodeHeader(buf);
    if ('kind' in h) {
      if (h.kind === 'foreign') throw new PersistenceError(this.opts.dir, `${name}: ${h.reason}; move it away or point DATA_DIR elsewhere`);
      return { damaged: h.reason };
    }
    const wrong = checkHeader(h.header, this.opts.nodeId, kind);
    if (wrong)
      throw new PersistenceError(
        this.opts.dir,
        `${name} is ${wrong}: each node needs its own DATA_DIR (or set NODE_ID to the id it was written by)`,
      );
    return h;
  }

  /** Empties the store (a damaged snapshot: whatever was applied from it is dropped). */
  private clear(): void {
    const keys = [...this.store.keys()];
    for (const k of keys) this.store.drop(k);
  }

  private moveAside(names: (string | undefined)[], why: string, now: number): void {
    for (const n of names) {
      if (n === undefined) continue;
      const from = join(this.opts.dir, n);
      if (existsSync(from)) renameSync(from, `${from}.${why}-${now}`);
    }
    this.syncDir();
  }

  private list(): string[] {
    return readdirSync(this.opts.dir);
  }

  private async syncDirAsync(): Promise<void> {
    const fh = await open(this.opts.dir, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  }

  private syncDir(): void {
    const fd = openSync(this.opts.dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }

  private every(ms: number, fn: () => void): void {
    const t = setInterval(fn, ms);
    t.unref();
    this.timers.push(t);
  }
}
