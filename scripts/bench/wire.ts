/**
 * Hand-encoded cache.v1 requests (proto3 wire format) so the load generator spends no time
 * in protobufjs: bodies are built once and reused (grpc-js copies them into its own frame).
 *   SetRequest { string key = 1; string value = 2; uint64 ttl_ms = 3; Consistency consistency = 4; }
 *   GetRequest { string key = 1; Consistency consistency = 2; }
 */

function varint(n: number): number[] {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}

function lenField(field: number, bytes: Buffer): Buffer {
  return Buffer.concat([Buffer.from([(field << 3) | 2, ...varint(bytes.length)]), bytes]);
}

function enumField(field: number, v: number): Buffer {
  return v === 0 ? Buffer.alloc(0) : Buffer.from([(field << 3) | 0, ...varint(v)]);
}

export function getRequest(key: string, consistency: number): Buffer {
  return Buffer.concat([lenField(1, Buffer.from(key, 'utf8')), enumField(2, consistency)]);
}

/** Encoded fields 2 (value) and 4 (consistency), to append to an encoded key field. */
export function setTail(value: string, consistency: number): Buffer {
  return Buffer.concat([lenField(2, Buffer.from(value, 'utf8')), enumField(4, consistency)]);
}

export function keyField(key: string): Buffer {
  return lenField(1, Buffer.from(key, 'utf8'));
}

/**
 * Length of field 1 (GetResponse.value, string) or 4 (data, bytes) in an encoded GetResponse,
 * or -1 if neither is there. Only walks the top-level fields.
 */
export function valueLength(buf: Buffer): number {
  let i = 0;
  while (i < buf.length) {
    let tag = 0;
    let shift = 0;
    let b: number;
    do { b = buf[i++]; tag += (b & 0x7f) * 2 ** shift; shift += 7; } while (b & 0x80 && i < buf.length);
    const field = Math.floor(tag / 8);
    const wt = tag & 7;
    if (wt === 0) {
      while (buf[i++] & 0x80 && i < buf.length);
    } else if (wt === 2) {
      let len = 0;
      shift = 0;
      do { b = buf[i++]; len += (b & 0x7f) * 2 ** shift; shift += 7; } while (b & 0x80 && i < buf.length);
      if (field === 1 || field === 4) return len;
      i += len;
    } else if (wt === 1) i += 8;
    else if (wt === 5) i += 4;
    else return -1;
  }
  return -1;
}
