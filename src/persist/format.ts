/**
 * The on-disk format of DATA_DIR's files (snapshots and append-only logs). Pure: bytes in,
 * bytes out; the file I/O is src/persist/files.ts.
 *
 * The contract:
 *  - A file is a header, then records. The header: MAGIC, format version (u16), kind (u8:
 *    snapshot or log), generation (u32), the HLC high-water mark when the file was begun
 *    (wall f64, logical u16), the wall ms it was begun at (f64), the node id (u16 length +
 *    UTF-8), then the CRC-32 of all of that (u32). decodeHeader says exactly why a header is
 *    refused: not ours (magic), another format version, or damaged (short, bad checksum).
 *    Checking the node id is the caller's (checkHeader).
 *  - A record is its payload's length (u32), the payload's CRC-32 (u32), the payload. A
 *    payload starts with its type: ENTRY (a key and its record, tombstones included), DROP (a
 *    key removed outright), FLUSH (a flush mark) or END (a snapshot's last record, with the
 *    count of records before it: a snapshot without it is incomplete).
 *  - decodeRecords visits every whole, intact record from an offset and stops at the first
 *    one that is short (a torn tail) or fails its checksum or its own layout, reporting the
 *    offset just after the last good record: where a log is cut. Nothing after a bad record
 *    is trusted, even if it looks intact.
 *  - Numbers are little-endian. Text values are UTF-8; binary values (held as latin1 strings,
 *    one char per byte) are written as their bytes, so decode gives back the same string.
 */
import { crc32 as zlibCrc32 } from 'node:zlib';
import type { FlushMark } from '../store/flushes.js';
import type { EntryRecord } from '../store/store.js';

const MAGIC = 'TSCD';

