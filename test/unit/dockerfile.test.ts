/**
 * Static checks of the Dockerfile and .dockerignore (no Docker engine needed): multi-stage
 * build, production dependencies only at run time, non-root, health check through the
 * shipped script, EXPOSE = the default port, node dist/main.js as PID 1 in exec form, and a
 * build context that holds everything the Dockerfile copies and nothing else.
 */

import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { VARIABLES } from '../../src/config/config.ts';
import { parseAddress } from '../../src/config/parse.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface Instr {
  cmd: string;
  args: string;
  line: number;
}
interface Stage {
  image: string;
  name?: string;
  instrs: Instr[];
}

/** Dockerfile -> stages of instructions (continuations joined, comments and directives dropped, ARG defaults substituted in FROM). */
function parseDockerfile(text: string): { stages: Stage[]; globalArgs: Record<string, string> } {
  const stages: Stage[] = [];
  const globalArgs: Record<string, string> = {};
  const physical = text.split(/\r?\n/);
  for (let i = 0; i < physical.length; i++) {
    const start = i;
    let line = physical[i];
    if (/^\s*#/.test(line) || !line.trim()) continue;
    while (/\\\s*$/.test(line) && i + 1 < physical.length) {
      line = line.replace(/\\\s*$/, ' ');
      i++;
      if (!/^\s*#/.test(physical[i])) line += physical[i];
    }
    const m = /^\s*(\w+)\s+([\s\S]*?)\s*$/.exec(line);
    assert.ok(m, `Dockerfile line ${start + 1}: cannot parse ${JSON.stringify(line)}`);
    const cmd = m[1].toUpperCase();
    const args = m[2];
    if (cmd === 'FROM') {
      const f = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args);
      assert.ok(f, `FROM ${args}`);
      const image = f[1].replace(/\$\{?(\w+)\}?/g, (_, v: string) => globalArgs[v] ?? '');
      stages.push({ image, name: f[2], instrs: [] });
    } else if (stages.length === 0) {
      assert.equal(cmd, 'ARG', `only ARG may come before the first FROM (line ${start + 1})`);
      const a = /^(\w+)(?:=(\S*))?$/.exec(args)!;
      globalArgs[a[1]] = a[2] ?? '';
    } else {
      stages.at(-1)!.instrs.push({ cmd, args, line: start + 1 });
    }
  }
  return { stages, globalArgs };
}

function execForm(args: string, what: string): string[] {
  let v: unknown;
  try {
    v = JSON.parse(args);
  } catch {
    assert.fail(`${what} must be in exec (JSON array) form, not ${args}`);
  }
  assert.ok(Array.isArray(v) && v.every((x) => typeof x === 'string'), `${what} must be a JSON array of strings`);
  return v as string[];
}

const dockerfile = parseDockerfile(readFileSync(`${ROOT}Dockerfile`, 'utf8'));
const { stages } = dockerfile;
const final = stages.at(-1)!;
const finalOf = (cmd: string) => final.instrs.filter((i) => i.cmd === cmd);
const stageByName = (name: string) => stages.find((s) => s.name === name);
const copyFrom = (i: Instr) => /--from=(\S+)/.exec(i.args)?.[1];
/** Sources and destination of a COPY (flags dropped). */
const copyPaths = (i: Instr) => {
  const parts = i.args.split(/\s+/).filter((p) => !p.startsWith('--'));
  return { srcs: parts.slice(0, -1), dest: parts.at(-1)! };
};

test('Dockerfile: multi-stage, every stage on a slim Node 20 image', () => {
  assert.ok(stages.length >= 2, 'a build stage and a runtime stage');
  for (const s of stages)
    assert.match(s.image, /^node:20(\.[\d.]+)?-([a-z]+-)?slim(@sha256:[0-9a-f]{64})?$/, `stage ${s.name}: ${s.image}`);
  assert.ok(final.name, 'the runtime stage is named');
});

test('Dockerfile: TypeScript is compiled in a build stage with npm ci; the runtime copies only dist from it', () => {
  const copies = finalOf('COPY');
  const distCopy = copies.find((c) => copyFrom(c) && copyPaths(c).srcs.some((s) => /\/dist\/?$/.test(s)));
  assert.ok(distCopy, 'runtime copies dist/ from another stage');
  const build = stageByName(copyFrom(distCopy)!)!;
  assert.ok(build, `stage ${copyFrom(distCopy)} exists`);
  const runs = build.instrs
    .filter((i) => i.cmd === 'RUN')
    .map((i) => i.args)
    .join('\n');
  assert.match(runs, /\bnpm ci\b(?![^\n]*--omit=dev)/, 'build stage installs all dependencies with npm ci');
  assert.match(runs, /\bnpm run build\b|\btsc\b/, 'build stage compiles');
  // The build's node_modules hold dev dependencies: they must not reach the runtime.
  for (const c of copies) {
    if (copyFrom(c) === build.name)
      assert.ok(
        copyPaths(c).srcs.every((s) => !/node_modules/.test(s)),
        `line ${c.line} copies dev node_modules`,
      );
  }
});

test('Dockerfile: the runtime has production dependencies only (npm ci --omit=dev), package.json, proto/ and dist/', () => {
  const copies = finalOf('COPY');
  const nm = copies.find((c) => copyPaths(c).srcs.some((s) => /node_modules\/?$/.test(s)));
  const ownRuns = finalOf('RUN')
    .map((i) => i.args)
    .join('\n');
  if (nm) {
    const from = stageByName(copyFrom(nm)!);
    assert.ok(from, 'node_modules come from a stage of this Dockerfile');
    assert.match(
      from.instrs
        .filter((i) => i.cmd === 'RUN')
        .map((i) => i.args)
        .join('\n'),
      /\bnpm ci\b[^\n]*--omit=dev/,
      `stage ${from.name} installs with npm ci --omit=dev`,
    );
  } else {
    assert.match(ownRuns, /\bnpm ci\b[^\n]*--omit=dev/, 'runtime installs with npm ci --omit=dev');
  }
  const plain = copies.filter((c) => !copyFrom(c)).flatMap((c) => copyPaths(c).srcs.map((s) => s.replace(/\/$/, '')));
  assert.ok(plain.includes('package.json'), 'package.json ("type": "module") is in the image');
  assert.ok(plain.includes('proto'), 'proto/ is in the image');
  const workdir = finalOf('WORKDIR').at(-1)?.args;
  assert.ok(workdir, 'the runtime has a WORKDIR (CMD and HEALTHCHECK use paths relative to it)');
  for (const c of copies) {
    const { srcs, dest } = copyPaths(c);
    if (srcs.some((s) => /(^|\/)(proto|dist)\/?$/.test(s))) {
      const target = dest.startsWith('/') ? dest : `${workdir}/${dest.replace(/^\.\/?/, '')}`;
      assert.match(
        target.replace(/\/+$/, ''),
        new RegExp(`^${workdir}/(proto|dist)$`),
        `line ${c.line}: proto/ and dist/ sit side by side under WORKDIR (dist/protos/protos.js loads ../../proto)`,
      );
    }
  }
});

test('Dockerfile: runs as a non-root user', () => {
  const users = finalOf('USER');
  assert.ok(users.length > 0, 'USER is set in the runtime stage');
  const user = users.at(-1)!.args.split(':')[0];
  assert.notEqual(user, 'root');
  assert.notEqual(user, '0');
  const cmdLine = finalOf('CMD').at(-1)!.line;
  assert.ok(users.at(-1)!.line < cmdLine, 'USER comes before CMD');
});

test('Dockerfile: EXPOSE is the default port; ENV only sets known configuration variables', () => {
  const port = parseAddress(VARIABLES.ADDR[1]).port;
  const exposed = finalOf('EXPOSE')
    .flatMap((e) => e.args.split(/\s+/))
    .map((p) => p.replace(/\/tcp$/, ''));
  assert.deepEqual(exposed, [String(port)]);
  for (const e of finalOf('ENV')) {
    for (const m of e.args.matchAll(/(\w+)=/g)) assert.ok(m[1] in VARIABLES, `ENV ${m[1]} is not a configuration variable`);
  }
});

test('Dockerfile: HEALTHCHECK runs the shipped gRPC health script, in exec form, with a timeout above its own', () => {
  const hcs = finalOf('HEALTHCHECK');
  assert.equal(hcs.length, 1);
  const m = /^((?:--\S+\s+)*)CMD\s+(.*)$/s.exec(hcs[0].args);
  assert.ok(m, 'HEALTHCHECK [options] CMD [...]');
  assert.deepEqual(execForm(m[2], 'HEALTHCHECK CMD'), ['node', 'dist/healthcheck.js']);
  const timeout = /--timeout=(\d+)s/.exec(m[1])?.[1];
  assert.ok(timeout && Number(timeout) >= 3, 'HEALTHCHECK --timeout leaves room for the script (2s deadline + start-up)');
  assert.ok(existsSync(`${ROOT}src/healthcheck.ts`));
  assert.ok(existsSync(`${ROOT}dist/healthcheck.js`), 'npm run build produces dist/healthcheck.js');
});

test('Dockerfile: CMD is node dist/main.js in exec form, so node is PID 1 and gets SIGTERM itself', () => {
  assert.equal(finalOf('ENTRYPOINT').length, 0, 'no ENTRYPOINT (a shell or wrapper would sit between Docker and node)');
  const cmds = finalOf('CMD');
  assert.equal(cmds.length, 1);
  assert.deepEqual(execForm(cmds[0].args, 'CMD'), ['node', 'dist/main.js']);
  const stop = finalOf('STOPSIGNAL').at(-1)?.args ?? 'SIGTERM';
  assert.equal(stop, 'SIGTERM');
  assert.ok(existsSync(`${ROOT}dist/main.js`), 'npm run build produces dist/main.js');
});

/** Every file under dir, relative to ROOT. */
function walk(dir: string): string[] {
  return readdirSync(`${ROOT}${dir}`).flatMap((n) => {
    const p = `${dir}/${n}`;
    return statSync(`${ROOT}${p}`).isDirectory() ? walk(p) : [p];
  });
}

test('the compiled code imports only production dependencies and Node built-ins', () => {
  const pkg = JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')) as { type?: string; dependencies: Record<string, string> };
  assert.equal(pkg.type, 'module');
  const allowed = new Set([...Object.keys(pkg.dependencies), ...builtinModules]);
  const bad: string[] = [];
  for (const f of walk('dist').filter((p) => p.endsWith('.js'))) {
    const src = readFileSync(`${ROOT}${f}`, 'utf8');
    for (const m of src.matchAll(
      /(?:^|[\s;])(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|^import\s+['"]([^'"]+)['"]/gm,
    )) {
      const spec = m[1] ?? m[2] ?? m[3];
      if (spec.startsWith('.') || spec.startsWith('node:')) continue;
      const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0];
      if (!allowed.has(name)) bad.push(`${f}: ${spec}`);
    }
  }
  assert.deepEqual(bad, [], 'imports of packages that npm ci --omit=dev does not install');
});

/** A .dockerignore matcher for the patterns used here: *, **, ?, negation, last match wins, a match on a parent folder covers its contents. */
function ignored(patterns: string[], path: string): boolean {
  const toRe = (p: string) =>
    new RegExp(
      `^${p
        .replace(/^\/+|\/+$/g, '')
        .split(/(\*\*\/?|\*|\?)/)
        .map((t) =>
          t === '**/' ? '(?:.*/)?' : t === '**' ? '.*' : t === '*' ? '[^/]*' : t === '?' ? '[^/]' : t.replace(/[.+^${}()|[\]\\]/g, '\\$&'),
        )
        .join('')}$`,
    );
  const parts = path.split('/');
  let out = false;
  for (const raw of patterns) {
    const neg = raw.startsWith('!');
    const re = toRe(neg ? raw.slice(1) : raw);
    for (let i = 1; i <= parts.length; i++)
      if (re.test(parts.slice(0, i).join('/'))) {
        out = !neg;
        break;
      }
  }
  return out;
}

test('.dockerignore: the context holds what the Dockerfile copies, and not node_modules, dist, tests, .git, .bench', () => {
  const patterns = readFileSync(`${ROOT}.dockerignore`, 'utf8')
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  for (const s of stages) {
    for (const c of s.instrs.filter((i) => (i.cmd === 'COPY' || i.cmd === 'ADD') && !copyFrom(i))) {
      for (const src of copyPaths(c).srcs) {
        const p = src.replace(/^\.\/|\/$/g, '');
        assert.ok(existsSync(`${ROOT}${p}`), `line ${c.line}: ${p} exists`);
        const files = statSync(`${ROOT}${p}`).isDirectory() ? walk(p) : [p];
        // generated proto types are made again by the image's build (and not committed)
        const local = (x: string) => x.includes('node_modules') || x.startsWith('src/protos/generated/');
        for (const f of files.filter((x) => !local(x)))
          assert.ok(!ignored(patterns, f), `line ${c.line}: ${f} is excluded from the context`);
      }
    }
  }
  for (const p of [
    'node_modules/yaml/package.json',
    'dist/main.js',
    'test/unit/dockerfile.test.ts',
    '.git/HEAD',
    '.bench/x.json',
    'src/node_modules/x.js',
    'src/protos/generated/public/cache.ts',
    'scripts/bench.ts',
    'docs/DEPLOY.md',
    'Dockerfile',
    'docker-compose.yml',
    'deploy/k8s/statefulset.yaml',
    'npm-debug.log',
  ]) {
    assert.ok(ignored(patterns, p), `${p} stays out of the build context`);
  }
  for (const p of [
    'src/main.ts',
    'src/healthcheck.ts',
    'proto/grpc/health/v1/health.proto',
    'scripts/gen-proto-types.mjs',
    'package.json',
    'package-lock.json',
    'tsconfig.json',
  ]) {
    assert.ok(!ignored(patterns, p), `${p} is in the build context`);
  }
});
