/**
 * The hand-written protobuf codec of the hot messages: the CacheService calls
 * (GetRequest, SetRequest, DeleteRequest and their answers), the batch calls MGet and MSet
 * (requests and answers; MDelete keeps the generic codec) and the peer Exchange stream
 * (Batch, BatchReply). Everything else goes through @grpc/proto-loader's generic codec
 * (src/protos/protos.ts). These messages are kept by hand because `scripts/bench-codec.ts`
 * shows, in one run, that this path costs a fraction of the generic one (see
 * docs/BENCHMARKS.md): values go straight between the wire and store records, with no
 * intermediate objects and no fromObject/toObject passes. MGet and MSet are kept by hand
 * because `scripts/bench-batch.sh` (A/B in one run) measured 1.55x (MGet) and 1.27x (MSet)
 * the keys/s of the generic codec on one node, 100 keys a call (docs/benchmarks/2026-12-02-batch.md).
 *
 * The bytes are exactly the proto3 encoding of proto/cache/v1/cache.proto and
 * proto/cache/peer/v1/peer.proto (tested against protobufjs both ways): fields may come in
 * any order, unknown fields are skipped, and a malformed message throws WireError, which the
 * server answers with INVALID_ARGUMENT. Strings of the public API must be valid UTF-8
 * (as proto3 requires): a key or text value that is not is refused (in a batch call that
 * key alone fails, with INVALID_ARGUMENT), never taken as its U+FFFD-decoded text (which
 * would make two different keys collide).
 *
 * One decode loop (`readMessage`) reads every message: each message is a table of field
 * readers by field number. One version packer (`versionSize`/`writeVersion`) turns an HLC
 * timestamp into the API's uint64 version.
 */
import { isUtf8 } from 'node:buffer';
import type { EntryRecord } from '../store/store.js';

/** A message that cannot be decoded; the message says why. */
export class WireError extends Error {
  override readonly name = 'WireError';
}

type FastBuffer = Buffer & {
  utf8Slice?: (s: number, e: number) => string;
  latin1Slice?: (s: number, e: number) => string;
  latin1Write?: (s: string, pos: number, len: number) => number;
};

const WT_VARINT = 0;
const WT_FIXED64 = 1;
const WT_LEN = 2;
const WT_FIXED32 = 5;

// ---------------------------------------------------------------- reading

/** Reads the fields of one message from a buffer; every read is bounds-checked and throws WireError. */
export class Reader {
  pos: number;
  readonly end: number;
  constructor(
    readonly buf: FastBuffer,
    start = 0,
    end = buf.length,
  ) {
    this.pos = start;
    this.end = end;
  }

  get done(): boolean {
    return this.pos >= this.end;
  }

  /** A varint as a JS number (exact up to 2^53; larger values lose low bits, which callers range-check). */
  varint(): number {
    const b = this.buf;
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new WireError('truncated varint');
      const byte = b[this.pos++];
      result += (byte & 0x7f) * mul;
      if (byte < 0x80) return result;
      mul *= 128;
    }
    throw new WireError('varint too long');
  }

  /** A length-delimited field: its [start, end) in buf; the reader moves past it. */
  lenBounds(): [number, number] {
    const len = this.varint();
    const start = this.pos;
    const end = start + len;
    if (end > this.end) throw new WireError('truncated length-delimited field');
    this.pos = end;
    return [start, end];
  }

  /** An embedded message: a reader over its bytes. */
  sub(): Reader {
    const [s, e] = this.lenBounds();
    return new Reader(this.buf, s, e);
  }

  /** A string field written by a peer (trusted: it validated the text when a client sent it). */
  string(): string {
    const [s, e] = this.lenBounds();
    return s === e ? '' : this.buf.utf8Slice ? this.buf.utf8Slice(s, e) : this.buf.toString('utf8', s, e);
  }

  /** A string field from a client: refused unless it is valid UTF-8 (`field` names it in the error). */
  utf8(field: string): string {
    const [s, e] = this.lenBounds();
    if (s === e) return '';
    const b = this.buf;
    const text = b.utf8Slice ? b.utf8Slice(s, e) : b.toString('utf8', s, e);
    // Decoding turns every invalid sequence into U+FFFD; only then is a check of the bytes needed.
    if (text.indexOf('\ufffd') !== -1 && !isUtf8(b.subarray(s, e))) throw new WireError(`${field} is not valid UTF-8`);
    return text;
  }

  /** Set by text(): whether the last string it read was valid UTF-8. */
  valid = true;

  /**
   * A string field from a client that fails on its own rather than failing the message (the keys
   * and values of batch calls): decoded as it is, with U+FFFD for invalid sequences, and `valid`
   * set to whether it was valid UTF-8.
   */
  text(): string {
    const [s, e] = this.lenBounds();
    this.valid = true;
    if (s === e) return '';
    const b = this.buf;
    const text = b.utf8Slice ? b.utf8Slice(s, e) : b.toString('utf8', s, e);
    if (text.indexOf('\ufffd') !== -1) this.valid = isUtf8(b.subarray(s, e));
    return text;
  }

  /** A bytes field as a latin1 string (one char per byte), the store's form for binary values. */
  latin1(): string {
    const [s, e] = this.lenBounds();
    return s === e ? '' : this.buf.latin1Slice ? this.buf.latin1Slice(s, e) : this.buf.toString('latin1', s, e);
  }

  skip(wireType: number): void {
    switch (wireType) {
      case WT_VARINT:
        this.varint();
        return;
      case WT_FIXED64:
        this.pos += 8;
        break;
      case WT_LEN:
        this.lenBounds();
        return;
      case WT_FIXED32:
        this.pos += 4;
        break;
      default:
        throw new WireError(`unsupported wire type ${wireType}`);
    }
    if (this.pos > this.end) throw new WireError('truncated fixed field');
  }
}

