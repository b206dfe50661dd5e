/**
 * Hand-written protobuf codecs for the hot CacheService messages. They produce and accept
 * exactly the proto3 wire format of proto/cache/v1/cache.proto (unknown fields are
 * skipped), but decode straight from the request buffer into a small object and encode
 * answers without the generic fromObject/encode passes of protobufjs. The reflection
 * service and every other method keep using the generic definitions.
 */
import { Reader, varintSize, writeVarint } from '../wire/proto.js';

export interface KeyRequest { key: string; consistency: number }
export interface SetRequest extends KeyRequest { value: string; binary: boolean; data?: Buffer; ttlMs: number }

/** What the Get handler answers; `value` is text, or bytes as a latin1 string when binary. */
export interface GetAnswer { value: string; binary: boolean; wall: number; logical: number; ttlMs: number }
export interface WriteAnswer { wall: number; logical: number; deleted?: boolean }

export function decodeKeyRequest(buf: Buffer): KeyRequest {
  const r = new Reader(buf);
  const out: KeyRequest = { key: '', consistency: 0 };
  while (!r.done) {
    const tag = r.varint();
    const field = tag >>> 3;
    if (field === 1 && (tag & 7) === 2) out.key = r.string();
    else if (field === 2 && (tag & 7) === 0) out.consistency = r.varint();
    else r.skip(tag & 7);
  }
  return out;
}

export function decodeSetRequest(buf: Buffer): SetRequest {
  const r = new Reader(buf);
  const out: SetRequest = { key: '', consistency: 0, value: '', binary: false, data: undefined, ttlMs: 0 };
  while (!r.done) {
    const tag = r.varint();
    const wt = tag & 7;
    switch (tag >>> 3) {
      case 1: if (wt === 2) { out.key = r.string(); continue; } break;
      case 2: if (wt === 2) { out.value = r.string(); out.binary = false; out.data = undefined; continue; } break;
      case 3: if (wt === 0) { out.ttlMs = r.varint(); continue; } break;
      case 4: if (wt === 0) { out.consistency = r.varint(); continue; } break;
      case 5: if (wt === 2) {
        const [s, e] = r.lenBounds();
        out.data = buf.subarray(s, e); // a view: the handler copies what it keeps
        out.binary = true;
        out.value = '';
        continue;
      } break;
    }
    r.skip(wt);
  }
  return out;
}

// ---- encoding ----

/** The uint64 version (wall << 16 | logical) as a varint, from its two exact halves. */
function versionSize(wall: number, logical: number): number {
  const hi = Math.floor(wall / 65536);
  const lo = ((wall % 65536) * 65536 + logical);
  // value = hi * 2^32 + lo; its varint size from the bit length
  if (hi === 0) return varintSize(lo);
  const bits = 32 + Math.floor(Math.log2(hi)) + 1;
  return Math.ceil(bits / 7);
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

function writeText(buf: Buffer, tag: number, pos: number, s: string, bytes: number, enc: 'utf8' | 'latin1'): number {
  buf[pos++] = tag;
  pos = writeVarint(buf, pos, bytes);
  return bytes > 0 ? pos + buf.write(s, pos, bytes, enc) : pos;
}

export function encodeGetResponse(a: GetAnswer): Buffer {
  const bytes = a.binary ? a.value.length : Buffer.byteLength(a.value, 'utf8');
  const size = 1 + varintSize(bytes) + bytes
    + 1 + versionSize(a.wall, a.logical)
    + (a.ttlMs > 0 ? 1 + varintSize(a.ttlMs) : 0);
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

/** SetResponse{version=1} and DeleteResponse{deleted=1, version=2}. */
export function encodeWriteResponse(a: WriteAnswer): Buffer {
  const isDelete = a.deleted !== undefined;
  const size = (isDelete && a.deleted ? 2 : 0) + 1 + versionSize(a.wall, a.logical);
  const buf = Buffer.allocUnsafe(size);
  let pos = 0;
  if (isDelete && a.deleted) { buf[pos++] = 0x08; buf[pos++] = 1; }
  buf[pos++] = isDelete ? 0x10 : 0x08;
  writeVersion(buf, pos, a.wall, a.logical);
  return buf;
}
