/** One gRPC channel per node address, shared by the CacheService and ClusterService stubs. */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { clientFor, LOADER_OPTIONS, PUBLIC_PROTOS } from '../server/protos.js';

type Ctor = grpc.ServiceClientConstructor;
let ctors: { cache: Ctor; cluster: Ctor } | undefined;

/** Stub constructors for the public services (the .proto files are loaded once per process). */
function constructors(): { cache: Ctor; cluster: Ctor } {
  if (!ctors) {
    const def = protoLoader.loadSync(PUBLIC_PROTOS, LOADER_OPTIONS);
    ctors = { cache: clientFor(def, 'cache.v1.CacheService'), cluster: clientFor(def, 'cache.v1.ClusterService') };
  }
  return ctors;
}

export type Stub = Record<string, (req: object, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: unknown) => void) => grpc.ClientUnaryCall>;

export interface Connection {
  channel: grpc.Channel;
  cache: Stub;
  cluster: Stub;
}

export class Connections {
  private readonly byAddress = new Map<string, Connection>();
  private readonly options: grpc.ChannelOptions;

  constructor(maxMessageBytes: number) {
    this.options = {
      'grpc.max_receive_message_length': maxMessageBytes,
      'grpc.max_send_message_length': maxMessageBytes,
      // Reconnect to a restarted node quickly; the client ranks failing addresses itself.
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': 2_000,
      // Notice dead connections (half-open sockets) without flooding the server with pings.
      'grpc.keepalive_time_ms': 30_000,
      'grpc.keepalive_timeout_ms': 10_000,
    };
  }

  get(address: string): Connection {
    let c = this.byAddress.get(address);
    if (!c) {
      const { cache, cluster } = constructors();
      const creds = grpc.credentials.createInsecure();
      const channel = new grpc.Channel(address, creds, this.options);
      c = {
        channel,
        cache: new cache(address, creds, { channelOverride: channel }) as unknown as Stub,
        cluster: new cluster(address, creds, { channelOverride: channel }) as unknown as Stub,
      };
      this.byAddress.set(address, c);
    }
    return c;
  }

  /** Connectivity of the channel to `address`, undefined if there is none yet. */
  state(address: string): grpc.connectivityState | undefined {
    return this.byAddress.get(address)?.channel.getConnectivityState(false);
  }

  addresses(): string[] {
    return [...this.byAddress.keys()];
  }

  close(): void {
    for (const c of this.byAddress.values()) c.channel.close();
    this.byAddress.clear();
  }
}
