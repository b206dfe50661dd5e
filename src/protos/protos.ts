/**
 * The .proto files shipped in proto/, loaded once per process by @grpc/proto-loader, with
 * the TypeScript types generated from the same files (src/protos/generated/, made by
 * `npm run gen`, which the build runs first). Server, client, peers and healthcheck all get
 * their service definitions here.
 *
 * Loader options: field names as written (`ttl_ms`), enums as numbers, defaults filled in
 * (so decoded messages have every non-oneof field), oneofs named. 64-bit integers are
 * decimal strings in the public API (versions exceed 2^53) and numbers in the peer API
 * (milliseconds fit in 53 bits; no string work on the replica path).
 */
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { ProtoGrpcType as HealthProto } from './generated/health/health.js';
import type { ProtoGrpcType as PeerProto } from './generated/peer/peer.js';
import type { ProtoGrpcType as CacheProto } from './generated/public/cache.js';
import type { ProtoGrpcType as ClusterProto } from './generated/public/cluster.js';

const PROTO_DIR = fileURLToPath(new URL('../../proto/', import.meta.url));

const PUBLIC_PROTOS = ['cache/v1/cache.proto', 'cache/v1/cluster.proto'];
const HEALTH_PROTO = 'grpc/health/v1/health.proto';
const PEER_PROTO = 'cache/peer/v1/peer.proto';

const OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: String,
  enums: Number,
  defaults: true,
  oneofs: true,
  includeDirs: [PROTO_DIR],
};

/*
 * loadPackageDefinition returns an untyped tree of constructors; the generated ProtoGrpcType
 * of each file describes exactly that tree for the same loader options (this is how
 * proto-loader-gen-types is meant to be used). These are the only casts between the loader
 * and the generated types.
 */
let cache:
  | { publicApi: CacheProto & ClusterProto; peerApi: PeerProto; healthApi: HealthProto; reflection: protoLoader.PackageDefinition }
  | undefined;

function load() {
  if (!cache) {
    const publicDef = protoLoader.loadSync(PUBLIC_PROTOS, OPTIONS);
    cache = {
      publicApi: grpc.loadPackageDefinition(publicDef) as unknown as CacheProto & ClusterProto,
      peerApi: grpc.loadPackageDefinition(protoLoader.loadSync(PEER_PROTO, { ...OPTIONS, longs: Number })) as unknown as PeerProto,
      healthApi: grpc.loadPackageDefinition(protoLoader.loadSync(HEALTH_PROTO, OPTIONS)) as unknown as HealthProto,
      // Reflection describes the public services and the (map-free) health service.
      reflection: protoLoader.loadSync([...PUBLIC_PROTOS, HEALTH_PROTO], OPTIONS),
    };
  }
  return cache;
}

/** cache.v1: CacheService and ClusterService (client constructors with `.service` definitions). */
export function publicApi(): CacheProto['cache']['v1'] & ClusterProto['cache']['v1'] {
  return load().publicApi.cache.v1;
}

/** cache.peer.v1: PeerService, the node-to-node API. */
export function peerApi(): PeerProto['cache']['peer']['v1'] {
  return load().peerApi.cache.peer.v1;
}

/** grpc.health.v1: Health (for the container healthcheck's client). */
export function healthApi(): HealthProto['grpc']['health']['v1'] {
  return load().healthApi.grpc.health.v1;
}

/** What server reflection describes: the public services and grpc.health.v1. */
export function reflectionDefinition(): protoLoader.PackageDefinition {
  return load().reflection;
}
