/**
 * Builds the gRPC server of a node: the public services, the peer service, health and
 * reflection, message limits, and two rules for every method of them all: a request that
 * cannot be decoded is answered INVALID_ARGUMENT saying why (grpc-js would answer INTERNAL
 * "Error deserializing request", which we keep for our own bugs), and request metadata over
 * MAX_METADATA_BYTES is answered RESOURCE_EXHAUSTED, both before the handler runs.
 */
import * as grpc from '@grpc/grpc-js';
import { ReflectionService } from '@grpc/reflection';
import { HealthImplementation } from 'grpc-health-check';
import { CacheError, invalid } from '../errors/errors.js';
import { type StatusError, toStatus } from '../errors/status.js';
import { reflectionDefinition } from '../protos/protos.js';

/**
 * The transport accepts messages somewhat above the configured limits so that a request
 * that is only a little too large reaches the handler and gets INVALID_ARGUMENT with an
 * explanation; grossly oversized ones are refused by grpc-js with RESOURCE_EXHAUSTED.
 */
const TRANSPORT_HEADROOM = 64 * 1024;

const PUBLIC_SERVICES = ['cache.v1.CacheService', 'cache.v1.ClusterService'];

/**
 * Health check name that answers SERVING as long as the process serves gRPC at all (for
 * liveness probes). The whole node ('') and the public services answer SERVING only while
 * the node takes client calls: not before it has joined its cluster, not while it stops.
 */
const LIVENESS = 'liveness';

/**
 * Request metadata (headers) a call may carry, counted as HTTP/2 counts a header list. Blocks
 * that break the transport's own limits (one header over 64 KiB after compression, a block
 * over ~144 KiB, more than 128 headers) never reach us: nghttp2 resets the connection and the
 * client sees INTERNAL "Received RST_STREAM with code 9" at once.
 */
const MAX_METADATA_BYTES = 16 * 1024;

/** Request metadata size as HTTP/2 counts it: name + value + 32 bytes per entry (values are ASCII or base64). */
function metadataBytes(md: grpc.Metadata): number {
  const headers = md.toHttp2Headers();
  let n = 0;
  for (const k in headers) {
    const v = headers[k];
    if (typeof v === 'string') n += k.length + v.length + 32;
    else if (Array.isArray(v)) for (const x of v) n += k.length + x.length + 32;
  }
  return n;
}

/** What a request deserializer returns instead of throwing; the guards below answer it. */
class Undecodable {
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {}
}

function undecodable(m: Undecodable): StatusError {
  return toStatus(invalid(`cannot decode the ${m.path.slice(m.path.lastIndexOf('/') + 1)} request: ${m.reason}`));
}

/** Why a call must not reach its handler (metadata too large, request undecodable), or undefined. */
function refusal(call: { metadata: grpc.Metadata; request?: unknown }): StatusError | undefined {
  const size = metadataBytes(call.metadata);
  if (size > MAX_METADATA_BYTES) {
    return toStatus(
      new CacheError('exhausted', `request metadata is ${size} bytes; the limit is ${MAX_METADATA_BYTES} (name + value + 32 per entry)`),
    );
  }
  return call.request instanceof Undecodable ? undecodable(call.request) : undefined;
}

/*
 * The guards wrap each handler by method type. (A grpc-js server interceptor could do this
 * too, but it cost ~15 % of a Get's CPU: scripts/bench/ab.sh, docs/benchmarks/2026-12-02.md.)
 */
function guardUnary(h: grpc.handleUnaryCall<unknown, unknown>): grpc.handleUnaryCall<unknown, unknown> {
  return (call, callback) => {
    const bad = refusal(call);
    if (bad) callback(bad);
    else h(call, callback);
  };
}

function guardServerStream(h: grpc.handleServerStreamingCall<unknown, unknown>): grpc.handleServerStreamingCall<unknown, unknown> {
  return (call) => {
    const bad = refusal(call);
    if (bad) call.emit('error', bad);
    else h(call);
  };
}

/** A request stream's messages arrive through its push(): an undecodable one ends the call instead. */
function refuseUndecodableMessages(call: grpc.ServerReadableStream<unknown, unknown> | grpc.ServerDuplexStream<unknown, unknown>): void {
  const push = call.push.bind(call);
  call.push = (chunk: unknown, encoding?: BufferEncoding) => {
    if (!(chunk instanceof Undecodable)) return push(chunk, encoding);
    call.emit('error', undecodable(chunk));
    return false;
  };
}

