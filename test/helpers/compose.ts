/**
 * Compose files as `docker compose -f a.yml -f b.yml` reads them: each file parsed (YAML merge
 * keys and anchors resolved), later files merged into earlier ones by the Compose
 * specification's rules for the keys tscache's files use:
 *  - mappings (services, a service, healthcheck, ...) are merged key by key;
 *  - environment is merged by variable (the map and the "KEY=value" list forms alike);
 *  - volumes are merged by container path (a later mount of the same target replaces it);
 *  - ports are the union of both lists;
 *  - any other value (a scalar, healthcheck.test, command) is replaced.
 */
import { chownSync, mkdirSync, readFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { parse } from 'yaml';

export interface Service {
  build?: string;
  image?: string;
  hostname?: string;
  restart?: string;
  stop_grace_period?: string;
  ports?: string[];
  environment?: Record<string, string | number> | string[];
  volumes?: (string | { type?: string; source?: string; target: string; read_only?: boolean })[];
  healthcheck?: { test: string[]; interval?: string; timeout?: string; retries?: number; start_period?: string };
}

export interface ComposeProject {
  services: Record<string, Service>;
  /** Top-level named volumes (merged by name). */
  volumes: Record<string, unknown>;
  /** The directory relative volume sources are resolved against (the first file's). */
  dir: string;
}

type Json = Record<string, unknown>;
const isMap = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

function environmentMap(env: Service['environment']): Record<string, string> {
  if (env === undefined) return {};
  if (Array.isArray(env))
    return Object.fromEntries(
      env.map((e) => {
        const i = e.indexOf('=');
        return i < 0 ? [e, ''] : [e.slice(0, i), e.slice(i + 1)];
      }),
    );
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, v === null ? '' : String(v)]));
}

export interface Mount {
  /** As written (./certs); see hostPath. */
  source: string;
  target: string;
  readOnly: boolean;
}

function mount(v: NonNullable<Service['volumes']>[number]): Mount {
  if (typeof v !== 'string') return { source: v.source ?? '', target: v.target, readOnly: v.read_only === true };
  const [source, target, mode] = v.split(':');
  if (target === undefined) return { source: '', target: source, readOnly: false }; // anonymous volume
  return { source, target, readOnly: (mode ?? '').split(',').includes('ro') };
}

function mergeService(base: Json, over: Json): Json {
  const out: Json = { ...base };
  for (const [k, v] of Object.entries(over)) {
    if (k === 'environment')
      out[k] = { ...environmentMap(base[k] as Service['environment']), ...environmentMap(v as Service['environment']) };
    else if (k === 'volumes') {
      const targets = new Set((v as Service['volumes'])!.map((x) => mount(x).target));
      out[k] = [...((base[k] as Service['volumes']) ?? []).filter((x) => !targets.has(mount(x).target)), ...(v as unknown[])];
    } else if (k === 'ports') out[k] = [...new Set([...((base[k] as string[]) ?? []), ...(v as string[])])];
    else if (isMap(v) && isMap(base[k])) out[k] = mergeMaps(base[k] as Json, v);
    else out[k] = v;
  }
  return out;
}

function mergeMaps(base: Json, over: Json): Json {
  const out: Json = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = isMap(v) && isMap(base[k]) ? mergeMaps(base[k] as Json, v) : v;
  return out;
}

/** The project the files (paths relative to `dir`) make together, in order. */
export function loadCompose(dir: string, ...files: string[]): ComposeProject {
  let services: Record<string, Json> = {};
  const volumes: Record<string, unknown> = {};
  for (const f of files) {
    const doc = parse(readFileSync(join(dir, f), 'utf8'), { merge: true }) as { services?: Record<string, Json>; volumes?: Json };
    for (const [name, v] of Object.entries(doc.volumes ?? {})) volumes[name] = v ?? {};
    for (const [name, s] of Object.entries(doc.services ?? {})) services[name] = name in services ? mergeService(services[name], s) : s;
  }
  services = Object.fromEntries(
    Object.entries(services).map(([n, s]) => [
      n,
      { ...s, ...(s.environment ? { environment: environmentMap(s.environment as never) } : {}) },
    ]),
  );
  return { services: services as Record<string, Service>, volumes, dir };
}

/** A service's environment, every value a string. */
export function serviceEnv(s: Service): Record<string, string> {
  return environmentMap(s.environment);
}

export function mounts(s: Service): Mount[] {
  return (s.volumes ?? []).map(mount);
}

/** A named volume (declared under the top-level volumes), not a bind mount of a host path. */
export function isNamedVolume(project: ComposeProject, m: Mount): boolean {
  return m.source !== '' && !m.source.startsWith('.') && !isAbsolute(m.source) && m.source in project.volumes;
}

/**
 * For services run as processes: the service's environment with paths under its named volumes
 * pointing into a directory of its own per volume under `root` (kept across restarts, like the
 * volume), owned by `uid` (a new named volume copies the image directory's owner).
 */
export function withVolumes(
  project: ComposeProject,
  s: Service,
  root: string,
  env: Record<string, string>,
  uid = 0,
): Record<string, string> {
  const named = mounts(s).filter((m) => isNamedVolume(project, m));
  const inVolume = (v: string) => {
    const m = named.find((x) => v === x.target || v.startsWith(`${x.target}/`));
    if (!m) return v;
    const dir = join(root, m.source);
    mkdirSync(dir, { recursive: true });
    chownSync(dir, uid, uid);
    return join(dir, v.slice(m.target.length));
  };
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, inVolume(v)]));
}

/** Where a bind mount's source is on the host (relative sources are relative to the project directory). */
export function hostPath(project: ComposeProject, m: Mount): string {
  return isAbsolute(m.source) ? m.source : join(project.dir, m.source);
}
