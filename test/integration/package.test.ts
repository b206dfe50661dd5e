/**
 * The client package as an application gets it. A fresh clone (the files git tracks or would
 * track, copied to a temporary folder: no node_modules, no build output) runs `npm ci` and
 * `npm pack -w packages/client`; an empty folder (`npm init -y`) installs the tarball, and must
 * get none of the node's own dependencies; the README's two snippets (ES module and CommonJS)
 * run as they are against a real node; the shipped types check for `import` and `require`.
 *
 * Needs git and npm. Packages come from npm's cache when `npm ci` in this repository filled it
 * (--prefer-offline); the empty folder's install asks the registry for the @grpc packages'
 * metadata unless the cache has it.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { setPriority, tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type NodeProc, ROOT, startNode } from '../helpers/procs.ts';

/** Dependencies of the node that an application using only the client must not get. */
const SERVER_ONLY = ['@grpc/reflection', 'grpc-health-check', 'prom-client', 'pino', 'bottleneck', 'jose', 'zod'];
const NPM = ['--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'];

/** The files of a fresh clone: tracked, plus new files not ignored (uncommitted work included). */
function cloneFiles(): string[] | undefined {
  try {
    const out = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, stdio: 'pipe' });
    return out
      .toString('utf8')
      .split('\0')
      .filter((f) => f && existsSync(join(ROOT, f)));
  } catch {
    return undefined;
  }
}

/**
 * The environment of this process without what `npm test` adds for its own script (this
 * repository's prefix, package and node_modules/.bin), so the clone's npm sees only itself.
 */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env))
    if (!/^(npm_package_|npm_lifecycle_|npm_command$|npm_config_local_prefix$|INIT_CWD$)/.test(k)) env[k] = v;
  env.PATH = (process.env.PATH ?? '')
    .split(delimiter)
    .filter((p) => !/node_modules[\\/]\.bin|node-gyp-bin/.test(p))
    .join(delimiter);
  return env;
}
const ENV = cleanEnv();

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Child processes still running: killed by PID (their process group) when the tests end. */
const running = new Set<ChildProcess>();
const killGroup = (p: ChildProcess) => {
  try {
    process.kill(-p.pid!, 'SIGKILL');
  } catch {
    /* gone */
  }
};
process.on('exit', () => {
  for (const p of running) killGroup(p);
});

/** Runs a command in its own process group (npm starts scripts of its own); the group is killed after ms. */
function run(cmd: string, args: string[], cwd: string, opts: { env?: NodeJS.ProcessEnv; ms?: number; nice?: boolean } = {}): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { cwd, env: opts.env ?? ENV, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(p);
    // Installs and builds yield to the node processes of tests running alongside.
    if (opts.nice && p.pid)
      try {
        setPriority(p.pid, 10);
      } catch {
        /* not permitted: run at normal priority */
      }
    let stdout = '';
    let stderr = '';
    p.stdout!.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    p.stderr!.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    const timer = setTimeout(() => killGroup(p), opts.ms ?? 120_000);
    p.on('error', (e) => {
      clearTimeout(timer);
      running.delete(p);
      reject(e);
    });
    p.on('close', (code) => {
      clearTimeout(timer);
      running.delete(p);
      resolve({ code, stdout, stderr });
    });
  });
}

async function npm(args: string[], cwd: string, ms = 180_000): Promise<Ran> {
  const r = await run('npm', [...args, ...NPM], cwd, { ms, nice: true });
  assert.equal(r.code, 0, `npm ${args.join(' ')} in ${cwd} failed:\n${r.stdout}\n${r.stderr}`);
  return r;
}

/** The fenced code block of the README whose first line is `// <name>`. */
function readmeSnippet(name: string): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const block = [...readme.matchAll(/^```js\n([\s\S]*?)^```$/gm)].map((m) => m[1]!).find((b) => b.startsWith(`// ${name}\n`));
  assert.ok(block, `README has a \`\`\`js block starting with "// ${name}"`);
  return block;
}

/** Every package folder under a node_modules tree (scoped ones as @scope/name). */
function installedPackages(nodeModules: string): string[] {
  if (!existsSync(nodeModules)) return [];
  const out: string[] = [];
  for (const name of readdirSync(nodeModules)) {
    if (name.startsWith('.')) continue;
    const dir = join(nodeModules, name);
    const pkgs = name.startsWith('@') ? readdirSync(dir).map((n) => [`${name}/${n}`, join(dir, n)] as const) : [[name, dir] as const];
    for (const [pkg, path] of pkgs) {
      out.push(pkg);
      out.push(...installedPackages(join(path, 'node_modules')));
    }
  }
  return out;
}

const files = cloneFiles();

