/**
 * A minimal unary gRPC caller on node:http2, for the load generator only (--client h2):
 * much cheaper per call than a grpc-js channel, so more of the 2 shared CPUs go to the
 * server under test. No retries, no name resolution, no compression, cleartext only.
 */
import * as http2 from 'node:http2';

export type Done = (code: number, message: Buffer | undefined) => void;

/** gRPC length-prefixed message: 0 (uncompressed) + 4-byte big-endian length + bytes. */
export function frame(msg: Buffer): Buffer {
  const out = Buffer.allocUnsafe(5 + msg.length);
  out[0] = 0;
  out.writeUInt32BE(msg.length, 1);
  msg.copy(out, 5);
  return out;
}

const UNAVAILABLE = 14;
const INTERNAL = 13;

export class H2Channel {
  private session: http2.ClientHttp2Session;
  private readonly headers: Record<string, Record<string, string>> = {};

  constructor(
    private readonly addr: string,
    private readonly timeoutMs: number,
  ) {
    this.session = this.connect();
  }

  private connect(): http2.ClientHttp2Session {
    const s = http2.connect(`http://${this.addr}`, { settings: { enablePush: false } });
    s.on('error', () => {
      /* surfaced per stream */
    });
    s.on('close', () => {
      if (this.session === s) this.session = undefined as unknown as http2.ClientHttp2Session;
    });
    return s;
  }

  private headersFor(path: string): Record<string, string> {
    let h = this.headers[path];
    if (!h) {
      h = {
        ':method': 'POST',
        ':path': path,
        'content-type': 'application/grpc',
        te: 'trailers',
        ...(this.timeoutMs > 0 ? { 'grpc-timeout': `${this.timeoutMs}m` } : {}),
      };
      this.headers[path] = h;
    }
    return h;
  }

  /** One unary call with an already framed request; calls back once with the grpc-status and the reply message (unframed). */
  call(path: string, framed: Buffer, done: Done): void {
    if (!this.session || this.session.closed || this.session.destroyed) this.session = this.connect();
    let req: http2.ClientHttp2Stream;
    try {
      req = this.session.request(this.headersFor(path), { endStream: false });
    } catch {
      done(UNAVAILABLE, undefined);
      return;
    }
    let status = -1;
    let first: Buffer | undefined;
    let chunks: Buffer[] | undefined;
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      let msg: Buffer | undefined;
      const body = chunks ? Buffer.concat(chunks) : first;
      if (body && body.length >= 5) msg = body.subarray(5, 5 + body.readUInt32BE(1));
      done(status < 0 ? (req.rstCode ? UNAVAILABLE : INTERNAL) : status, msg);
    };
    req.on('response', (h) => {
      const s = h['grpc-status'];
      if (s !== undefined) status = Number(s);
    });
    req.on('data', (c: Buffer) => {
      if (first === undefined) first = c;
      else (chunks ??= [first]).push(c);
    });
    req.on('trailers', (h) => {
      const s = h['grpc-status'];
      if (s !== undefined) status = Number(s);
    });
    req.on('error', () => {
      /* status stays unknown -> UNAVAILABLE/INTERNAL */
    });
    req.on('close', finish);
    req.end(framed);
  }

  close(): void {
    this.session?.close();
  }
}
