/**
 * The calling side of the node-to-node protocol (src/peer/service.ts): one gRPC channel per
 * peer address, shared by everything this node asks of that peer:
 *  - Exchange, one long-lived stream: replica operations (the coordinator's writes and reads,
 *    hints, rebalancing, repairs) are queued and sent as one Batch per event-loop turn, or
 *    sooner when a batch is full; the peer answers each batch with one BatchReply, in order;
 *  - Ping and PingReq (SWIM: probes, gossip, push-pull), TreeHashes and BucketEntries (anti-entropy), Flush (a cluster flush's two
 *    rounds), Join (to a seed address).
 * A peer that left or was forgotten has its channel closed (forget()); one that restarted or
 * came back gets a new channel if its old one is waiting out a reconnection backoff (reconnect()).
 */
import * as grpc from '@grpc/grpc-js';
import { CLUSTER_SECRET_HEADER } from '../auth/gatekeeper.js';
import { CacheError } from '../errors/errors.js';
import type { HybridClock } from '../hlc/hlc.js';
import type { Entry__Output } from '../protos/generated/peer/cache/peer/v1/Entry.js';
import { OpKind } from '../protos/generated/peer/cache/peer/v1/OpKind.js';
import type { PingReply__Output } from '../protos/generated/peer/cache/peer/v1/PingReply.js';
import type { PingReqReply__Output } from '../protos/generated/peer/cache/peer/v1/PingReqReply.js';
import type { PingReqRequest } from '../protos/generated/peer/cache/peer/v1/PingReqRequest.js';
import type { PingRequest } from '../protos/generated/peer/cache/peer/v1/PingRequest.js';
import type { JoinRequest } from '../protos/generated/public/cache/v1/JoinRequest.js';
import type { JoinResponse__Output } from '../protos/generated/public/cache/v1/JoinResponse.js';
import type { PeerTransport } from '../replication/coordinator.js';
import { readAnswer } from '../replication/replica.js';
import type { FlushMark } from '../store/flushes.js';
import type { EntryRecord, EntryVersion } from '../store/store.js';
import type { PeerBatch, PeerBatchReply, PeerOp, PeerResult } from '../wire/codec.js';
import { clusterDefinition, marksToWire, peerDefinition } from './service.js';

type OpCallback = (err: Error | null, res?: PeerResult) => void;

/** Anti-entropy calls may scan a large store on the peer: they get this many RPC timeouts. */
const TREE_CALL_TIMEOUTS = 5;

/** A peer could not be reached or did not answer in time. */
function peerUnavailable(node: string, why: string): CacheError {
  return new CacheError('unavailable', `peer ${node} unavailable: ${why}`);
}

export interface PeerOptions {
  selfId: string;
  /** Deadline of every operation and call. */
  timeoutMs: number;
  /** A batch is sent at once when it holds this many operations ... */
  maxBatchOps: number;
  /** ... or about this many bytes. */
  maxBatchBytes: number;
  /** Largest message sent or accepted on peer channels. */
  maxMessageBytes: number;
  /** Mutual TLS (src/security/tls.ts); default plaintext. */
  credentials?: grpc.ChannelCredentials;
  /** CLUSTER_SECRET, sent with every call when set. */
  clusterSecret?: string;
}

/** Rough size of an operation on the wire, for the batch size limit. */
function opSize(key: string, rec?: EntryRecord): number {
  return rec ? key.length + rec.value.length + rec.node.length + 40 : key.length + 40;
}

interface Pending {
  cbs: OpCallback[];
  sentAt: number;
}

/** One peer address: its channel and its Exchange stream. */
class PeerChannel {
  private readonly client: grpc.Client;
  private stream?: grpc.ClientDuplexStream<PeerBatch, PeerBatchReply>;
  private ops: PeerOp[] = [];
  private cbs: OpCallback[] = [];
  private bytes = 0;
  private scheduled = false;
  private seq = 0;
  private readonly pending = new Map<number, Pending>();
  private readonly timer: NodeJS.Timeout;
  private closed = false;

