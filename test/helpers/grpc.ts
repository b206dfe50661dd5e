/** Minimal promisified gRPC clients for tests (the product's client library is src/client). */
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { peerDefinition } from '../../src/peer/service.ts';
import { publicApi } from '../../src/protos/protos.ts';
import { DEADLINE_HEADER } from '../../src/server/deadline.ts';

export interface CallResult<T = Record<string, unknown>> {
  err?: grpc.ServiceError;
  res?: T;
}

/** One unary call by method name; `md` adds request metadata. */
export type Unary = <T = Record<string, unknown>>(
  method: string,
  req: object,
  deadlineMs?: number,
  md?: grpc.Metadata,
) => Promise<CallResult<T>>;

export interface TestClient {
  call: Unary;
  close(): void;
}

export type ServiceName = 'cache.v1.CacheService' | 'cache.v1.ClusterService';

export interface ClientOptions {
  /** Send the absolute deadline (x-cache-deadline) like the client library does (default false: like grpcurl). */
  absoluteDeadline?: boolean;
  channel?: grpc.ChannelOptions;
  /** Default: plaintext. */
  credentials?: grpc.ChannelCredentials;
  /** Sent as authorization: Bearer <token> unless the call's metadata has its own. */
  token?: string;
}

/**
 * A test that runs a secured cluster for code that makes its own clients (the fault suite, and
 * the probes it spawns, which inherit these through the environment) sets TSCACHE_TEST_CA (a CA
 * file) and TSCACHE_TEST_TOKEN: every client made here without explicit credentials then speaks
 * TLS, expects the name "localhost" in the nodes' certificates (nodes in namespaces are dialled
 * by IP) and sends the token.
 */
export const TEST_SECURITY_VARIABLES = ['TSCACHE_TEST_CA', 'TSCACHE_TEST_TOKEN'] as const;

function defaultSecurity(opts: ClientOptions): ClientOptions {
  const ca = process.env.TSCACHE_TEST_CA;
  const token = opts.token ?? process.env.TSCACHE_TEST_TOKEN;
  if (opts.credentials || !ca) return { ...opts, token };
  return {
    ...opts,
    token,
    credentials: grpc.credentials.createSsl(readFileSync(ca)),
    channel: { ...opts.channel, 'grpc.ssl_target_name_override': 'localhost' },
  };
}

/** A client of one public service: methods by name, with the service's generated codecs. */
export function serviceClient(service: ServiceName, addr: string, options: ClientOptions = {}): TestClient {
  const opts = defaultSecurity(options);
  const api = publicApi();
  const def: grpc.ServiceDefinition = service === 'cache.v1.CacheService' ? api.CacheService.service : api.ClusterService.service;
  const client = new grpc.Client(addr, opts.credentials ?? grpc.credentials.createInsecure(), opts.channel);
  const call: Unary = (method, req, deadlineMs = 5_000, md = new grpc.Metadata()) =>
    new Promise((resolve) => {
      const m = def[method];
      if (!m) throw new Error(`${service} has no method ${method}`);
      const deadline = Date.now() + deadlineMs;
      if (opts.absoluteDeadline) md.set(DEADLINE_HEADER, String(deadline));
      if (opts.token !== undefined && md.get('authorization').length === 0) md.set('authorization', `Bearer ${opts.token}`);
      client.makeUnaryRequest(m.path, m.requestSerialize, m.responseDeserialize, req, md, { deadline }, (err, res) => {
        resolve(err ? { err } : { res });
      });
    });
  return { call, close: () => client.close() };
}

export const cacheClient = (addr: string, opts: ClientOptions = {}): TestClient => serviceClient('cache.v1.CacheService', addr, opts);
export const clusterClient = (addr: string, opts: ClientOptions = {}): TestClient => serviceClient('cache.v1.ClusterService', addr, opts);

export const { status } = grpc;

/** One PeerService/Ping as a stranger would send it: the error, or null if the node accepted it. */
export function peerPing(addr: string, creds: grpc.ChannelCredentials): Promise<grpc.ServiceError | null> {
  const ping = peerDefinition().Ping;
  return new Promise((resolve) => {
    const c = new grpc.Client(addr, creds);
    c.makeUnaryRequest(
      ping.path,
      ping.requestSerialize,
      ping.responseDeserialize,
      { from: 'x', members: [] },
      new grpc.Metadata(),
      { deadline: Date.now() + 3_000 },
      (err) => {
        c.close();
        resolve(err);
      },
    );
  });
}
