/**
 * Peer connections: one gRPC channel and one long-lived Exchange stream per peer.
 * Operations for a peer are queued and sent as one batch per event-loop turn (or earlier
 * when a batch is full); replies come back in order on the same stream.
 */
import * as grpc from '@grpc/grpc-js';
import type { EntryRecord } from '../store/store.js';
import type { HybridClock } from '../hlc/hlc.js';
import type { Logger } from '../log/logger.js';
import type { PeerTransport } from './coordinator.js';
import { definitions, serviceDef, withCodecs } from '../server/protos.js';
import { EXCHANGE_CODECS, OpKind, opSize, type PeerBatchReply, type PeerOp, type PeerResult } from './codec.js';

type OpCallback = (err: Error | null, res?: PeerResult) => void;

export class PeerUnavailableError extends Error {
  constructor(node: string, why: string) {
    super(`peer ${node} unavailable: ${why}`);
    this.name = 'PeerUnavailableError';
  }
}

export interface PeerOptions {
  selfId: string;
  timeoutMs: number;
  maxBatchOps: number;
  maxBatchBytes: number;
  maxMessageBytes: number;
}

/** Channel options for every peer channel: fast reconnects, since peers come back quickly. */
export function channelOptions(maxMessageBytes: number): grpc.ChannelOptions {
  return {
    'grpc.max_receive_message_length': maxMessageBytes,
    'grpc.max_send_message_length': maxMessageBytes,
    'grpc.initial_reconnect_backoff_ms': 100,
    'grpc.max_reconnect_backoff_ms': 1_000,
    'grpc.keepalive_time_ms': 10_000,
    'grpc.keepalive_timeout_ms': 5_000,
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.enable_channelz': 0,
  };
}

interface Pending { cbs: OpCallback[]; sentAt: number }

export class PeerClient {
  readonly client: grpc.Client;
  private stream?: grpc.ClientDuplexStream<unknown, PeerBatchReply>;
  private ops: PeerOp[] = [];
  private cbs: OpCallback[] = [];
  private bytes = 0;
  private scheduled = false;
  private seq = 0;
  private readonly pending = new Map<number, Pending>();
  private readonly timer: NodeJS.Timeout;
  private closed = false;

  constructor(
    readonly nodeId: string,
    readonly address: string,
    private readonly clock: HybridClock,
    private readonly opts: PeerOptions,
    private readonly log: Logger,
  ) {
    const name = 'cache.peer.v1.PeerService';
    const Ctor = grpc.makeClientConstructor(withCodecs(serviceDef(definitions().peerDef, name), { Exchange: EXCHANGE_CODECS }), name);
    this.client = new Ctor(address, grpc.credentials.createInsecure(), channelOptions(opts.maxMessageBytes));
    this.timer = setInterval(() => this.expire(), Math.max(10, Math.min(100, opts.timeoutMs / 4)));
    this.timer.unref();
  }