describe('the client package: packed on a fresh clone, installed in an empty folder', {
  skip: files ? false : 'no git work tree here (the fresh clone is made from git ls-files)',
  timeout: 420_000,
}, () => {
  let tmp: string;
  let app: string;
  let node: NodeProc | undefined;
  const timings: string[] = [];
  const timed = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    const t0 = Date.now();
    const v = await fn();
    timings.push(`${what}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    return v;
  };

  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'tscache-package-'));
    const clone = join(tmp, 'clone');
    for (const f of files!) {
      mkdirSync(dirname(join(clone, f)), { recursive: true });
      copyFileSync(join(ROOT, f), join(clone, f));
    }
    await timed('npm ci on the fresh clone (installs, builds the node and the client)', () => npm(['ci'], clone));
    const packed = join(tmp, 'packed');
    mkdirSync(packed);
    await timed('npm pack -w packages/client', () => npm(['pack', '-w', 'packages/client', '--pack-destination', packed], clone));
    const tarballs = readdirSync(packed).filter((f) => f.endsWith('.tgz'));
    assert.deepEqual(tarballs, ['tscache-client-0.1.0.tgz']);
    app = join(tmp, 'app');
    mkdirSync(app);
    await npm(['init', '-y'], app);
    await timed('npm install <tarball> in an empty folder', () => npm(['install', join(packed, tarballs[0]!)], app));
    node = await startNode();
  });

  after(async () => {
    await node?.stop('SIGKILL');
    for (const p of running) killGroup(p);
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  test('the package is publishable and holds its builds, types, .proto files and LICENSE', (t) => {
    for (const line of timings) t.diagnostic(line);
    const pkgDir = join(app, 'node_modules/tscache-client');
    const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8'));
    assert.equal(pkg.private, undefined);
    assert.equal(pkg.license, 'MIT');
    assert.deepEqual(Object.keys(pkg.dependencies).sort(), ['@grpc/grpc-js', '@grpc/proto-loader']);
    const targets = [pkg.exports['.'].import, pkg.exports['.'].require].flatMap((c: Record<string, string>) => [c.types, c.default]);
    for (const f of [...targets, 'LICENSE', 'dist/cjs/package.json', 'proto/cache/v1/cache.proto', 'proto/cache/v1/cluster.proto'])
      assert.ok(existsSync(join(pkgDir, f)) && statSync(join(pkgDir, f)).size > 0, `${f} is in the package`);
  });

  test("the application gets @grpc/grpc-js and @grpc/proto-loader, none of the node's dependencies", () => {
    const installed = installedPackages(join(app, 'node_modules'));
    assert.ok(installed.includes('@grpc/grpc-js') && installed.includes('@grpc/proto-loader'), installed.join(' '));
    assert.deepEqual(
      installed.filter((p) => SERVER_ONLY.includes(p)),
      [],
    );
    assert.deepEqual(JSON.parse(readFileSync(join(app, 'package.json'), 'utf8')).dependencies, {
      'tscache-client': `file:${join('..', 'packed', 'tscache-client-0.1.0.tgz')}`,
    });
  });

  for (const name of ['app.mjs', 'app.cjs'])
    test(`the README's ${name} sets and reads a key on a real node`, async () => {
      writeFileSync(join(app, name), readmeSnippet(name));
      const r = await run(process.execPath, [name], app, { env: { PATH: ENV.PATH, CACHE_ADDR: node!.addr }, ms: 30_000 });
      assert.deepEqual(r, { code: 0, stdout: 'hello\n', stderr: '' });
    });

  test('the types check for import (ES module) and require (CommonJS)', async () => {
    const use = (load: string, ns: string) =>
      `${load}\nconst cache = new ${ns}CacheClient({ seeds: ['127.0.0.1:1'] });\n` +
      `export const hit: Promise<${ns}GetResult | undefined> = cache.get('k');\n` +
      `// @ts-expect-error: a key is a string\nvoid cache.set(1, 'x');\n`;
    writeFileSync(join(app, 'esm.mts'), use("import { CacheClient, type GetResult } from 'tscache-client';", ''));
    writeFileSync(join(app, 'cjs.cts'), use("import tscache = require('tscache-client');", 'tscache.'));
    // node16: require() of an ES module is an error there, so `require` must find CommonJS types.
    const tsconfig = {
      compilerOptions: {
        module: 'node16',
        moduleResolution: 'node16',
        target: 'es2022',
        strict: true,
        noEmit: true,
        skipLibCheck: true,
        types: ['node'],
        typeRoots: [join(ROOT, 'node_modules/@types')],
      },
      files: ['esm.mts', 'cjs.cts'],
    };
    writeFileSync(join(app, 'tsconfig.json'), JSON.stringify(tsconfig));
    const r = await run(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], app, { ms: 60_000 });
    assert.equal(r.code, 0, r.stdout + r.stderr);
  });
});
