/** Loads the .proto files shipped in proto/ (once per process). */
import { fileURLToPath } from 'node:url';
import * as protoLoader from '@grpc/proto-loader';
import * as grpc from '@grpc/grpc-js';

export const PROTO_DIR = fileURLToPath(new URL('../../proto/', import.meta.url));

/** Options shared by server and clients: field names as written (ttl_ms), uint64 as decimal strings. */
export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: String,
  enums: Number,
  defaults: false,
  oneofs: true,
  includeDirs: [PROTO_DIR],
};

export const PUBLIC_PROTOS = ['cache/v1/cache.proto', 'cache/v1/cluster.proto'];
export const HEALTH_PROTO = 'grpc/health/v1/health.proto';
export const PEER_PROTO = 'cache/peer/v1/peer.proto';

let cache: { publicDef: protoLoader.PackageDefinition; reflectionDef: protoLoader.PackageDefinition; peerDef: protoLoader.PackageDefinition } | undefined;

export function definitions() {
  if (!cache) {
    const publicDef = protoLoader.loadSync(PUBLIC_PROTOS, LOADER_OPTIONS);
    // Reflection describes the public services and the (map-free) health service.
    const reflectionDef = protoLoader.loadSync([...PUBLIC_PROTOS, HEALTH_PROTO], LOADER_OPTIONS);
    // The peer API moves uint64 versions as numbers (ms fit in 53 bits) to avoid string work.
    const peerDef = protoLoader.loadSync(PEER_PROTO, { ...LOADER_OPTIONS, longs: Number });
    cache = { publicDef, reflectionDef, peerDef };
  }
  return cache;
}

type AnyService = grpc.ServiceDefinition;

export function serviceDef(def: protoLoader.PackageDefinition, name: string): AnyService {
  const d = def[name];
  if (!d) throw new Error(`no service ${name} in the loaded protos`);
  return d as unknown as AnyService;
}

/** A client constructor for a service, e.g. clientFor(def, 'cache.v1.CacheService'). */
export function clientFor(def: protoLoader.PackageDefinition, name: string): grpc.ServiceClientConstructor {
  return grpc.makeClientConstructor(serviceDef(def, name), name);
}

/** Serializers to put in place of the generic protobufjs ones, per method name. */
export interface MethodCodecs {
  requestSerialize?: (v: never) => Buffer;
  requestDeserialize?: (b: Buffer) => unknown;
  responseSerialize?: (v: never) => Buffer;
  responseDeserialize?: (b: Buffer) => unknown;
}

/**
 * A service definition with hand-written codecs for some methods; paths and streaming flags
 * stay those of the .proto, and the other methods keep the generic codecs.
 */
export function withCodecs(def: AnyService, codecs: Record<string, MethodCodecs>): AnyService {
  const out: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const [name, m] of Object.entries(def)) {
    out[name] = codecs[name] ? { ...m, ...(codecs[name] as Partial<grpc.MethodDefinition<unknown, unknown>>) } : m;
  }
  return out as AnyService;
}
