/**
 * Protobuf wire-format primitives for the hand-written codecs of the hot messages
 * (src/server/codec.ts for CacheService, src/replication/codec.ts for the peer Exchange).
 * Pure functions over Buffers: no schema, no allocation beyond what the caller keeps.
 */

export class WireError extends Error {}

type FastBuffer = Buffer & { utf8Slice?: (s: number, e: number) => string; latin1Slice?: (s: number, e: number) => string };

export const WT_VARINT = 0;
export const WT_LEN = 2;

/** Reads one message from a buffer; every read is bounds-checked and throws WireError. */
export class Reader {
  pos = 0;
  readonly end: number;
  constructor(readonly buf: FastBuffer, start = 0, end = buf.length) {
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

  string(): string {
    const [s, e] = this.lenBounds();
    return s === e ? '' : this.buf.utf8Slice ? this.buf.utf8Slice(s, e) : this.buf.toString('utf8', s, e);
  }

  /** A bytes field as a latin1 string (one char per byte), the store's form for binary values. */
  latin1(): string {
    const [s, e] = this.lenBounds();
    return s === e ? '' : this.buf.latin1Slice ? this.buf.latin1Slice(s, e) : this.buf.toString('latin1', s, e);
  }

  skip(wireType: number): void {
    switch (wireType) {
      case 0: this.varint(); return;
      case 1: this.pos += 8; break;
      case 2: this.lenBounds(); return;
      case 5: this.pos += 4; break;
      default: throw new WireError(`unsupported wire type ${wireType}`);
    }
    if (this.pos > this.end) throw new WireError('truncated fixed field');
  }
}

export function varintSize(n: number): number {
  let size = 1;
  while (n >= 128) { n = Math.floor(n / 128); size++; }
  return size;
}

/** Writes a non-negative integer (exact up to 2^53) as a varint at pos; returns the new pos. */
export function writeVarint(buf: Buffer, pos: number, n: number): number {
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
    this.buf[this.pos++] = (field << 3) | WT_LEN;
    this.pos = writeVarint(this.buf, this.pos, bytes);
    if (bytes > 0) this.pos += this.buf.write(s, this.pos, bytes, enc);
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