  constructor(
    readonly address: string,
    private readonly clock: HybridClock,
    private readonly opts: PeerOptions,
  ) {
    this.client = new grpc.Client(address, opts.credentials ?? grpc.credentials.createInsecure(), {
      'grpc.max_receive_message_length': opts.maxMessageBytes,
      'grpc.max_send_message_length': opts.maxMessageBytes,
      // Peers come back quickly (restarts, short partitions): reconnect fast.
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': 1_000,
      'grpc.keepalive_time_ms': 10_000,
      'grpc.keepalive_timeout_ms': 5_000,
      'grpc.keepalive_permit_without_calls': 1,
      'grpc.enable_channelz': 0,
    });
    this.timer = setInterval(() => this.expire(), Math.max(10, Math.min(100, opts.timeoutMs / 4)));
    this.timer.unref();
  }

  /** Queues one operation; cb runs with the replica's result, or an error after timeoutMs. */
  send(node: string, op: PeerOp, size: number, cb: OpCallback): void {
    if (this.closed) {
      cb(peerUnavailable(node, 'connection closed'));
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

  /** A unary call of the peer protocol with its typed codecs. */
  unary<Req, Res>(
    method: { path: string; requestSerialize: (r: Req) => Buffer; responseDeserialize: (b: Buffer) => Res },
    req: Req,
    timeoutMs: number,
  ): Promise<Res> {
    return new Promise((resolve, reject) => {
      if (this.closed) {
        reject(peerUnavailable(this.address, 'connection closed'));
        return;
      }
      this.client.makeUnaryRequest(
        method.path,
        method.requestSerialize,
        method.responseDeserialize,
        req,
        this.metadata(),
        { deadline: Date.now() + timeoutMs },
        (err, res) => (err || res === undefined ? reject(err ?? peerUnavailable(this.address, 'empty answer')) : resolve(res)),
      );
    });
  }

  /** Every call's metadata: the cluster secret, if there is one. */
  private metadata(): grpc.Metadata {
    const md = new grpc.Metadata();
    if (this.opts.clusterSecret) md.set(CLUSTER_SECRET_HEADER, this.opts.clusterSecret);
    return md;
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

  private ensureStream(): grpc.ClientDuplexStream<PeerBatch, PeerBatchReply> {
    if (this.stream) return this.stream;
    const m = peerDefinition().Exchange;
    const stream = this.client.makeBidiStreamRequest(m.path, m.requestSerialize, m.responseDeserialize, this.metadata());
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
      if (!r) p.cbs[i](peerUnavailable(this.address, 'missing result'));
      else if (r.error) p.cbs[i](new CacheError('unavailable', r.error));
      else p.cbs[i](null, r);
    }
  }

  private expire(): void {
    if (this.pending.size === 0) return;
    const limit = Date.now() - this.opts.timeoutMs;
    for (const [seq, p] of this.pending) {
      if (p.sentAt > limit) break; // FIFO: the rest are younger
      this.pending.delete(seq);
      const err = peerUnavailable(this.address, `no answer within ${this.opts.timeoutMs}ms`);
      for (const cb of p.cbs) cb(err);
    }
  }

  private failAll(why: string): void {
    const err = peerUnavailable(this.address, why);
    const all = [...this.pending.values()];
    this.pending.clear();
    for (const p of all) for (const cb of p.cbs) cb(err);
  }

  /**
   * The channel is waiting out a reconnection backoff after failed connection attempts: until
   * it ends, every call fails at once ("No connection established") even if the peer is up.
   */
  get backingOff(): boolean {
    return this.client.getChannel().getConnectivityState(false) === grpc.connectivityState.TRANSIENT_FAILURE;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    this.flush();
    this.stream?.end();
    this.stream = undefined;
    this.failAll('connection closed');
    this.client.close();
  }
}

/**
 * Every peer channel of a node. Members are addressed by node id (their address comes from
 * the member table through `addressOf`), seeds by address. Implements the coordinator's
 * PeerTransport.
 */
export class PeerPool implements PeerTransport {
  private readonly channels = new Map<string, PeerChannel>();
  /** The address each member was last reached at, to close its channel when it changes or the member goes. */
  private readonly addressByNode = new Map<string, string>();

  constructor(
    private readonly clock: HybridClock,
    private readonly opts: PeerOptions,
    private readonly addressOf: (node: string) => string | undefined,
    /** Called when a peer answered (direct evidence that it is up). */
    private readonly onHeard: (node: string) => void = () => undefined,
  ) {}

  write(node: string, key: string, rec: EntryRecord, cb: (err: Error | null, existed?: boolean, newer?: EntryVersion) => void): void {
    const ch = this.member(node);
    if (!ch) {
      cb(peerUnavailable(node, 'unknown address'));
      return;
    }
    ch.send(node, { kind: OpKind.OP_KIND_WRITE, key, rec }, opSize(key, rec), (err, res) => {
      if (!err) this.onHeard(node);
      cb(err, res?.existed === true, res?.newer ? res.rec : undefined);
    });
  }

  read(node: string, key: string, have: EntryRecord | undefined, cb: (err: Error | null, rec?: EntryRecord) => void): void {
    const ch = this.member(node);
    if (!ch) {
      cb(peerUnavailable(node, 'unknown address'));
      return;
    }
    ch.send(node, { kind: OpKind.OP_KIND_READ, key, have }, opSize(key), (err, res) => {
      if (err) {
        cb(err);
        return;
      }
      this.onHeard(node);
      cb(null, readAnswer(res!, have));
    });
  }

  /** LEASE to the key's owner (src/replication/replica.ts): a live value, a lease, or how long to wait. */
  lease(node: string, key: string, leaseMs: number, cb: (err: Error | null, res?: PeerResult) => void): void {
    this.sendOp(node, { kind: OpKind.OP_KIND_LEASE, key, leaseMs }, opSize(key), cb);
  }

  /** LEASE_WRITE to the key's owner: applied there only if the token is still good (else `refused`). */
  leasedWrite(node: string, key: string, rec: EntryRecord, token: string, cb: (err: Error | null, res?: PeerResult) => void): void {
    this.sendOp(node, { kind: OpKind.OP_KIND_LEASE_WRITE, key, rec, leaseToken: token }, opSize(key, rec) + token.length, cb);
  }

  /** LEASE_RELEASE to the key's owner: `found` in the result if the lease was given back. */
  release(node: string, key: string, token: string, cb: (err: Error | null, res?: PeerResult) => void): void {
    this.sendOp(node, { kind: OpKind.OP_KIND_LEASE_RELEASE, key, leaseToken: token }, opSize(key) + token.length, cb);
  }

  private sendOp(node: string, op: PeerOp, size: number, cb: (err: Error | null, res?: PeerResult) => void): void {
    const ch = this.member(node);
    if (!ch) {
      cb(peerUnavailable(node, 'unknown address'));
      return;
    }
    ch.send(node, op, size, (err, res) => {
      if (!err) this.onHeard(node);
      cb(err, res);
    });
  }

  /** A SWIM probe (or push-pull): sends member records, returns the peer's and its clock. */
  ping(node: string, req: PingRequest, timeoutMs: number): Promise<PingReply__Output> {
    const ch = this.member(node);
    if (!ch) return Promise.reject(peerUnavailable(node, 'unknown address'));
    return ch.unary(peerDefinition().Ping, req, timeoutMs);
  }

  /** SWIM's indirect probe: asks `node` to Ping req.target for us. */
  pingReq(node: string, req: PingReqRequest, timeoutMs: number): Promise<PingReqReply__Output> {
    const ch = this.member(node);
    if (!ch) return Promise.reject(peerUnavailable(node, 'unknown address'));
    return ch.unary(peerDefinition().PingReq, req, timeoutMs);
  }

  /**
   * Cluster flush: hands `node` these marks (none: only asks its clock); the reply's clock is
   * merged into ours, so a timestamp taken afterwards is after every write `node` has seen.
   */
  async flush(node: string, marks: FlushMark[], timeoutMs: number): Promise<void> {
    const ch = this.member(node);
    if (!ch) throw peerUnavailable(node, 'unknown address');
    const hlc = this.clock.peek();
    const reply = await ch.unary(
      peerDefinition().Flush,
      { from: this.opts.selfId, marks: marksToWire(marks), hlc_wall: hlc.wall, hlc_logical: hlc.logical },
      timeoutMs,
    );
    this.clock.observe(reply.hlc_wall, reply.hlc_logical);
    this.onHeard(node);
  }

  /** Anti-entropy: hashes of nodes of `node`'s tree shared with us. */
  async treeHashes(node: string, level: number, indexes: number[]): Promise<string[]> {
    const ch = this.member(node);
    if (!ch) throw peerUnavailable(node, 'unknown address');
    return (
      await ch.unary(peerDefinition().TreeHashes, { requester: this.opts.selfId, level, indexes }, TREE_CALL_TIMEOUTS * this.opts.timeoutMs)
    ).hashes;
  }

  /** Anti-entropy: `node`'s entries shared with us in these leaf buckets. */
  async bucketEntries(node: string, buckets: number[]): Promise<Entry__Output[]> {
    const ch = this.member(node);
    if (!ch) throw peerUnavailable(node, 'unknown address');
    return (
      await ch.unary(peerDefinition().BucketEntries, { requester: this.opts.selfId, buckets }, TREE_CALL_TIMEOUTS * this.opts.timeoutMs)
    ).entries;
  }

  /** Calls ClusterService.Join on a seed address (a name or an IP, maybe not a member yet). */
  join(address: string, req: JoinRequest): Promise<JoinResponse__Output> {
    return this.channel(address).unary(clusterDefinition().Join, req, this.opts.timeoutMs);
  }

  /** The member left or was removed: close its channel. */
  forget(node: string): void {
    const address = this.addressByNode.get(node);
    this.addressByNode.delete(node);
    if (address !== undefined && ![...this.addressByNode.values()].includes(address)) {
      this.channels.get(address)?.close();
      this.channels.delete(address);
    }
  }

  /**
   * The member restarted or came back: if its channel is waiting out a reconnection backoff
   * (calls to it failed while it was gone), close it; the next call opens a new one, which
   * connects at once. A channel that works is kept (its calls in flight are not failed).
   */
  reconnect(node: string): void {
    const address = this.addressByNode.get(node) ?? this.addressOf(node);
    if (address === undefined) return;
    const ch = this.channels.get(address);
    if (ch?.backingOff) {
      ch.close();
      this.channels.delete(address);
    }
  }

  /** Number of open channels (members and seeds). */
  get size(): number {
    return this.channels.size;
  }

  closeAll(): void {
    for (const ch of this.channels.values()) ch.close();
    this.channels.clear();
    this.addressByNode.clear();
  }

  private member(node: string): PeerChannel | undefined {
    const address = this.addressOf(node);
    if (!address) return undefined;
    const known = this.addressByNode.get(node);
    if (known !== address) {
      if (known !== undefined) this.forget(node); // it moved (restarted elsewhere)
      this.addressByNode.set(node, address);
    }
    return this.channel(address);
  }

  private channel(address: string): PeerChannel {
    let ch = this.channels.get(address);
    if (!ch) {
      ch = new PeerChannel(address, this.clock, this.opts);
      this.channels.set(address, ch);
    }
    return ch;
  }
}
