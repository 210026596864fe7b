import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import { RegistryError } from './registry-error.ts';

/**
 * The CA list for TLS connections to registries, or undefined to keep Node's
 * default store. Extra certificates come from `caCerts` (PEM files named by
 * the user: a missing one is an error) and from the files named by
 * `SSL_CERT_FILE` and `NODE_EXTRA_CA_CERTS` (skipped when absent). Node's
 * `ca` option replaces its built-in roots, so they are listed too.
 */
export function loadCaCertificates(caCerts: readonly string[], env: NodeJS.ProcessEnv): string[] | undefined {
  const extra: string[] = [];
  for (const path of caCerts) {
    try {
      extra.push(readFileSync(path, 'utf8'));
    } catch (cause) {
      throw new RegistryError('REGISTRY_TLS', `cannot read CA certificate file ${path}: ${(cause as Error).message}`, { cause });
    }
  }
  for (const name of ['SSL_CERT_FILE', 'NODE_EXTRA_CA_CERTS'] as const) {
    const path = env[name];
    if (path === undefined || path === '') continue;
    try {
      extra.push(readFileSync(path, 'utf8'));
    } catch {
      // Node and OpenSSL ignore a missing file named by these variables too.
    }
  }
  return extra.length === 0 ? undefined : [...rootCertificates, ...extra];
}

const PEM_CERTIFICATE = /-----BEGIN (?:TRUSTED )?CERTIFICATE-----[\s\S]*?-----END (?:TRUSTED )?CERTIFICATE-----/g;

/**
 * The certificates of `pems` (bundles split into single certificates),
 * each once: a system bundle named by SSL_CERT_FILE mostly repeats Node's
 * own roots, and parsing each twice doubles the cost of the first TLS
 * connection (~20 ms). Text that holds no certificate block is kept as it
 * is, for Node to report. Done when the first TLS connection needs the
 * list, not when a client is made (a cached rebuild makes one and never connects).
 */
export function uniqueCertificates(pems: readonly string[]): string[] {
  const unique = new Map<string, string>();
  for (const pem of pems) {
    const blocks = pem.match(PEM_CERTIFICATE) ?? [pem];
    for (const block of blocks) unique.set(block.replace(/\s+/g, ''), block);
  }
  return [...unique.values()];
}
