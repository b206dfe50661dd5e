#!/usr/bin/env node
/**
 * Generates the TypeScript types of the .proto files in proto/ into src/protos/generated/
 * (gitignored; `npm run build` and `npm run typecheck` run this first), with
 * @grpc/proto-loader's proto-loader-gen-types and the loader options src/protos/protos.ts
 * uses: the public API with 64-bit integers as decimal strings, the peer API with them as
 * numbers. The generated files import each other without file extensions; NodeNext module
 * resolution wants `.js`, so it is added here.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const out = join(root, 'src/protos/generated');
const bin = join(root, 'node_modules/.bin/proto-loader-gen-types');
const common = ['--keepCase', '--enums=number', '--defaults', '--oneofs', '--grpcLib=@grpc/grpc-js', '-I', 'proto'];

rmSync(out, { recursive: true, force: true });
const run = (dir, longs, files) =>
  execFileSync(bin, [...common, `--longs=${longs}`, '-O', join(out, dir), ...files], { stdio: 'inherit', cwd: root });
run('public', 'String', ['cache/v1/cache.proto', 'cache/v1/cluster.proto']);
run('peer', 'Number', ['cache/peer/v1/peer.proto']);
run('health', 'String', ['grpc/health/v1/health.proto']);

const walk = (dir) => readdirSync(dir).flatMap((f) => (statSync(join(dir, f)).isDirectory() ? walk(join(dir, f)) : [join(dir, f)]));
for (const file of walk(out)) {
  const text = readFileSync(file, 'utf8').replace(/(from '\.{1,2}\/[^']*?)(?<!\.js)';/g, "$1.js';");
  writeFileSync(file, text);
}