/** How a message is read: a reader per tag (field number << 3 | wire type) it knows. */
interface MessageSpec<M> {
  create(): M;
  /** Indexed by tag; tags of other wire types than the field's are left out (skipped, like unknown fields). */
  byTag: (((r: Reader, m: M) => void) | undefined)[];
}

function spec<M>(create: () => M, fields: Record<number, [wireType: number, read: (r: Reader, m: M) => void]>): MessageSpec<M> {
  const byTag: MessageSpec<M>['byTag'] = [];
  for (const [n, [wt, read]] of Object.entries(fields)) byTag[(Number(n) << 3) | wt] = read;
  return { create, byTag };
}

/** The decode loop: reads fields until the end, skipping unknown ones (and known ones with a wrong wire type). */
function readMessage<M>(r: Reader, s: MessageSpec<M>): M {
  const m = s.create();
  const buf = r.buf;
  while (r.pos < r.end) {
    const first = buf[r.pos];
    let tag: number;
    if (first < 0x80) {
      tag = first;
      r.pos++;
    } else tag = r.varint();
    const read = s.byTag[tag];
    if (read !== undefined) read(r, m);
    else r.skip(tag & 7);
  }
  return m;
}

// ---------------------------------------------------------------- writing

function varintSize(n: number): number {
  let size = 1;
  while (n >= 128) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

/** Writes a non-negative integer (exact up to 2^53) as a varint at pos; returns the new pos. */
function writeVarint(buf: Buffer, pos: number, n: number): number {
  while (n >= 128) {
    buf[pos++] = (n % 128) | 0x80;
    n = Math.floor(n / 128);
  }
  buf[pos++] = n;
  return pos;
}

/**
 * Builds one message into a growing buffer. Fields are written in the order the caller
 * gives (proto3 decoders accept any order); embedded messages are written with begin/end,
 * which reserve a length prefix and close it up afterwards.
 */
export class Writer {
  buf: Buffer;
  pos = 0;
  private readonly open: number[] = [];

  constructor(initial = 256) {
    this.buf = Buffer.allocUnsafe(initial);
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  varintField(field: number, n: number): void {
    this.ensure(20);
    this.buf[this.pos++] = (field << 3) | WT_VARINT;
    this.pos = writeVarint(this.buf, this.pos, n);
  }

  boolField(field: number, v: boolean): void {
    if (v) this.varintField(field, 1);
  }

  /** A string field, utf8 (text) or latin1 (binary values kept as one char per byte). */
  stringField(field: number, s: string, enc: 'utf8' | 'latin1' = 'utf8'): void {
    const bytes = enc === 'latin1' ? s.length : Buffer.byteLength(s, 'utf8');
    this.ensure(bytes + 11);
    this.pos = writeText(this.buf, (field << 3) | WT_LEN, this.pos, s, bytes, enc);
  }

  bytesField(field: number, b: Uint8Array): void {
    this.ensure(b.length + 11);
    this.buf[this.pos++] = (field << 3) | WT_LEN;
    this.pos = writeVarint(this.buf, this.pos, b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  /** Starts an embedded message field; its length is filled in by end(). */
  begin(field: number): void {
    this.ensure(6);
    this.buf[this.pos++] = (field << 3) | WT_LEN;
    this.open.push(this.pos);
    this.pos += 1; // one length byte reserved; end() makes room if the body is longer
  }

  end(): void {
    const at = this.open.pop()!;
    const len = this.pos - at - 1;
    const size = varintSize(len);
    if (size > 1) {
      this.ensure(size - 1);
      this.buf.copyWithin(at + size, at + 1, this.pos);
      this.pos += size - 1;
    }
    writeVarint(this.buf, at, len);
  }

  /** The message written so far (a view of the writer's buffer, which the writer does not reuse). */
  finish(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}

// ---------------------------------------------------------------- versions

/**
 * The API's uint64 version of an HLC timestamp, `wall << 16 | logical` (src/hlc/hlc.ts), is
 * written as a varint from its two exact 32-bit halves: wall ms need 41+ bits, so the packed
 * value does not fit a JS number.
 */
function versionSize(wall: number, logical: number): number {
  const hi = Math.floor(wall / 65536);
  if (hi === 0) return varintSize((wall % 65536) * 65536 + logical);
  return Math.ceil((32 + Math.floor(Math.log2(hi)) + 1) / 7);
}

function writeVersion(buf: Buffer, pos: number, wall: number, logical: number): number {
  let hi = Math.floor(wall / 65536) >>> 0;
  let lo = ((wall % 65536) * 65536 + logical) >>> 0;
  while (hi > 0 || lo >= 128) {
    buf[pos++] = (lo & 0x7f) | 0x80;
    lo = ((lo >>> 7) | (hi << 25)) >>> 0;
    hi >>>= 7;
  }
  buf[pos++] = lo;
  return pos;
}

/** The version as the decimal text of the uint64 (for messages encoded by the generic codec, whose longs are strings). */
export function versionText(wall: number, logical: number): string {
  return ((BigInt(wall) << 16n) | BigInt(logical)).toString();
}

/** Reads a uint64 version varint into its HLC parts (the inverse of writeVersion). */
function readVersion(r: Reader, into: { wall: number; logical: number }): void {
  let lo = 0;
  let hi = 0;
  for (let shift = 0; ; shift += 7) {
    if (shift > 63) throw new WireError('varint too long');
    if (r.pos >= r.end) throw new WireError('truncated varint');
    const byte = r.buf[r.pos++];
    const bits = byte & 0x7f;
    if (shift < 28) lo |= bits << shift;
    else if (shift === 28) {
      lo |= (bits & 0x0f) << 28;
      hi |= bits >>> 4;
    } else hi |= bits << (shift - 32);
    if (byte < 0x80) break;
  }
  lo >>>= 0;
  hi >>>= 0;
  into.wall = hi * 65536 + (lo >>> 16);
  into.logical = lo & 0xffff;
}

function writeText(buf: FastBuffer, tag: number, pos: number, s: string, bytes: number, enc: 'utf8' | 'latin1'): number {
  buf[pos++] = tag;
  pos = writeVarint(buf, pos, bytes);
  if (bytes === 0) return pos;
  // Text of as many UTF-8 bytes as chars is ASCII, whose latin1 bytes are the same: written without encoding.
  if ((enc === 'latin1' || bytes === s.length) && buf.latin1Write) return pos + buf.latin1Write(s, pos, bytes);
  return pos + buf.write(s, pos, bytes, enc);
}

// ---------------------------------------------------------------- cache.v1.CacheService

/** GetRequest {key=1, consistency=2} and DeleteRequest (same fields). */
export interface KeyRequest {
  key: string;
  consistency: number;
}
/**
 * SetRequest {key=1, value=2 | data=5, ttl_ms=3, consistency=4, lease_token=6}; `data` is a view
 * of the request buffer; `leaseToken` '' = none.
 */
export interface SetRequest extends KeyRequest {
  value: string;
  binary: boolean;
  data: Buffer | undefined;
  ttlMs: number;
  leaseToken: string;
}

/** What a Get answers: GetResponse {value=1 | data=4, version=2, ttl_remaining_ms=3}; `value` is bytes as latin1 when binary. */
export interface GetAnswer {
  value: string;
  binary: boolean;
  wall: number;
  logical: number;
  ttlMs: number;
}
/** SetResponse {version=1} or, with `deleted`, DeleteResponse {deleted=1, version=2}. */
export interface WriteAnswer {
  wall: number;
  logical: number;
  deleted?: boolean;
}

// biome-ignore format: one line per field reads as the message's field table
const KEY_REQUEST = spec<KeyRequest>(() => ({ key: '', consistency: 0 }), {
  1: [WT_LEN, (r, m) => { m.key = r.utf8('key'); }],
  2: [WT_VARINT, (r, m) => { m.consistency = r.varint(); }],
});

// biome-ignore format: one line per field reads as the message's field table
const SET_REQUEST = spec<SetRequest>(() => ({ key: '', consistency: 0, value: '', binary: false, data: undefined, ttlMs: 0, leaseToken: '' }), {
  1: [WT_LEN, (r, m) => { m.key = r.utf8('key'); }],
  2: [WT_LEN, (r, m) => { m.value = r.utf8('value'); m.binary = false; m.data = undefined; }],
  3: [WT_VARINT, (r, m) => { m.ttlMs = r.varint(); }],
  4: [WT_VARINT, (r, m) => { m.consistency = r.varint(); }],
  5: [WT_LEN, (r, m) => {
    const [s, e] = r.lenBounds();
    m.data = r.buf.subarray(s, e); // a view: the handler copies what it keeps
    m.binary = true;
    m.value = '';
  }],
  6: [WT_LEN, (r, m) => { m.leaseToken = r.utf8('lease_token'); }],
});

export function decodeKeyRequest(buf: Buffer): KeyRequest {
  return readMessage(new Reader(buf), KEY_REQUEST);
}

export function decodeSetRequest(buf: Buffer): SetRequest {
  return readMessage(new Reader(buf), SET_REQUEST);
}

export function encodeGetResponse(a: GetAnswer): Buffer {
  const bytes = a.binary ? a.value.length : Buffer.byteLength(a.value, 'utf8');
  const size = 1 + varintSize(bytes) + bytes + 1 + versionSize(a.wall, a.logical) + (a.ttlMs > 0 ? 1 + varintSize(a.ttlMs) : 0);
  const buf = Buffer.allocUnsafe(size);
  let pos = 0;
  // fields in number order: value (1), version (2), ttl_remaining_ms (3), data (4)
  if (!a.binary) pos = writeText(buf, 0x0a, pos, a.value, bytes, 'utf8');
  buf[pos++] = 0x10;
  pos = writeVersion(buf, pos, a.wall, a.logical);
  if (a.ttlMs > 0) {
    buf[pos++] = 0x18;
    pos = writeVarint(buf, pos, a.ttlMs);
  }
  if (a.binary) writeText(buf, 0x22, pos, a.value, bytes, 'latin1');
  return buf;
}

export function encodeWriteResponse(a: WriteAnswer): Buffer {
  const isDelete = a.deleted !== undefined;
  const size = (isDelete && a.deleted ? 2 : 0) + 1 + versionSize(a.wall, a.logical);
  const buf = Buffer.allocUnsafe(size);
  let pos = 0;
  if (isDelete && a.deleted) {
    buf[pos++] = 0x08;
    buf[pos++] = 1;
  }
  buf[pos++] = isDelete ? 0x10 : 0x08;
  writeVersion(buf, pos, a.wall, a.logical);
  return buf;
}

// biome-ignore format: one line per field reads as the message's field table
const GET_RESPONSE = spec<GetAnswer>(() => ({ value: '', binary: false, wall: 0, logical: 0, ttlMs: 0 }), {
  1: [WT_LEN, (r, m) => { m.value = r.string(); m.binary = false; }],
  2: [WT_VARINT, (r, m) => { readVersion(r, m); }],
  3: [WT_VARINT, (r, m) => { m.ttlMs = r.varint(); }],
  4: [WT_LEN, (r, m) => { m.value = r.latin1(); m.binary = true; }],
});

/** SetResponse and DeleteResponse: `version` is field 1 of the one and 2 of the other. */
// biome-ignore format: one line per field reads as the message's field table
const SET_RESPONSE = spec<WriteAnswer>(() => ({ wall: 0, logical: 0 }), {
  1: [WT_VARINT, (r, m) => { readVersion(r, m); }],
});
// biome-ignore format: one line per field reads as the message's field table
const DELETE_RESPONSE = spec<WriteAnswer>(() => ({ wall: 0, logical: 0, deleted: false }), {
  1: [WT_VARINT, (r, m) => { m.deleted = r.varint() !== 0; }],
  2: [WT_VARINT, (r, m) => { readVersion(r, m); }],
});

export function decodeGetResponse(buf: Buffer): GetAnswer {
  return readMessage(new Reader(buf), GET_RESPONSE);
}

export function decodeSetResponse(buf: Buffer): WriteAnswer {
  return readMessage(new Reader(buf), SET_RESPONSE);
}

export function decodeDeleteResponse(buf: Buffer): WriteAnswer {
  return readMessage(new Reader(buf), DELETE_RESPONSE);
}

/** A GetRequest/DeleteRequest body (load generators: scripts/bench). */
export function encodeKeyRequest(req: KeyRequest): Buffer {
  const w = new Writer(16 + req.key.length * 3);
  w.stringField(1, req.key);
  if (req.consistency !== 0) w.varintField(2, req.consistency);
  return w.finish();
}

/** A SetRequest body (load generators: scripts/bench). */
export function encodeSetRequest(req: SetRequest): Buffer {
  const w = new Writer(32 + req.key.length * 3 + (req.data ? req.data.length : req.value.length * 3));
  w.stringField(1, req.key);
  if (req.data) w.bytesField(5, req.data);
  else w.stringField(2, req.value);
  if (req.ttlMs) w.varintField(3, req.ttlMs);
  if (req.consistency !== 0) w.varintField(4, req.consistency);
  if (req.leaseToken) w.stringField(6, req.leaseToken);
  return w.finish();
}

// ---------------------------------------------------------------- cache.v1.CacheService batch calls

/** One key's error in a batch answer: KeyError {code=1, message=2}; `code` is a gRPC status code (never 0). */
export class KeyFailure {
  constructor(
    readonly code: number,
    readonly message: string,
  ) {}
}

/**
 * MGetRequest {keys=1, consistency=2}. A key that is not valid UTF-8 fails alone, not the call:
 * its index is in `invalid` (and its text has U+FFFD where the bytes were invalid).
 */
export interface MGetRequest {
  keys: string[];
  consistency: number;
  invalid: number[] | undefined;
}

/** What an MGet found for a key: its value and version, and when it expires (0: never). */
export type FoundValue = Pick<EntryRecord, 'value' | 'binary' | 'wall' | 'logical' | 'expiresAt'>;

/**
 * MGetResponse {results=1} of MGetResult {key=1, found=2, value=3 | data=4, version=5,
 * ttl_remaining_ms=6, error=7}: per key, in request order, the value found, null for a missing
 * key, or the key's failure. ttl_remaining_ms is counted from `now` (decoding gives now = 0, so
 * `expiresAt` is then the ttl_remaining_ms itself).
 */
export interface MGetAnswer {
  keys: readonly string[];
  results: readonly (FoundValue | null | KeyFailure)[];
  now: number;
}

/**
 * MSetEntry {key=1, value=2 | data=3, ttl_ms=4}; `data` is a view of the request buffer. A key or
 * text value that is not valid UTF-8 makes the entry fail alone (`invalidKey`, `invalidValue`).
 */
export interface MSetEntry {
  key: string;
  value: string;
  binary: boolean;
  data: Buffer | undefined;
  ttlMs: number;
  invalidKey: boolean;
  invalidValue: boolean;
}

/** MSetRequest {entries=1, consistency=2}. */
export interface MSetRequest {
  entries: MSetEntry[];
  consistency: number;
}

/** An entry written (its version), or `superseded`: not written, a later entry of its key was (wall 0: that one failed). */
export interface MSetWritten {
  wall: number;
  logical: number;
  superseded?: boolean;
}

/** MSetResponse {results=1} of MSetResult {key=1, version=2, error=3, superseded=4}, in request order. */
export interface MSetAnswer {
  entries: readonly { key: string }[];
  results: readonly (MSetWritten | KeyFailure)[];
}

// biome-ignore format: one line per field reads as the message's field table
const MGET_REQUEST = spec<MGetRequest>(() => ({ keys: [], consistency: 0, invalid: undefined }), {
  1: [WT_LEN, (r, m) => { const k = r.text(); if (!r.valid) (m.invalid ??= []).push(m.keys.length); m.keys.push(k); }],
  2: [WT_VARINT, (r, m) => { m.consistency = r.varint(); }],
});

// biome-ignore format: one line per field reads as the message's field table
const MSET_ENTRY = spec<MSetEntry>(() => ({ key: '', value: '', binary: false, data: undefined, ttlMs: 0, invalidKey: false, invalidValue: false }), {
  1: [WT_LEN, (r, m) => { m.key = r.text(); m.invalidKey = !r.valid; }],
  2: [WT_LEN, (r, m) => { m.value = r.text(); m.invalidValue = !r.valid; m.binary = false; m.data = undefined; }],
  3: [WT_LEN, (r, m) => {
    const [s, e] = r.lenBounds();
    m.data = r.buf.subarray(s, e); // a view: the handler copies what it keeps
    m.binary = true;
    m.value = '';
    m.invalidValue = false;
  }],
  4: [WT_VARINT, (r, m) => { m.ttlMs = r.varint(); }],
});

// biome-ignore format: one line per field reads as the message's field table
const MSET_REQUEST = spec<MSetRequest>(() => ({ entries: [], consistency: 0 }), {
  1: [WT_LEN, (r, m) => { m.entries.push(readMessage(r.sub(), MSET_ENTRY)); }],
  2: [WT_VARINT, (r, m) => { m.consistency = r.varint(); }],
});

export function decodeMGetRequest(buf: Buffer): MGetRequest {
  return readMessage(new Reader(buf), MGET_REQUEST);
}

export function decodeMSetRequest(buf: Buffer): MSetRequest {
  return readMessage(new Reader(buf), MSET_REQUEST);
}

/** Per-result sizes of the answer being encoded (encoding is synchronous, so one scratch array serves every call). */
let scratch = new Float64Array(4 * 128);
function sizes(n: number): Float64Array {
  if (scratch.length < n) scratch = new Float64Array(Math.max(n, scratch.length * 2));
  return scratch;
}

/** KeyError's body: code (1), message (2) of `mb` bytes. */
function keyErrorSize(code: number, mb: number): number {
  return (code !== 0 ? 1 + varintSize(code) : 0) + (mb > 0 ? 1 + varintSize(mb) + mb : 0);
}

/** Writes KeyError `f` (body of `size` bytes, message of `mb`) as field `tag`. */
function writeKeyError(buf: Buffer, tag: number, pos: number, f: KeyFailure, size: number, mb: number): number {
  buf[pos++] = tag;
  pos = writeVarint(buf, pos, size);
  if (f.code !== 0) {
    buf[pos++] = 0x08;
    pos = writeVarint(buf, pos, f.code);
  }
  return mb > 0 ? writeText(buf, 0x12, pos, f.message, mb, 'utf8') : pos;
}

/** The answer's bytes, sized exactly first: each result's length prefix is written before its body. */
export function encodeMGetResponse(a: MGetAnswer): Buffer {
  const { keys, results, now } = a;
  const n = results.length;
  const lens = sizes(4 * n); // per result: key bytes, value (or message) bytes, ttl, body size
  let total = 0;
  for (let i = 0, j = 0; i < n; i++, j += 4) {
    const r = results[i]!;
    const kb = Buffer.byteLength(keys[i]!, 'utf8');
    let body = kb > 0 ? 1 + varintSize(kb) + kb : 0;
    let vb = 0;
    let ttl = 0;
    if (r instanceof KeyFailure) {
      vb = Buffer.byteLength(r.message, 'utf8');
      const eb = keyErrorSize(r.code, vb);
      body += 1 + varintSize(eb) + eb;
    } else if (r !== null) {
      vb = r.binary ? r.value.length : Buffer.byteLength(r.value, 'utf8');
      ttl = r.expiresAt === 0 ? 0 : Math.max(1, r.expiresAt - now);
      body += 2 + 1 + varintSize(vb) + vb + 1 + versionSize(r.wall, r.logical) + (ttl > 0 ? 1 + varintSize(ttl) : 0);
    }
    lens[j] = kb;
    lens[j + 1] = vb;
    lens[j + 2] = ttl;
    lens[j + 3] = body;
    total += 1 + varintSize(body) + body;
  }
  const buf = Buffer.allocUnsafe(total);
  let pos = 0;
  for (let i = 0, j = 0; i < n; i++, j += 4) {
    const r = results[i]!;
    const kb = lens[j]!;
    const vb = lens[j + 1]!;
    buf[pos++] = 0x0a;
    pos = writeVarint(buf, pos, lens[j + 3]!);
    // fields in number order: key (1), found (2), value (3) | data (4), version (5), ttl_remaining_ms (6), error (7)
    if (kb > 0) pos = writeText(buf, 0x0a, pos, keys[i]!, kb, 'utf8');
    if (r instanceof KeyFailure) pos = writeKeyError(buf, 0x3a, pos, r, keyErrorSize(r.code, vb), vb);
    else if (r !== null) {
      buf[pos++] = 0x10;
      buf[pos++] = 1;
      pos = r.binary ? writeText(buf, 0x22, pos, r.value, vb, 'latin1') : writeText(buf, 0x1a, pos, r.value, vb, 'utf8');
      buf[pos++] = 0x28;
      pos = writeVersion(buf, pos, r.wall, r.logical);
      const ttl = lens[j + 2]!;
      if (ttl > 0) {
        buf[pos++] = 0x30;
        pos = writeVarint(buf, pos, ttl);
      }
    }
  }
  return buf;
}

export function encodeMSetResponse(a: MSetAnswer): Buffer {
  const { entries, results } = a;
  const n = results.length;
  const lens = sizes(3 * n); // per result: key bytes, message bytes, body size
  let total = 0;
  for (let i = 0, j = 0; i < n; i++, j += 3) {
    const r = results[i]!;
    const kb = Buffer.byteLength(entries[i]!.key, 'utf8');
    let body = kb > 0 ? 1 + varintSize(kb) + kb : 0;
    let mb = 0;
    if (r instanceof KeyFailure) {
      mb = Buffer.byteLength(r.message, 'utf8');
      const eb = keyErrorSize(r.code, mb);
      body += 1 + varintSize(eb) + eb;
    } else {
      if (r.wall !== 0 || r.logical !== 0) body += 1 + versionSize(r.wall, r.logical);
      if (r.superseded) body += 2;
    }
    lens[j] = kb;
    lens[j + 1] = mb;
    lens[j + 2] = body;
    total += 1 + varintSize(body) + body;
  }
  const buf = Buffer.allocUnsafe(total);
  let pos = 0;
  for (let i = 0, j = 0; i < n; i++, j += 3) {
    const r = results[i]!;
    const kb = lens[j]!;
    buf[pos++] = 0x0a;
    pos = writeVarint(buf, pos, lens[j + 2]!);
    // fields in number order: key (1), version (2), error (3), superseded (4)
    if (kb > 0) pos = writeText(buf, 0x0a, pos, entries[i]!.key, kb, 'utf8');
    if (r instanceof KeyFailure) pos = writeKeyError(buf, 0x1a, pos, r, keyErrorSize(r.code, lens[j + 1]!), lens[j + 1]!);
    else {
      if (r.wall !== 0 || r.logical !== 0) {
        buf[pos++] = 0x10;
        pos = writeVersion(buf, pos, r.wall, r.logical);
      }
      if (r.superseded) {
        buf[pos++] = 0x20;
        buf[pos++] = 1;
      }
    }
  }
  return buf;
}

// biome-ignore format: one line per field reads as the message's field table
const KEY_ERROR = spec<{ code: number; message: string }>(() => ({ code: 0, message: '' }), {
  1: [WT_VARINT, (r, m) => { m.code = r.varint(); }],
  2: [WT_LEN, (r, m) => { m.message = r.string(); }],
});

interface BatchResult {
  key: string;
  found: boolean;
  value: string;
  binary: boolean;
  wall: number;
  logical: number;
  ttlMs: number;
  superseded: boolean;
  error: KeyFailure | undefined;
}

const batchResult = (): BatchResult => ({
  key: '',
  found: false,
  value: '',
  binary: false,
  wall: 0,
  logical: 0,
  ttlMs: 0,
  superseded: false,
  error: undefined,
});
const keyFailure = (r: Reader): KeyFailure => {
  const e = readMessage(r.sub(), KEY_ERROR);
  return new KeyFailure(e.code, e.message);
};

// biome-ignore format: one line per field reads as the message's field table
const MGET_RESULT = spec<BatchResult>(batchResult, {
  1: [WT_LEN, (r, m) => { m.key = r.string(); }],
  2: [WT_VARINT, (r, m) => { m.found = r.varint() !== 0; }],
  3: [WT_LEN, (r, m) => { m.value = r.string(); m.binary = false; }],
  4: [WT_LEN, (r, m) => { m.value = r.latin1(); m.binary = true; }],
  5: [WT_VARINT, (r, m) => { readVersion(r, m); }],
  6: [WT_VARINT, (r, m) => { m.ttlMs = r.varint(); }],
  7: [WT_LEN, (r, m) => { m.error = keyFailure(r); }],
});

// biome-ignore format: one line per field reads as the message's field table
const MSET_RESULT = spec<BatchResult>(batchResult, {
  1: [WT_LEN, (r, m) => { m.key = r.string(); }],
  2: [WT_VARINT, (r, m) => { readVersion(r, m); }],
  3: [WT_LEN, (r, m) => { m.error = keyFailure(r); }],
  4: [WT_VARINT, (r, m) => { m.superseded = r.varint() !== 0; }],
});

/** The results of an MGetResponse or MSetResponse, one message per field 1. */
function readResults(buf: Buffer, s: MessageSpec<BatchResult>): BatchResult[] {
  const r = new Reader(buf);
  const out: BatchResult[] = [];
  while (r.pos < r.end) {
    const tag = r.varint();
    if (tag === ((1 << 3) | WT_LEN)) out.push(readMessage(r.sub(), s));
    else r.skip(tag & 7);
  }
  return out;
}

/** An MGetResponse (clients, tests): `now` is 0, so a found value's `expiresAt` is its ttl_remaining_ms. */
export function decodeMGetResponse(buf: Buffer): MGetAnswer {
  const rs = readResults(buf, MGET_RESULT);
  return {
    keys: rs.map((x) => x.key),
    results: rs.map((x) =>
      x.error ? x.error : x.found ? { value: x.value, binary: x.binary, wall: x.wall, logical: x.logical, expiresAt: x.ttlMs } : null,
    ),
    now: 0,
  };
}

export function decodeMSetResponse(buf: Buffer): MSetAnswer {
  const rs = readResults(buf, MSET_RESULT);
  return {
    entries: rs.map((x) => ({ key: x.key })),
    results: rs.map(
      (x) => x.error ?? (x.superseded ? { wall: x.wall, logical: x.logical, superseded: true } : { wall: x.wall, logical: x.logical }),
    ),
  };
}

/** An MGetRequest body (load generators, tests); `invalid` is not sent. */
export function encodeMGetRequest(req: Pick<MGetRequest, 'keys' | 'consistency'>): Buffer {
  const w = new Writer(16 + req.keys.reduce((n, k) => n + 3 + k.length * 3, 0));
  for (const k of req.keys) w.stringField(1, k);
  if (req.consistency !== 0) w.varintField(2, req.consistency);
  return w.finish();
}

/** An MSetRequest body (load generators, tests). */
export function encodeMSetRequest(req: {
  entries: readonly Pick<MSetEntry, 'key' | 'value' | 'data' | 'ttlMs'>[];
  consistency: number;
}): Buffer {
  const w = new Writer(256);
  for (const e of req.entries) {
    w.begin(1);
    w.stringField(1, e.key);
    if (e.data) w.bytesField(3, e.data);
    else w.stringField(2, e.value);
    if (e.ttlMs) w.varintField(4, e.ttlMs);
    w.end();
  }
  if (req.consistency !== 0) w.varintField(2, req.consistency);
  return w.finish();
}

// ---------------------------------------------------------------- cache.peer.v1 Exchange

/**
 * One operation of a Batch: Op {kind=1, entry=2, key=3, have_wall=5, have_logical=6, have_node=7,
 * lease_ms=8, lease_token=9}.
 */
export interface PeerOp {
  /** cache.peer.v1.OpKind (src/protos/generated/peer/cache/peer/v1/OpKind.ts) */
  kind: number;
  key: string;
  /** WRITE, LEASE_WRITE: the record to apply. */
  rec?: EntryRecord;
  /** READ: the version the sender already holds; the replica then answers `same` if it has exactly that. */
  have?: EntryRecord;
  /** LEASE: how long the lease lasts (ms). */
  leaseMs?: number;
  /** LEASE_WRITE: the token the write carries. */
  leaseToken?: string;
}

/** Batch {seq=1, ops=2, hlc_wall=3, hlc_logical=4, from=5}. */
export interface PeerBatch {
  seq: number;
  ops: PeerOp[];
  hlcWall: number;
  hlcLogical: number;
  from: string;
}

/**
 * Result {found=1, entry=2, error=3, existed=4, same=5, newer=6, lease_token=7, wait_ms=8,
 * stale=9, refused=10}: the answer to one op (see peer.proto).
 */
export interface PeerResult {
  /** READ: the replica holds an entry for the key (then `rec` is set, or `same` is). */
  found?: boolean;
  rec?: EntryRecord;
  /** Non-empty if the operation failed on the replica. */
  error?: string;
  /** WRITE: the replica held a live value before. */
  existed?: boolean;
  /** READ: the replica's entry has exactly the version in `have`. */
  same?: boolean;
  /** WRITE: not applied, something newer is held; `rec` has its version (no value). */
  newer?: boolean;
  /** LEASE: the lease granted. */
  leaseToken?: string;
  /** LEASE: another caller holds the lease, with this many ms left. */
  waitMs?: number;
  /** LEASE: `rec` is a recently expired value, not a live one. */
  stale?: boolean;
  /** LEASE_WRITE: why the write was refused (not applied). */
  refused?: string;
}

/** BatchReply {seq=1, results=2, hlc_wall=3, hlc_logical=4}: results in the order of the batch's ops. */
export interface PeerBatchReply {
  seq: number;
  results: PeerResult[];
  hlcWall: number;
  hlcLogical: number;
}

// Entry {key=1, text=2 | data=3, wall=4, logical=5, node=6, expires_at=7, tombstone=8}

function writeEntry(w: Writer, field: number, key: string, rec: EntryRecord): void {
  w.begin(field);
  w.stringField(1, key);
  if (rec.binary) w.stringField(3, rec.value, 'latin1');
  else w.stringField(2, rec.value);
  w.varintField(4, rec.wall);
  w.varintField(5, rec.logical);
  w.stringField(6, rec.node);
  if (rec.expiresAt !== 0) w.varintField(7, rec.expiresAt);
  w.boolField(8, rec.tombstone);
  w.end();
}

interface KeyedEntry {
  key: string;
  rec: EntryRecord;
}

// biome-ignore format: one line per field reads as the message's field table
const ENTRY = spec<KeyedEntry>(() => ({ key: '', rec: { value: '', binary: false, wall: 0, logical: 0, node: '', expiresAt: 0, tombstone: false } }), {
  1: [WT_LEN, (r, m) => { m.key = r.string(); }],
  2: [WT_LEN, (r, m) => { m.rec.value = r.string(); m.rec.binary = false; }],
  3: [WT_LEN, (r, m) => { m.rec.value = r.latin1(); m.rec.binary = true; }],
  4: [WT_VARINT, (r, m) => { m.rec.wall = r.varint(); }],
  5: [WT_VARINT, (r, m) => { m.rec.logical = r.varint(); }],
  6: [WT_LEN, (r, m) => { m.rec.node = r.string(); }],
  7: [WT_VARINT, (r, m) => { m.rec.expiresAt = r.varint(); }],
  8: [WT_VARINT, (r, m) => { m.rec.tombstone = r.varint() !== 0; }],
});

function have(m: PeerOp): EntryRecord {
  return (m.have ??= { value: '', binary: false, wall: 0, logical: 0, node: '', expiresAt: 0, tombstone: false });
}

// biome-ignore format: one line per field reads as the message's field table
const OP = spec<PeerOp>(() => ({ kind: 0, key: '' }), {
  1: [WT_VARINT, (r, m) => { m.kind = r.varint(); }],
  2: [WT_LEN, (r, m) => { const e = readMessage(r.sub(), ENTRY); m.key = e.key; m.rec = e.rec; }],
  3: [WT_LEN, (r, m) => { m.key = r.string(); }],
  5: [WT_VARINT, (r, m) => { have(m).wall = r.varint(); }],
  6: [WT_VARINT, (r, m) => { have(m).logical = r.varint(); }],
  7: [WT_LEN, (r, m) => { have(m).node = r.string(); }],
  8: [WT_VARINT, (r, m) => { m.leaseMs = r.varint(); }],
  9: [WT_LEN, (r, m) => { m.leaseToken = r.string(); }],
});

function readOp(r: Reader): PeerOp {
  const op = readMessage(r, OP);
  if (op.have !== undefined && op.have.wall === 0) delete op.have; // have_wall 0 = the sender holds nothing
  return op;
}

/** hlc_wall = 3, hlc_logical = 4: the sender's clock, in Batch and BatchReply alike. */
// biome-ignore format: one line per field reads as the message's field table
function hlcFields<M extends { hlcWall: number; hlcLogical: number }>(): Record<number, [number, (r: Reader, m: M) => void]> {
  return {
    3: [WT_VARINT, (r, m) => { m.hlcWall = r.varint(); }],
    4: [WT_VARINT, (r, m) => { m.hlcLogical = r.varint(); }],
  };
}

// biome-ignore format: one line per field reads as the message's field table
const BATCH = spec<PeerBatch>(() => ({ seq: 0, ops: [], hlcWall: 0, hlcLogical: 0, from: '' }), {
  1: [WT_VARINT, (r, m) => { m.seq = r.varint(); }],
  2: [WT_LEN, (r, m) => { m.ops.push(readOp(r.sub())); }],
  ...hlcFields<PeerBatch>(),
  5: [WT_LEN, (r, m) => { m.from = r.string(); }],
});

// A READ result's entry has no key: the sender knows which key it asked for.
// biome-ignore format: one line per field reads as the message's field table
const RESULT = spec<PeerResult>(() => ({}), {
  1: [WT_VARINT, (r, m) => { m.found = r.varint() !== 0; }],
  2: [WT_LEN, (r, m) => { m.rec = readMessage(r.sub(), ENTRY).rec; }],
  3: [WT_LEN, (r, m) => { m.error = r.string(); }],
  4: [WT_VARINT, (r, m) => { m.existed = r.varint() !== 0; }],
  5: [WT_VARINT, (r, m) => { m.same = r.varint() !== 0; }],
  6: [WT_VARINT, (r, m) => { m.newer = r.varint() !== 0; }],
  7: [WT_LEN, (r, m) => { m.leaseToken = r.string(); }],
  8: [WT_VARINT, (r, m) => { m.waitMs = r.varint(); }],
  9: [WT_VARINT, (r, m) => { m.stale = r.varint() !== 0; }],
  10: [WT_LEN, (r, m) => { m.refused = r.string(); }],
});

// biome-ignore format: one line per field reads as the message's field table
const BATCH_REPLY = spec<PeerBatchReply>(() => ({ seq: 0, results: [], hlcWall: 0, hlcLogical: 0 }), {
  1: [WT_VARINT, (r, m) => { m.seq = r.varint(); }],
  2: [WT_LEN, (r, m) => { m.results.push(readMessage(r.sub(), RESULT)); }],
  ...hlcFields<PeerBatchReply>(),
});

export function encodeBatch(b: PeerBatch): Buffer {
  const w = new Writer(64 + b.ops.length * 160);
  w.varintField(1, b.seq);
  for (const op of b.ops) {
    w.begin(2);
    w.varintField(1, op.kind);
    if (op.rec) writeEntry(w, 2, op.key, op.rec);
    else w.stringField(3, op.key);
    if (op.have) {
      w.varintField(5, op.have.wall);
      w.varintField(6, op.have.logical);
      w.stringField(7, op.have.node);
    }
    if (op.leaseMs) w.varintField(8, op.leaseMs);
    if (op.leaseToken) w.stringField(9, op.leaseToken);
    w.end();
  }
  w.varintField(3, b.hlcWall);
  w.varintField(4, b.hlcLogical);
  w.stringField(5, b.from);
  return w.finish();
}

export function decodeBatch(buf: Buffer): PeerBatch {
  return readMessage(new Reader(buf), BATCH);
}

export function encodeBatchReply(b: PeerBatchReply): Buffer {
  const w = new Writer(64 + b.results.length * 160);
  w.varintField(1, b.seq);
  for (const res of b.results) {
    w.begin(2);
    w.boolField(1, res.found === true);
    if (res.rec) writeEntry(w, 2, '', res.rec);
    if (res.error) w.stringField(3, res.error);
    w.boolField(4, res.existed === true);
    w.boolField(5, res.same === true);
    w.boolField(6, res.newer === true);
    if (res.leaseToken) w.stringField(7, res.leaseToken);
    if (res.waitMs) w.varintField(8, res.waitMs);
    w.boolField(9, res.stale === true);
    if (res.refused) w.stringField(10, res.refused);
    w.end();
  }
  w.varintField(3, b.hlcWall);
  w.varintField(4, b.hlcLogical);
  return w.finish();
}

export function decodeBatchReply(buf: Buffer): PeerBatchReply {
  return readMessage(new Reader(buf), BATCH_REPLY);
}
