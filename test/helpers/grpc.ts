/** Minimal promisified gRPC clients for tests (the product's client library is src/client). */
import * as grpc from '@grpc/grpc-js';
import { clientFor, definitions } from '../../src/server/protos.ts';

export interface CallResult<T = Record<string, unknown>> { err?: grpc.ServiceError; res?: T }

export type Unary = <T = Record<string, unknown>>(method: string, req: object, deadlineMs?: number) => Promise<CallResult<T>>;

export interface TestClient { call: Unary; close(): void; raw: grpc.Client }

function wrap(client: grpc.Client): TestClient {
  const call: Unary = (method, req, deadlineMs = 5_000) => new Promise((resolve) => {
    const fn = (client as unknown as Record<string, Function>)[method];
    fn.call(client, req, { deadline: Date.now() + deadlineMs }, (err: grpc.ServiceError | null, res: unknown) => {
      resolve(err ? { err } : { res: res as never });
    });
  });
  return { call, close: () => client.close(), raw: client };
}

export function cacheClient(addr: string): TestClient {
  const Ctor = clientFor(definitions().publicDef, 'cache.v1.CacheService');
  return wrap(new Ctor(addr, grpc.credentials.createInsecure()));
}

export function clusterClient(addr: string): TestClient {
  const Ctor = clientFor(definitions().publicDef, 'cache.v1.ClusterService');
  return wrap(new Ctor(addr, grpc.credentials.createInsecure()));
}

export const { status } = grpc;
