/**
 * cert-manager, emulated with openssl for tests: the Secret a manifest's Certificate gets from
 * its Issuer (tls.crt, tls.key, ca.crt), issued from the Certificate's own fields, so that a
 * test runs nodes with what cert-manager would give them for that manifest. Issuers: selfSigned
 * and ca (whose Secret is issued first if a Certificate of the manifest makes it). A field this
 * emulation does not implement fails the issuance rather than being ignored.
 *
 * As cert-manager does: usages default to digital signature and key encipherment, isCA adds
 * cert sign; "server auth"/"client auth" become extended key usages; the private key is
 * PKCS#1/SEC1 ("traditional") unless encoding is PKCS8, new on every renewal unless
 * rotationPolicy is Never; tls.crt holds the leaf (a self-signed root is not part of the
 * chain), ca.crt the issuing CA (a self-signed certificate is its own CA).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Obj } from './k8s.ts';

export type SecretData = Record<'tls.crt' | 'tls.key' | 'ca.crt', Buffer>;

const CERT_FIELDS = new Set([
  'secretName',
  'commonName',
  'dnsNames',
  'ipAddresses',
  'isCA',
  'usages',
  'duration',
  'renewBefore',
  'privateKey',
  'issuerRef',
]);
const KEY_USAGES: Record<string, string> = {
  'digital signature': 'digitalSignature',
  signing: 'digitalSignature',
  'key encipherment': 'keyEncipherment',
  'cert sign': 'keyCertSign',
  'crl sign': 'cRLSign',
};
const EXT_KEY_USAGES: Record<string, string> = { 'server auth': 'serverAuth', 'client auth': 'clientAuth' };

/** Go duration (2160h, 90m, 1h30m) -> whole days, at least 1 (openssl -days). */
function days(d: string): number {
  let h = 0;
  for (const m of d.matchAll(/(\d+(?:\.\d+)?)(h|m|s)/g)) h += Number(m[1]) / { h: 1, m: 60, s: 3600 }[m[2] as 'h' | 'm' | 's'];
  if (h <= 0) throw new Error(`duration ${d}`);
  return Math.max(1, Math.ceil(h / 24));
}

export class CertManager {
  private readonly secrets = new Map<string, SecretData>();
  private n = 0;

  /** `docs`: the manifest's documents; `dir`: where openssl works (keys included). */
  constructor(
    private readonly docs: Obj[],
    private readonly dir: string,
  ) {}

  private certificate(secretName: string): Obj {
    const c = this.docs.find((d) => d.kind === 'Certificate' && d.spec?.secretName === secretName);
    if (!c) throw new Error(`no Certificate writes the Secret ${secretName}`);
    for (const k of Object.keys(c.spec)) if (!CERT_FIELDS.has(k)) throw new Error(`Certificate ${c.metadata.name}: ${k} is not emulated`);
    return c;
  }

  /** The Secret as cert-manager last wrote it (issued now if it never was). */
  secret(secretName: string): SecretData {
    return this.secrets.get(secretName) ?? this.issue(secretName);
  }