  /** Queues one operation; cb runs with the replica's result, or an error after timeoutMs. */
  send(op: PeerOp, size: number, cb: OpCallback): void {
    if (this.closed) {
      cb(new PeerUnavailableError(this.nodeId, 'connection closed'));
      return;
    }
    this.ops.push(op);
    this.cbs.push(cb);
    this.bytes += size;
    if (this.ops.length >= this.opts.maxBatchOps || this.bytes >= this.opts.maxBatchBytes) this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flushTick);
    }
  }

  /** Operations sent but not yet answered, and queued. */
  get backlog(): number {
    let n = this.ops.length;
    for (const p of this.pending.values()) n += p.cbs.length;
    return n;
  }

  private readonly flushTick = () => {
    this.scheduled = false;
    this.flush();
  };

  private flush(): void {
    if (this.ops.length === 0) return;
    const ops = this.ops;
    const cbs = this.cbs;
    this.ops = [];
    this.cbs = [];
    this.bytes = 0;
    const stream = this.ensureStream();
    const seq = (this.seq = (this.seq + 1) >>> 0);
    const hlc = this.clock.peek();
    this.pending.set(seq, { cbs, sentAt: Date.now() });
    stream.write({ seq, ops, hlcWall: hlc.wall, hlcLogical: hlc.logical, from: this.opts.selfId });
  }

  private ensureStream(): grpc.ClientDuplexStream<unknown, PeerBatchReply> {
    if (this.stream) return this.stream;
    const stream = (this.client as unknown as { Exchange(): grpc.ClientDuplexStream<unknown, PeerBatchReply> }).Exchange();
    stream.on('data', (reply: PeerBatchReply) => this.onReply(reply));
    const down = (why: string) => {
      if (this.stream !== stream) return;
      this.stream = undefined;
      this.failAll(why);
    };
    stream.on('error', (err: grpc.ServiceError) => down(err.details || err.message));
    stream.on('end', () => down('stream ended'));
    stream.on('close', () => down('stream closed'));
    this.stream = stream;
    return stream;
  }

  private onReply(reply: PeerBatchReply): void {
    if (reply.hlcWall) this.clock.observe(reply.hlcWall, reply.hlcLogical);
    const p = this.pending.get(reply.seq);
    if (!p) return; // timed out already
    this.pending.delete(reply.seq);
    const results = reply.results;
    for (let i = 0; i < p.cbs.length; i++) {
      const r = results[i];
      if (!r) p.cbs[i](new PeerUnavailableError(this.nodeId, 'missing result'));
      else if (r.error) p.cbs[i](new Error(r.error));
      else p.cbs[i](null, r);
    }
  }

  private expire(): void {
    if (this.pending.size === 0) return;
    const limit = Date.now() - this.opts.timeoutMs;
    for (const [seq, p] of this.pending) {
      if (p.sentAt > limit) break; // FIFO: the rest are younger
      this.pending.delete(seq);
      const err = new PeerUnavailableError(this.nodeId, `no answer within ${this.opts.timeoutMs}ms`);
      for (const cb of p.cbs) cb(err);
    }
  }

  private failAll(why: string): void {
    const err = new PeerUnavailableError(this.nodeId, why);
    const all = [...this.pending.values()];
    this.pending.clear();
    for (const p of all) for (const cb of p.cbs) cb(err);
  }

  close(): void {
    this.closed = true;
    clearInterval(this.timer);
    this.flush();
    this.stream?.end();
    this.stream = undefined;
    this.failAll('connection closed');
    const ops = this.cbs;
    this.ops = [];
    this.cbs = [];
    for (const cb of ops) cb(new PeerUnavailableError(this.nodeId, 'connection closed'));
    this.client.close();
  }
}

/** All peer connections of a node, by node id; implements the coordinator's PeerTransport. */
export class PeerPool implements PeerTransport {
  private readonly peers = new Map<string, PeerClient>();

  constructor(
    private readonly clock: HybridClock,
    private readonly opts: PeerOptions,
    private readonly addressOf: (node: string) => string | undefined,
    private readonly log: Logger,
    private readonly onHeard: (node: string) => void = () => undefined,
  ) {}

  get(node: string): PeerClient | undefined {
    const address = this.addressOf(node);
    if (!address) return undefined;
    let p = this.peers.get(node);
    if (p && p.address !== address) {
      p.close();
      p = undefined;
    }
    if (!p) {
      p = new PeerClient(node, address, this.clock, this.opts, this.log);
      this.peers.set(node, p);
    }
    return p;
  }

  write(node: string, key: string, rec: EntryRecord, cb: (err: Error | null, existed?: boolean) => void): void {
    const p = this.get(node);
    if (!p) { cb(new PeerUnavailableError(node, 'unknown address')); return; }
    p.send({ kind: OpKind.Write, key, rec }, opSize(key, rec), (err, res) => {
      if (!err) this.onHeard(node);
      cb(err, res?.existed === true);
    });
  }

  read(node: string, key: string, have: EntryRecord | undefined, cb: (err: Error | null, rec?: EntryRecord) => void): void {
    const p = this.get(node);
    if (!p) { cb(new PeerUnavailableError(node, 'unknown address')); return; }
    p.send({ kind: OpKind.Read, key, have }, opSize(key), (err, res) => {
      if (err) { cb(err); return; }
      this.onHeard(node);
      cb(null, res!.same ? have : res!.ok ? res!.rec : undefined);
    });
  }

  /** Drops the connection to a node (it left). */
  forget(node: string): void {
    this.peers.get(node)?.close();
    this.peers.delete(node);
  }

  closeAll(): void {
    for (const p of this.peers.values()) p.close();
    this.peers.clear();
  }
}
