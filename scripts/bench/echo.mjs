/**
 * The platform's own cost of TLS, for bench-auth.sh: a bare grpc-js server (the project's
 * grpc-js, the node's channel options) whose CacheService/Get and /Set answer their request's
 * bytes untouched (no decoding, no store), with or without TLS. What TLS costs it is what
 * TLS costs any Node gRPC server, whatever its handlers do.
 *
 *   node scripts/bench/echo.mjs 127.0.0.1:PORT [CERT KEY]   (TLS when CERT and KEY are given)
 */
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';

const [addr, cert, key] = process.argv.slice(2);
if (!addr?.startsWith('127.')) {
  console.error('usage: echo.mjs 127.0.0.1:PORT [CERT KEY] (loopback only)');
  process.exit(2);
}
const same = (b) => b;
const method = (name) => ({
  path: `/cache.v1.CacheService/${name}`,
  requestStream: false,
  responseStream: false,
  requestSerialize: same,
  requestDeserialize: same,
  responseSerialize: same,
  responseDeserialize: same,
});
const server = new grpc.Server({ 'grpc.enable_channelz': 0 });
const echo = (call, cb) => cb(null, call.request);
server.addService({ Get: method('Get'), Set: method('Set') }, { Get: echo, Set: echo });
const credentials = cert
  ? grpc.ServerCredentials.createSsl(null, [{ cert_chain: readFileSync(cert), private_key: readFileSync(key) }])
  : grpc.ServerCredentials.createInsecure();
server.bindAsync(addr, credentials, (err) => {
  if (err) {
    console.error(err.message);
    process.exit(1);
  }
  console.log(`echo listening on ${addr}${cert ? ' (TLS)' : ''}`);
});
process.on('SIGTERM', () => server.tryShutdown(() => process.exit(0)));
