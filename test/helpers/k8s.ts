/**
 * Kubernetes manifests for tests without a cluster: every document of a directory's YAML files
 * parsed, a container's environment built the way the kubelet builds it, quantities, and a
 * Secret volume laid out and updated the way the kubelet does (its atomic writer).
 */
import assert from 'node:assert/strict';
import { chmodSync, chownSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';

export type Obj = Record<string, any>;

/** Every document with a kind in dir's *.yaml / *.yml files (not subdirectories), each with its file name. */
export function loadManifests(dir: string): { files: string[]; docs: Obj[] } {
  const files = readdirSync(dir)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort();
  const docs = files
    .flatMap((file) =>
      parseAllDocuments(readFileSync(join(dir, file), 'utf8')).map((d): Obj => {
        assert.deepEqual(d.errors, [], `${file}: ${d.errors.join('; ')}`);
        return { ...(d.toJS() as Obj), file };
      }),
    )
    .filter((d) => d.kind);
  return { files, docs };
}

/** The container's environment as the kubelet builds it: downward-API values filled in, $(VAR) expanded. */
export function podEnv(container: Obj, podName: string, podIP: string, namespace = 'default'): Record<string, string> {
  const env: Record<string, string> = {};
  const fields: Record<string, string> = {
    'metadata.name': podName,
    'metadata.namespace': namespace,
    'status.podIP': podIP,
    'spec.nodeName': 'node-1',
  };
  for (const e of container.env as Obj[]) {
    if (e.valueFrom) {
      const path = e.valueFrom.fieldRef?.fieldPath;
      assert.ok(path in fields, `${e.name}: only downward-API fields are used (got ${JSON.stringify(e.valueFrom)})`);
      env[e.name] = fields[path];
    } else {
      env[e.name] = String(e.value ?? '').replace(/\$\$|\$\((\w+)\)/g, (m, v?: string) => (v === undefined ? '$' : v in env ? env[v] : m));
    }
  }
  return env;
}

/** Kubernetes quantity (512Mi, 1Gi, 500M, 250m) -> number. */
export function quantity(q: string | number): number {
  const m = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T|m)?$/.exec(String(q));
  assert.ok(m, `quantity ${q}`);
  const mult: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, k: 1e3, M: 1e6, G: 1e9, T: 1e12, m: 1e-3 };
  return Number(m[1]) * (m[2] ? mult[m[2]] : 1);
}

/**
 * A Secret volume as the kubelet lays it out: the data in a timestamped directory
 * (..2026_12_02_06_30_00.000000001/tls.crt), a symlink ..data to it, and one symlink per key
 * (tls.crt -> ..data/tls.crt). An update writes a new timestamped directory and swaps ..data
 * by rename, so every key changes at once and a reader never sees half of it. Files get the
 * volume's defaultMode and, with an fsGroup, that group (owner root).
 */
export class SecretVolume {
  private generation = 0;
  private current?: string;
  private keys = new Set<string>();

  constructor(
    readonly dir: string,
    private readonly mode: number,
    private readonly fsGroup?: number,
  ) {
    mkdirSync(dir, { recursive: true });
    chmodSync(dir, 0o755);
  }

  /** Projects the Secret's data (key -> content), replacing whatever was there. */
  update(data: Record<string, string | Buffer>): void {
    const stamp = `..${new Date().toISOString().replace(/[-:T]/g, '_').replace(/\..*$/, '')}.${String(++this.generation).padStart(9, '0')}`;
    const gen = join(this.dir, stamp);
    mkdirSync(gen);
    chmodSync(gen, 0o755);
    for (const [k, v] of Object.entries(data)) {
      const f = join(gen, k);
      writeFileSync(f, v);
      chmodSync(f, this.mode);
      if (this.fsGroup !== undefined) chownSync(f, 0, this.fsGroup);
    }
    symlinkSync(stamp, join(this.dir, '..data_tmp'));
    renameSync(join(this.dir, '..data_tmp'), join(this.dir, '..data'));
    for (const k of Object.keys(data)) if (!this.keys.has(k)) symlinkSync(join('..data', k), join(this.dir, k));
    for (const k of this.keys) if (!(k in data)) rmSync(join(this.dir, k));
    if (this.current) rmSync(join(this.dir, this.current), { recursive: true });
    this.current = stamp;
    this.keys = new Set(Object.keys(data));
  }
}

/** The pod process's exit code, or 'timeout' if it has not exited within ms (terminationGracePeriodSeconds). */
export async function exitWithin(exited: Promise<number | null>, ms: number): Promise<number | null | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([exited, new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), ms)))]);
  clearTimeout(timer);
  return code;
}

/**
 * The StatefulSet's PersistentVolumeClaims as a pod sees them, for pods run as processes: each
 * claim of volumeClaimTemplates mounted by the container is a directory of its own per pod under
 * `root` (<claim>-<pod>, as Kubernetes names the claim), kept across the pod's restarts, owned
 * by root and the pod's fsGroup with group write and setgid (what the kubelet does for fsGroup).
 * Returns the env rewritten so that paths under a claim's mountPath point into its directory.
 */
export function withClaims(sts: Obj, container: Obj, podName: string, root: string, env: Record<string, string>): Record<string, string> {
  const claims = new Set(((sts.spec.volumeClaimTemplates ?? []) as Obj[]).map((c) => c.metadata.name as string));
  const fsGroup = sts.spec.template.spec.securityContext?.fsGroup as number | undefined;
  const mounts = ((container.volumeMounts ?? []) as Obj[]).filter((m) => claims.has(m.name));
  const dirOf = (m: Obj) => {
    const dir = join(root, `${m.name}-${podName}`);
    mkdirSync(dir, { recursive: true });
    if (fsGroup !== undefined) {
      chownSync(dir, 0, fsGroup);
      chmodSync(dir, 0o2775);
    }
    return dir;
  };
  const inClaim = (v: string) => {
    const m = mounts.find((x) => v === x.mountPath || v.startsWith(`${x.mountPath}/`));
    return m ? join(dirOf(m), v.slice(m.mountPath.length)) : v;
  };
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, inClaim(v)]));
}