/** CRC-32 (IEEE 802.3, as zlib's crc32) lookup tables for slicing by 4: T[k * 256 + n]. */
const CRC_TABLE = (() => {
  const t = new Int32Array(4 * 256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  for (let n = 0; n < 256; n++) for (let k = 1; k < 4; k++) t[k * 256 + n] = (t[(k - 1) * 256 + n] >>> 8) ^ t[t[(k - 1) * 256 + n] & 0xff];
  return t;
})();

/** Ranges shorter than this are summed by the loop below, which beats zlib.crc32 on a view only there (scripts/bench-persist.ts --crc). */
const HAND_CRC_BELOW = 128;

/** CRC-32 of buf[start, end). */
export function crc32(buf: Uint8Array, start = 0, end = buf.length): number {
  if (end - start >= HAND_CRC_BELOW) return zlibCrc32(buf.subarray(start, end));
  const t = CRC_TABLE;
  let c = -1;
  let i = start;
  for (const last = end - 3; i < last; i += 4) {
    c ^= buf[i] | (buf[i + 1] << 8) | (buf[i + 2] << 16) | (buf[i + 3] << 24);
    c = t[768 + (c & 0xff)] ^ t[512 + ((c >>> 8) & 0xff)] ^ t[256 + ((c >>> 16) & 0xff)] ^ t[c >>> 24];
  }
  for (; i < end; i++) c = t[(c ^ buf[i]) & 0xff] ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}

export const FORMAT_VERSION = 1;

export const KIND_SNAPSHOT = 1;
export const KIND_LOG = 2;
export type FileKind = typeof KIND_SNAPSHOT | typeof KIND_LOG;

export const T_ENTRY = 1;
export const T_DROP = 2;
export const T_FLUSH = 3;
export const T_END = 4;

const F_TOMBSTONE = 1;
const F_BINARY = 2;

/** Length + CRC of a record. */
const FRAME = 8;
/** Larger payloads are taken for damage (a flipped length byte), not allocated. */
const MAX_RECORD_BYTES = 1 << 30;

export interface FileHeader {
  version: number;
  kind: FileKind;
  /** log: its own generation; snapshot: the first log generation to replay after it */
  gen: number;
  /** HLC high-water mark when the file was begun */
  wall: number;
  logical: number;
  /** wall ms when the file was begun */
  writtenAt: number;
  node: string;
}

export type HeaderProblem =
  | { kind: 'foreign'; reason: string } // not a tscache data file, or another format version: stop the node
  | { kind: 'damaged'; reason: string }; // short or bad checksum

const MAGIC_BYTES = Buffer.from(MAGIC, 'latin1');
const FIXED = MAGIC_BYTES.length + 2 + 1 + 4 + 8 + 2 + 8 + 2;

export function encodeHeader(h: FileHeader): Buffer {
  const node = Buffer.from(h.node, 'utf8');
  const b = Buffer.allocUnsafe(FIXED + node.length + 4);
  MAGIC_BYTES.copy(b, 0);
  let o = MAGIC_BYTES.length;
  o = b.writeUInt16LE(h.version, o);
  o = b.writeUInt8(h.kind, o);
  o = b.writeUInt32LE(h.gen, o);
  o = b.writeDoubleLE(h.wall, o);
  o = b.writeUInt16LE(h.logical, o);
  o = b.writeDoubleLE(h.writtenAt, o);
  o = b.writeUInt16LE(node.length, o);
  o += node.copy(b, o);
  b.writeUInt32LE(crc32(b, 0, o), o);
  return b;
}

/** The header at the start of buf and the offset of the first record, or what is wrong with it. */
export function decodeHeader(buf: Buffer): { header: FileHeader; end: number } | HeaderProblem {
  if (buf.length < MAGIC_BYTES.length) return { kind: 'damaged', reason: `file of ${buf.length} bytes is shorter than a header` };
  if (!buf.subarray(0, MAGIC_BYTES.length).equals(MAGIC_BYTES)) return { kind: 'foreign', reason: 'not a tscache data file' };
  if (buf.length < FIXED) return { kind: 'damaged', reason: 'header cut short' };
  let o = MAGIC_BYTES.length;
  const version = buf.readUInt16LE(o);
  o += 2;
  if (version !== FORMAT_VERSION) {
    return { kind: 'foreign', reason: `format version ${version}, this build reads version ${FORMAT_VERSION}` };
  }
  const kind = buf.readUInt8(o++);
  const gen = buf.readUInt32LE(o);
  o += 4;
  const wall = buf.readDoubleLE(o);
  o += 8;
  const logical = buf.readUInt16LE(o);
  o += 2;
  const writtenAt = buf.readDoubleLE(o);
  o += 8;
  const nodeLen = buf.readUInt16LE(o);
  o += 2;
  if (buf.length < o + nodeLen + 4) return { kind: 'damaged', reason: 'header cut short' };
  const node = buf.toString('utf8', o, o + nodeLen);
  o += nodeLen;
  if (buf.readUInt32LE(o) !== crc32(buf, 0, o)) return { kind: 'damaged', reason: 'header checksum mismatch' };
  if (kind !== KIND_SNAPSHOT && kind !== KIND_LOG) return { kind: 'damaged', reason: `unknown file kind ${kind}` };
  return { header: { version, kind, gen, wall, logical, writtenAt, node }, end: o + 4 };
}

/**
 * Whether a decoded header may be loaded by this node as a file of this kind: undefined if so,
 * else why not (a file of another node id belongs to another node's data).
 */
export function checkHeader(h: FileHeader, nodeId: string, kind: FileKind): string | undefined {
  if (h.node !== nodeId) return `written by node ${JSON.stringify(h.node)}, this node is ${JSON.stringify(nodeId)}`;
  if (h.kind !== kind)
    return `a ${h.kind === KIND_SNAPSHOT ? 'snapshot' : 'log'} where a ${kind === KIND_SNAPSHOT ? 'snapshot' : 'log'} was expected`;
  return undefined;
}

/**
 * Appends records to one growing buffer (no allocation per record once it is large enough);
 * take() hands the bytes written so far over and starts again.
 */
export class RecordEncoder {
  private buf: Buffer;
  private len = 0;

  constructor(initialBytes = 64 * 1024) {
    this.buf = Buffer.allocUnsafe(initialBytes);
  }

  /** Bytes waiting to be taken. */
  get size(): number {
    return this.len;
  }

  entry(key: string, rec: EntryRecord): void {
    const tomb = rec.tombstone === true;
    const binary = !tomb && rec.binary;
    const value = tomb ? '' : rec.value;
    const start = this.begin(1 + 1 + 8 + 2 + 8 + 2 + rec.node.length * 3 + 4 + key.length * 3 + 4 + value.length * (binary ? 1 : 3));
    const b = this.buf;
    let o = start + FRAME;
    b[o++] = T_ENTRY;
    b[o++] = (tomb ? F_TOMBSTONE : 0) | (binary ? F_BINARY : 0);
    o = b.writeDoubleLE(rec.wall, o);
    o = b.writeUInt16LE(rec.logical, o);
    o = b.writeDoubleLE(tomb ? 0 : rec.expiresAt, o);
    o = this.str16(rec.node, o);
    o = this.str32(key, o, 'utf8');
    o = this.str32(value, o, binary ? 'latin1' : 'utf8');
    this.finish(start, o);
  }

  drop(key: string): void {
    const start = this.begin(1 + 4 + key.length * 3);
    let o = start + FRAME;
    this.buf[o++] = T_DROP;
    o = this.str32(key, o, 'utf8');
    this.finish(start, o);
  }

  flush(m: FlushMark): void {
    const start = this.begin(1 + 8 + 2 + 2 + m.node.length * 3 + 4 + m.prefix.length * 3);
    const b = this.buf;
    let o = start + FRAME;
    b[o++] = T_FLUSH;
    o = b.writeDoubleLE(m.wall, o);
    o = b.writeUInt16LE(m.logical, o);
    o = this.str16(m.node, o);
    o = this.str32(m.prefix, o, 'utf8');
    this.finish(start, o);
  }

  /** A snapshot's last record: how many records came before it. */
  end(count: number): void {
    const start = this.begin(1 + 8);
    let o = start + FRAME;
    this.buf[o++] = T_END;
    o = this.buf.writeDoubleLE(count, o);
    this.finish(start, o);
  }

  /** The bytes written since the last take(), copied out (the encoder's buffer is reused). */
  take(): Buffer {
    const out = Buffer.from(this.buf.subarray(0, this.len));
    this.len = 0;
    return out;
  }

  /** The bytes written since the last take(), as a view valid until the next write; then reset. */
  takeView(): Buffer {
    const out = this.buf.subarray(0, this.len);
    this.len = 0;
    return out;
  }

  private begin(maxPayload: number): number {
    const need = this.len + FRAME + maxPayload;
    if (need > this.buf.length) {
      const bigger = Buffer.allocUnsafe(Math.max(need, this.buf.length * 2));
      this.buf.copy(bigger, 0, 0, this.len);
      this.buf = bigger;
    }
    return this.len;
  }

  private finish(start: number, end: number): void {
    const b = this.buf;
    b.writeUInt32LE(end - start - FRAME, start);
    b.writeUInt32LE(crc32(b, start + FRAME, end), start + 4);
    this.len = end;
  }

  private str16(s: string, o: number): number {
    const n = this.buf.write(s, o + 2, 'utf8');
    this.buf.writeUInt16LE(n, o);
    return o + 2 + n;
  }

  private str32(s: string, o: number, enc: 'utf8' | 'latin1'): number {
    const n = s.length === 0 ? 0 : this.buf.write(s, o + 4, enc);
    this.buf.writeUInt32LE(n, o);
    return o + 4 + n;
  }
}

/** One decoded record; the object is reused from one visit to the next (copy what you keep). */
export interface DecodedRecord {
  type: typeof T_ENTRY | typeof T_DROP | typeof T_FLUSH | typeof T_END;
  /** ENTRY, DROP: the key; FLUSH: the prefix */
  key: string;
  /** ENTRY: the record; FLUSH: the mark's version in wall/logical/node */
  rec: EntryRecord;
  /** END: the count of records before it */
  count: number;
}

export interface DecodeResult {
  /** offset just after the last good record (where a damaged log is cut) */
  end: number;
  /** records visited */
  records: number;
  /** why decoding stopped before the end of buf, if it did */
  problem?: string;
  /** whether an END record was seen (decoding stops there) */
  ended: boolean;
}

/** Visits every intact record of buf from `offset` (see the contract at the top). */
export function decodeRecords(buf: Buffer, offset: number, visit: (r: DecodedRecord) => void): DecodeResult {
  const r: DecodedRecord = {
    type: T_ENTRY,
    key: '',
    rec: { value: '', binary: false, wall: 0, logical: 0, node: '', expiresAt: 0, tombstone: false },
    count: 0,
  };
  let o = offset;
  let records = 0;
  const stop = (problem: string): DecodeResult => ({ end: o, records, problem, ended: false });
  while (o < buf.length) {
    if (buf.length - o < FRAME) return stop(`torn record header at byte ${o}`);
    const len = buf.readUInt32LE(o);
    if (len === 0 || len > MAX_RECORD_BYTES) return stop(`implausible record length ${len} at byte ${o}`);
    const p = o + FRAME;
    const end = p + len;
    if (end > buf.length) return stop(`torn record at byte ${o} (${len} bytes announced, ${buf.length - p} present)`);
    if (crc32(buf, p, end) !== buf.readUInt32LE(o + 4)) return stop(`checksum mismatch in the record at byte ${o}`);
    if (!parsePayload(buf, p, end, r)) return stop(`malformed record at byte ${o}`);
    o = end;
    records++;
    visit(r);
    if (r.type === T_END) return { end: o, records, ended: true };
  }
  return { end: o, records, ended: false };
}

/** Parses one payload (already checksummed) into r; false if its layout does not add up. */
function parsePayload(b: Buffer, p: number, end: number, r: DecodedRecord): boolean {
  let o = p;
  const need = (n: number) => o + n <= end;
  const type = b[o++];
  const rec = r.rec;
  switch (type) {
    case T_ENTRY: {
      if (!need(1 + 8 + 2 + 8 + 2)) return false;
      const flags = b[o++];
      rec.wall = b.readDoubleLE(o);
      rec.logical = b.readUInt16LE(o + 8);
      rec.expiresAt = b.readDoubleLE(o + 10);
      o += 18;
      rec.tombstone = (flags & F_TOMBSTONE) !== 0;
      rec.binary = (flags & F_BINARY) !== 0;
      const nl = b.readUInt16LE(o);
      o += 2;
      if (!need(nl + 4)) return false;
      rec.node = b.toString('utf8', o, o + nl);
      o += nl;
      const kl = b.readUInt32LE(o);
      o += 4;
      if (!need(kl + 4)) return false;
      r.key = b.toString('utf8', o, o + kl);
      o += kl;
      const vl = b.readUInt32LE(o);
      o += 4;
      if (o + vl !== end) return false;
      rec.value = vl === 0 ? '' : b.toString(rec.binary ? 'latin1' : 'utf8', o, end);
      break;
    }
    case T_DROP: {
      if (!need(4)) return false;
      const kl = b.readUInt32LE(o);
      o += 4;
      if (o + kl !== end) return false;
      r.key = b.toString('utf8', o, end);
      break;
    }
    case T_FLUSH: {
      if (!need(8 + 2 + 2)) return false;
      rec.wall = b.readDoubleLE(o);
      rec.logical = b.readUInt16LE(o + 8);
      o += 10;
      const nl = b.readUInt16LE(o);
      o += 2;
      if (!need(nl + 4)) return false;
      rec.node = b.toString('utf8', o, o + nl);
      o += nl;
      const pl = b.readUInt32LE(o);
      o += 4;
      if (o + pl !== end) return false;
      r.key = b.toString('utf8', o, end);
      break;
    }
    case T_END:
      if (o + 8 !== end) return false;
      r.count = b.readDoubleLE(o);
      break;
    default:
      return false;
  }
  r.type = type;
  return true;
}

/**
 * Whether data last written at `lastWrittenAt` may be loaded at `now`: a node down longer than
 * the tombstone grace may hold values whose deletes every other replica has since forgotten
 * (their tombstones reclaimed), and anti-entropy would then spread those values again. Such
 * data is not loaded (undefined = load; else why not).
 */
export function staleReason(lastWrittenAt: number, now: number, tombstoneGraceMs: number): string | undefined {
  const age = now - lastWrittenAt;
  if (age <= tombstoneGraceMs) return undefined;
  return `its newest file was written ${Math.round(age / 1000)}s ago, longer than TOMBSTONE_GRACE (${Math.round(tombstoneGraceMs / 1000)}s): deletes made meanwhile may be forgotten by the other replicas, so its keys could come back`;
}
