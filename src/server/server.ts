/** Builds the gRPC server of a node: services, health, reflection, message limits. */
import * as grpc from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import { ReflectionService } from '@grpc/reflection';
import { definitions, serviceDef, withCodecs } from './protos.js';
import { withFastCodecs } from './cache-service.js';
import { EXCHANGE_CODECS } from '../replication/codec.js';

/**
 * The transport accepts messages somewhat above the configured limits so that a request
 * that is only a little too large reaches the handler and gets INVALID_ARGUMENT with an
 * explanation; grossly oversized ones are refused by grpc-js with RESOURCE_EXHAUSTED.
 */
export const TRANSPORT_HEADROOM = 64 * 1024;

export const PUBLIC_SERVICES = ['cache.v1.CacheService', 'cache.v1.ClusterService'];

export interface ServerParts {
  server: grpc.Server;
  health: HealthImplementation;
}

export function createServer(opts: { maxRecv: number; maxSend: number }, services: Record<string, grpc.UntypedServiceImplementation>): ServerParts {
  const server = new grpc.Server({
    'grpc.max_receive_message_length': opts.maxRecv + TRANSPORT_HEADROOM,
    'grpc.max_send_message_length': opts.maxSend + TRANSPORT_HEADROOM,
    // Keep idle client and peer connections healthy without flooding pings.
    'grpc.keepalive_time_ms': 30_000,
    'grpc.keepalive_timeout_ms': 10_000,
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.http2.min_ping_interval_without_data_ms': 5_000,
    // No channelz service is exposed, so its per-call bookkeeping would be pure cost.
    'grpc.enable_channelz': 0,
  });
  const defs = definitions();
  for (const [name, impl] of Object.entries(services)) {
    const def = serviceDef(name.startsWith('cache.peer.') ? defs.peerDef : defs.publicDef, name);
    const fast = name === 'cache.v1.CacheService' ? withFastCodecs(def)
      : name === 'cache.peer.v1.PeerService' ? withCodecs(def, { Exchange: EXCHANGE_CODECS }) : def;
    server.addService(fast, impl);
  }
  const health = new HealthImplementation({ '': 'NOT_SERVING' });
  for (const name of PUBLIC_SERVICES) health.setStatus(name, 'NOT_SERVING');
  health.addToServer(server);
  new ReflectionService(defs.reflectionDef, { services: [...PUBLIC_SERVICES, 'grpc.health.v1.Health'] }).addToServer(server);
  return { server, health };
}

export function setServing(health: HealthImplementation, serving: boolean): void {
  const s = serving ? 'SERVING' : 'NOT_SERVING';
  health.setStatus('', s);
  for (const name of PUBLIC_SERVICES) health.setStatus(name, s);
}

export function bind(server: grpc.Server, addr: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(addr, grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port)));
  });
}