function guardClientStream(h: grpc.handleClientStreamingCall<unknown, unknown>): grpc.handleClientStreamingCall<unknown, unknown> {
  return (call, callback) => {
    const bad = refusal(call);
    if (bad) {
      callback(bad);
      return;
    }
    refuseUndecodableMessages(call);
    h(call, callback);
  };
}

function guardBidiStream(h: grpc.handleBidiStreamingCall<unknown, unknown>): grpc.handleBidiStreamingCall<unknown, unknown> {
  return (call) => {
    const bad = refusal(call);
    if (bad) {
      call.emit('error', bad);
      return;
    }
    refuseUndecodableMessages(call);
    h(call);
  };
}

function guard(m: grpc.MethodDefinition<unknown, unknown>, h: grpc.UntypedHandleCall): grpc.UntypedHandleCall {
  if (m.requestStream && m.responseStream) return guardBidiStream(h as grpc.handleBidiStreamingCall<unknown, unknown>);
  if (m.requestStream) return guardClientStream(h as grpc.handleClientStreamingCall<unknown, unknown>);
  if (m.responseStream) return guardServerStream(h as grpc.handleServerStreamingCall<unknown, unknown>);
  return guardUnary(h as grpc.handleUnaryCall<unknown, unknown>);
}

/**
 * A grpc-js server whose every service (ours, health's, reflection's) is guarded: requests are
 * decoded without throwing, and metadata over MAX_METADATA_BYTES or an undecodable request is
 * answered (RESOURCE_EXHAUSTED, INVALID_ARGUMENT) before the handler sees it.
 */
class NodeServer extends grpc.Server {
  override addService(service: grpc.ServiceDefinition, implementation: grpc.UntypedServiceImplementation): void {
    const definition: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
    const handlers: grpc.UntypedServiceImplementation = {};
    for (const [name, m] of Object.entries(service)) {
      const decode = m.requestDeserialize;
      definition[name] = {
        ...m,
        requestDeserialize: (buf: Buffer) => {
          try {
            return decode(buf);
          } catch (err) {
            return new Undecodable(m.path, err instanceof Error ? err.message : String(err));
          }
        },
      };
      const h = implementation[name] ?? (m.originalName ? implementation[m.originalName] : undefined);
      if (h) handlers[name] = guard(m, h);
    }
    super.addService(definition, handlers);
  }
}

export interface ServerParts {
  server: grpc.Server;
  health: HealthImplementation;
}

/** A service definition and its handlers, typed together by the caller. */
export interface ServiceBinding {
  definition: grpc.ServiceDefinition;
  handlers: grpc.UntypedServiceImplementation;
}

export function createServer(opts: { maxRecv: number; maxSend: number }, services: ServiceBinding[]): ServerParts {
  const server = new NodeServer({
    'grpc.max_receive_message_length': opts.maxRecv + TRANSPORT_HEADROOM,
    'grpc.max_send_message_length': opts.maxSend + TRANSPORT_HEADROOM,
    // Keep idle client and peer connections healthy without flooding pings. The pings also
    // reclaim a connection whose header block broke HTTP/2's limits (nghttp2 stops reading
    // it after its GOAWAY and nothing else would close it): gone within 40 s.
    'grpc.keepalive_time_ms': 30_000,
    'grpc.keepalive_timeout_ms': 10_000,
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.http2.min_ping_interval_without_data_ms': 5_000,
    // No channelz service is exposed, so its per-call bookkeeping would be pure cost.
    'grpc.enable_channelz': 0,
  });
  for (const s of services) server.addService(s.definition, s.handlers);
  const health = new HealthImplementation({ '': 'NOT_SERVING', [LIVENESS]: 'SERVING' });
  for (const name of PUBLIC_SERVICES) health.setStatus(name, 'NOT_SERVING');
  health.addToServer(server);
  new ReflectionService(reflectionDefinition(), { services: [...PUBLIC_SERVICES, 'grpc.health.v1.Health'] }).addToServer(server);
  return { server, health };
}

/** The health answer for the whole node ('') and each public service. */
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
