/** One gRPC channel per node address, shared by the CacheService and ClusterService stubs. */
import * as grpc from '@grpc/grpc-js';
import type { CacheServiceClient } from '../protos/generated/public/cache/v1/CacheService.js';
import type { ClusterServiceClient } from '../protos/generated/public/cache/v1/ClusterService.js';
import { publicApi } from '../protos/protos.js';
import type { TlsOptions } from './options.js';

function pemBuffer(v: string | Buffer | undefined): Buffer | null {
  return v === undefined ? null : Buffer.isBuffer(v) ? v : Buffer.from(v);
}

export interface Connection {
  /** New metadata for one call: the authorization header every call carries, if a token was given. */
  metadata(): grpc.Metadata;
  channel: grpc.Channel;
  cache: CacheServiceClient;
  cluster: ClusterServiceClient;
}

export class Connections {
  private readonly byAddress = new Map<string, Connection>();
  private readonly options: grpc.ChannelOptions;
  private readonly credentials: grpc.ChannelCredentials;

  constructor(
    maxMessageBytes: number,
    tls: TlsOptions | undefined,
    private readonly authorization: string | undefined,
  ) {
    this.credentials = tls
      ? grpc.credentials.createSsl(pemBuffer(tls.ca), pemBuffer(tls.key), pemBuffer(tls.cert))
      : grpc.credentials.createInsecure();
    this.options = {
      ...(tls?.serverName ? { 'grpc.ssl_target_name_override': tls.serverName, 'grpc.default_authority': tls.serverName } : {}),
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
      const { CacheService, ClusterService } = publicApi();
      const creds = this.credentials;
      const channel = new grpc.Channel(address, creds, this.options);
      const authorization = this.authorization;
      c = {
        metadata: () => {
          const md = new grpc.Metadata();
          if (authorization !== undefined) md.set('authorization', authorization);
          return md;
        },
        channel,
        cache: new CacheService(address, creds, { channelOverride: channel }),
        cluster: new ClusterService(address, creds, { channelOverride: channel }),
      };
      this.byAddress.set(address, c);
    }
    return c;
  }

  /** Connectivity of the channel to `address`, undefined if there is none yet. */
  state(address: string): grpc.connectivityState | undefined {
    return this.byAddress.get(address)?.channel.getConnectivityState(false);
  }

  close(): void {
    for (const c of this.byAddress.values()) c.channel.close();
    this.byAddress.clear();
  }
}