  /** Issues (or renews) the Certificate that writes `secretName`. */
  issue(secretName: string): SecretData {
    const cert = this.certificate(secretName);
    const s = cert.spec;
    const ref = s.issuerRef ?? {};
    if ((ref.kind ?? 'Issuer') !== 'Issuer' || (ref.group ?? 'cert-manager.io') !== 'cert-manager.io')
      throw new Error(`${cert.metadata.name}: only namespaced cert-manager.io Issuers are emulated`);
    const issuer = this.docs.find((d) => d.kind === 'Issuer' && d.metadata.name === ref.name);
    if (!issuer) throw new Error(`${cert.metadata.name}: no Issuer ${ref.name}`);

    const base = join(this.dir, `${secretName}-${++this.n}`);
    const keyFile = `${base}.key`;
    const previous = this.secrets.get(secretName);
    const pk = s.privateKey ?? {};
    if (previous && pk.rotationPolicy === 'Never') writeFileSync(keyFile, previous['tls.key']);
    else this.newKey(keyFile, pk);

    const usages: string[] = s.usages ?? ['digital signature', 'key encipherment'];
    for (const u of usages) if (!(u in KEY_USAGES) && !(u in EXT_KEY_USAGES)) throw new Error(`usage ${u} is not emulated`);
    const ku = [...new Set([...usages.filter((u) => u in KEY_USAGES).map((u) => KEY_USAGES[u]), ...(s.isCA ? ['keyCertSign'] : [])])];
    const eku = usages.filter((u) => u in EXT_KEY_USAGES).map((u) => EXT_KEY_USAGES[u]);
    const sans = [...(s.dnsNames ?? []).map((n: string) => `DNS:${n}`), ...(s.ipAddresses ?? []).map((n: string) => `IP:${n}`)];
    const ext = [
      `basicConstraints=critical,CA:${s.isCA ? 'TRUE' : 'FALSE'}`,
      `keyUsage=critical,${ku.join(',')}`,
      ...(eku.length ? [`extendedKeyUsage=${eku.join(',')}`] : []),
      ...(sans.length ? [`subjectAltName=${sans.join(',')}`] : []),
      'subjectKeyIdentifier=hash',
    ];
    if (!s.commonName) throw new Error(`${cert.metadata.name}: this emulation needs a commonName (an empty subject is not emulated)`);
    writeFileSync(`${base}.ext`, `${ext.join('\n')}\n`);
    this.openssl(['req', '-new', '-key', keyFile, '-subj', `/CN=${s.commonName}`, '-out', `${base}.csr`]);
    const common = ['-in', `${base}.csr`, '-days', String(days(s.duration ?? '2160h')), '-sha256', '-extfile', `${base}.ext`];
    const serial = ['-set_serial', `0x${randomBytes(16).toString('hex')}`];

    let ca: Buffer;
    if (issuer.spec.selfSigned !== undefined) {
      this.openssl(['x509', '-req', ...common, ...serial, '-key', keyFile, '-out', `${base}.crt`]);
      ca = readFileSync(`${base}.crt`);
    } else if (issuer.spec.ca?.secretName) {
      const signer = this.secret(issuer.spec.ca.secretName);
      writeFileSync(`${base}.ca.crt`, signer['tls.crt']);
      writeFileSync(`${base}.ca.key`, signer['tls.key']);
      this.openssl(['x509', '-req', ...common, ...serial, '-CA', `${base}.ca.crt`, '-CAkey', `${base}.ca.key`, '-out', `${base}.crt`]);
      ca = signer['tls.crt'];
    } else throw new Error(`Issuer ${issuer.metadata.name}: only selfSigned and ca are emulated`);

    const data: SecretData = { 'tls.crt': readFileSync(`${base}.crt`), 'tls.key': readFileSync(keyFile), 'ca.crt': ca };
    this.secrets.set(secretName, data);
    return data;
  }

  private newKey(file: string, pk: Obj): void {
    const algorithm = pk.algorithm ?? 'RSA';
    const curves: Record<number, string> = { 256: 'P-256', 384: 'P-384', 521: 'P-521' };
    let args: string[];
    if (algorithm === 'ECDSA' && curves[pk.size ?? 256])
      args = ['-algorithm', 'EC', '-pkeyopt', `ec_paramgen_curve:${curves[pk.size ?? 256]}`];
    else if (algorithm === 'RSA') args = ['-algorithm', 'RSA', '-pkeyopt', `rsa_keygen_bits:${pk.size ?? 2048}`];
    else throw new Error(`privateKey ${algorithm} ${pk.size ?? ''} is not emulated`);
    this.openssl(['genpkey', ...args, '-out', `${file}.p8`]);
    if ((pk.encoding ?? 'PKCS1') === 'PKCS8') writeFileSync(file, readFileSync(`${file}.p8`));
    else this.openssl(['pkey', '-in', `${file}.p8`, '-traditional', '-out', file]);
  }

  private openssl(args: string[]): void {
    try {
      execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (e) {
      throw new Error(`openssl ${args.join(' ')}: ${(e as { stderr?: Buffer }).stderr?.toString().trim() ?? e}`);
    }
  }
}
