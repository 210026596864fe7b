/**
 * Test kit: self-signed certificates made by openssl (an independent tool),
 * for the registry's TLS port and for the token issuer's signing key.
 */
import { execFile } from 'node:child_process';
import { copyFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

/** A key pair and a self-signed certificate for it, as PEM files. */
export interface CertFiles {
  certPath: string;
  keyPath: string;
}

/** A TLS server certificate plus a folder laid out the way skopeo's `--*-cert-dir` and docker's certs.d expect. */
export interface TlsFiles extends CertFiles {
  /** `DIR/ca.crt`: the certificate, trusted as a CA by skopeo/containers-image. */
  certDir: string;
}

async function openssl(args: readonly string[]): Promise<void> {
  try {
    await execFileP('openssl', args, { encoding: 'utf8' });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`openssl ${args.join(' ')} failed: ${e.stderr ?? e.message}`);
  }
}

/**
 * A P-256 key and a self-signed certificate valid for 127.0.0.1 and localhost
 * (CN and subjectAltName; Go ignores the CN), written under `dir`.
 */
export async function makeTlsCert(dir: string): Promise<TlsFiles> {
  await mkdir(dir, { recursive: true });
  const certPath = join(dir, 'cert.pem');
  const keyPath = join(dir, 'key.pem');
  await openssl([
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '3650',
    '-keyout', keyPath, '-out', certPath, '-subj', '/CN=127.0.0.1',
    '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
  ]);
  const certDir = join(dir, 'certs.d');
  await mkdir(certDir);
  await copyFile(certPath, join(certDir, 'ca.crt'));
  return { certPath, keyPath, certDir };
}

/**
 * A P-256 signing key for JWTs and a self-signed certificate for it: the
 * registry's `auth.token.rootcertbundle` must hold a certificate, not a bare key.
 */
export async function makeSigningCert(dir: string, subject = 'kiln-test-token-issuer'): Promise<CertFiles> {
  await mkdir(dir, { recursive: true });
  const certPath = join(dir, 'signing-cert.pem');
  const keyPath = join(dir, 'signing-key.pem');
  await openssl([
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '3650',
    '-keyout', keyPath, '-out', certPath, '-subj', `/CN=${subject}`,
  ]);
  return { certPath, keyPath };
}
