#!/usr/bin/env node
/**
 * Builds the tscache-client package from the repository's client sources (src/client/ and
 * the few modules it imports: protos, ring, hash, config/parse, errors, server/deadline),
 * so that it installs with @grpc/grpc-js and @grpc/proto-loader only:
 *
 *   dist/esm/index.js           ES module bundle (`import`)
 *   dist/cjs/index.js           CommonJS bundle (`require`); dist/cjs/package.json says so
 *   dist/{esm,cjs}/**\/*.d.ts    declarations (tsc), the same in both
 *   proto/                      the .proto files, loaded at run time: src/protos/protos.ts
 *                               resolves ../../proto/ from its module, i.e. from dist/<format>/
 *
 * Run by `prepare`: `npm ci` / `npm install` in the repository, `npm pack -w packages/client`,
 * `npm publish`. Needs the repository's devDependencies (run `npm ci` at the root first).
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { builtinModules, createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const pkg = fileURLToPath(new URL('.', import.meta.url));
const root = join(pkg, '../..');
if (!existsSync(join(root, 'node_modules/.bin/proto-loader-gen-types'))) {
  console.error(`tscache-client is built from the repository's sources: run \`npm ci\` in ${root} first`);
  process.exit(1);
}
const { build } = await import('esbuild');
const dist = join(pkg, 'dist');
const require = createRequire(import.meta.url);
const run = (...args) => execFileSync(process.execPath, args, { stdio: 'inherit', cwd: pkg });

// The declarations refer to the protos' generated types (src/protos/generated/, gitignored).
run(join(root, 'scripts/gen-proto-types.mjs'));

rmSync(dist, { recursive: true, force: true });
rmSync(join(pkg, 'proto'), { recursive: true, force: true });

run(require.resolve('typescript/bin/tsc'), '-p', join(pkg, 'tsconfig.json'));

// Packages are never bundled: the bundles import them, and may import only the package's
// dependencies (a client module that pulled in one of the node's, pino say, fails the build).
const common = {
  entryPoints: [join(root, 'src/client/index.ts')],
  bundle: true,
  packages: 'external',
  platform: 'node',
  target: 'node20',
  metafile: true,
  logLevel: 'warning',
};
const built = [
  await build({ ...common, format: 'esm', outfile: join(dist, 'esm/index.js') }),
  // CommonJS has no import.meta: the module's own URL comes from __filename instead (after
  // "use strict", which must stay the file's first statement).
  await build({
    ...common,
    format: 'cjs',
    outfile: join(dist, 'cjs/index.js'),
    define: { 'import.meta.url': '__tscacheModuleUrl' },
    banner: { js: '"use strict";\nconst __tscacheModuleUrl = require("node:url").pathToFileURL(__filename).href;' },
  }),
];
const allowed = new Set([...Object.keys(JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8')).dependencies), ...builtinModules]);
const imported = built.flatMap((b) => Object.values(b.metafile.outputs).flatMap((o) => o.imports.map((i) => i.path)));
const foreign = [...new Set(imported)].filter((p) => {
  const name = p.startsWith('@') ? p.split('/').slice(0, 2).join('/') : p.split('/')[0];
  return !p.startsWith('node:') && !allowed.has(name);
});
if (foreign.length > 0) {
  console.error(`the client imports packages that are not dependencies of tscache-client: ${foreign.join(', ')}`);
  process.exit(1);
}
writeFileSync(join(dist, 'cjs/package.json'), `${JSON.stringify({ type: 'commonjs' }, null, 2)}\n`);

// The same declarations for require: under dist/cjs they are read as CommonJS.
const walk = (dir) => readdirSync(dir).flatMap((f) => (statSync(join(dir, f)).isDirectory() ? walk(join(dir, f)) : [join(dir, f)]));
for (const file of walk(join(dist, 'esm')).filter((f) => f.endsWith('.d.ts'))) {
  const to = join(dist, 'cjs', relative(join(dist, 'esm'), file));
  mkdirSync(dirname(to), { recursive: true });
  cpSync(file, to);
}

cpSync(join(root, 'proto'), join(pkg, 'proto'), { recursive: true });
