/**
 * Builds the gRPC server of a node: the public services, the peer service, health and
 * reflection, message limits, and three rules for every method of them all, checked before
 * the handler runs and in this order: request metadata over MAX_METADATA_BYTES is answered
 * RESOURCE_EXHAUSTED; a caller the gatekeeper refuses (src/auth/gatekeeper.ts: tokens, peer
 * certificates, CLUSTER_SECRET) UNAUTHENTICATED or PERMISSION_DENIED; a request that cannot be
 * decoded INVALID_ARGUMENT saying why (grpc-js would answer INTERNAL "Error deserializing
 * request", which we keep for our own bugs). bind() applies the TLS credentials.
 */
import type { TLSSocket, Server as TlsServer } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { ReflectionService } from '@grpc/reflection';
import { HealthImplementation } from 'grpc-health-check';
import { ruleOf } from '../auth/access.js';
import type { CallFacts, Gatekeeper } from '../auth/gatekeeper.js';
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

/** What a guard reads of a call (every grpc-js server call has it). */
type Checked = CallFacts & { metadata: grpc.Metadata; request?: unknown };

/** Why a call must not reach its handler, or undefined; a promise only while a JWT is verified. */
type Check = (call: Checked) => StatusError | undefined | Promise<StatusError | undefined>;

function oversized(call: Checked): StatusError | undefined {
  const size = metadataBytes(call.metadata);
  if (size <= MAX_METADATA_BYTES) return undefined;
  return toStatus(
    new CacheError('exhausted', `request metadata is ${size} bytes; the limit is ${MAX_METADATA_BYTES} (name + value + 32 per entry)`),
  );
}

function undecodableRequest(call: Checked): StatusError | undefined {
  return call.request instanceof Undecodable ? undecodable(call.request) : undefined;
}

/** Metadata size, then (for a method the gatekeeper checks) the caller, then the request's decoding. */
function checkFor(path: string, gatekeeper: Gatekeeper | undefined): Check {
  const rule = ruleOf(path);
  if (!gatekeeper?.checks(rule)) return (call) => oversized(call) ?? undecodableRequest(call);
  return (call) => {
    const big = oversized(call);
    if (big) return big;
    const who = gatekeeper.admit(rule, call);
    if (who === undefined) return undecodableRequest(call);
    if (who instanceof Promise) return who.then((w) => w ?? undecodableRequest(call));
    return who;
  };
}

/** Runs `go` if the check lets the call through, `refuse` with the status otherwise. */
function afterCheck(bad: ReturnType<Check>, go: () => void, refuse: (s: StatusError) => void): void {
  if (bad === undefined) go();
  else if (bad instanceof Promise)
    bad.then(
      (b) => (b ? refuse(b) : go()),
      (err: unknown) => refuse(toStatus(err)),
    );
  else refuse(bad);
}

/*
 * The guards wrap each handler by method type. (A grpc-js server interceptor could do this
 * too, but it cost ~15 % of a Get's CPU: scripts/bench/ab.sh, docs/benchmarks/2026-12-02.md.)
 */
function guardUnary(check: Check, h: grpc.handleUnaryCall<unknown, unknown>): grpc.handleUnaryCall<unknown, unknown> {
  return (call, callback) =>
    afterCheck(
      check(call),
      () => h(call, callback),
      (s) => callback(s),
    );
}

function guardServerStream(
  check: Check,
  h: grpc.handleServerStreamingCall<unknown, unknown>,
): grpc.handleServerStreamingCall<unknown, unknown> {
  return (call) =>
    afterCheck(
      check(call),
      () => h(call),
      (s) => call.emit('error', s),
    );
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

function guardClientStream(
  check: Check,
  h: grpc.handleClientStreamingCall<unknown, unknown>,
): grpc.handleClientStreamingCall<unknown, unknown> {
  return (call, callback) => {
    refuseUndecodableMessages(call);
    afterCheck(
      check(call),
      () => h(call, callback),
      (s) => callback(s),
    );
  };
}

function guardBidiStream(check: Check, h: grpc.handleBidiStreamingCall<unknown, unknown>): grpc.handleBidiStreamingCall<unknown, unknown> {
  return (call) => {
    refuseUndecodableMessages(call);
    afterCheck(
      check(call),
      () => h(call),
      (s) => call.emit('error', s),
    );
  };
}

function guard(m: grpc.MethodDefinition<unknown, unknown>, check: Check, h: grpc.UntypedHandleCall): grpc.UntypedHandleCall {
  if (m.requestStream && m.responseStream) return guardBidiStream(check, h as grpc.handleBidiStreamingCall<unknown, unknown>);
  if (m.requestStream) return guardClientStream(check, h as grpc.handleClientStreamingCall<unknown, unknown>);
  if (m.responseStream) return guardServerStream(check, h as grpc.handleServerStreamingCall<unknown, unknown>);
  return guardUnary(check, h as grpc.handleUnaryCall<unknown, unknown>);
}

/**
 * A grpc-js server whose every service (ours, health's, reflection's) is guarded: requests are
 * decoded without throwing, and metadata over MAX_METADATA_BYTES, a caller the gatekeeper
 * refuses or an undecodable request is answered (RESOURCE_EXHAUSTED, UNAUTHENTICATED or
 * PERMISSION_DENIED, INVALID_ARGUMENT) before the handler sees it.
 */
class NodeServer extends grpc.Server {
  constructor(
    options: grpc.ServerOptions,
    private readonly gatekeeper: Gatekeeper | undefined,
  ) {
    super(options);
  }

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
      const check = checkFor(m.path, this.gatekeeper); // throws for a method without an access rule
      const h = implementation[name] ?? (m.originalName ? implementation[m.originalName] : undefined);
      if (h) handlers[name] = guard(m, check, h);
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

export function createServer(opts: { maxRecv: number; maxSend: number }, services: ServiceBinding[], gatekeeper?: Gatekeeper): ServerParts {
  const server = new NodeServer(
    {
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
    },
    gatekeeper,
  );
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

/**
 * Binds addr with the given credentials (insecure by default). refuseUntrustedClientCertificates
 * (TLS_CLIENT_AUTH=request) closes a connection that presents a certificate not chaining to
 * TLS_CA: grpc-js shows a call only a verified certificate (getAuthContext), never a failed
 * one, so this is checked once per connection on its TLS server (which grpc-js keeps in a
 * private field: the check fails loudly if a grpc-js version lacks it).
 */
export async function bind(
  server: grpc.Server,
  addr: string,
  credentials = grpc.ServerCredentials.createInsecure(),
  refuseUntrustedClientCertificates = false,
  onRefused: () => void = () => undefined,
): Promise<number> {
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(addr, credentials, (err, p) => (err ? reject(err) : resolve(p)));
  });
  if (refuseUntrustedClientCertificates) {
    const listeners = (server as unknown as { http2Servers?: unknown }).http2Servers;
    if (!(listeners instanceof Map)) throw new Error('TLS_CLIENT_AUTH=request: this grpc-js version does not expose its TLS listeners');
    for (const l of listeners.keys() as Iterable<TlsServer>) {
      l.on('secureConnection', (socket: TLSSocket) => {
        if (!socket.authorized && socket.getPeerCertificate().raw) {
          onRefused();
          socket.destroy();
        }
      });
    }
  }
  return port;
}
