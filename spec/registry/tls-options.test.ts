/**
 * The CA list for registries: Node's roots plus the user's files, each
 * certificate once (a bundle named by SSL_CERT_FILE usually repeats Node's
 * roots), and a missing user-named file is an error.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import { join } from 'node:path';
import { loadCaCertificates, uniqueCertificates } from '../../lib/registry/tls-options.ts';
import { makeTlsCert } from '../helpers/test-certs.ts';
import { tempDir } from '../helpers/kiln.ts';

const flat = (pem: string): string => pem.replace(/\s+/g, '');

test('no extra files keeps Node’s default store', () => {
  assert.equal(loadCaCertificates([], {}), undefined);
});

test('a bundle repeating Node’s roots adds only its new certificates, each once', async () => {
  const { dir, cleanup } = tempDir('kiln-tls-options-');
  try {
    const { certPath } = await makeTlsCert(join(dir, 'cert'));
    const own = readFileSync(certPath, 'utf8');
    // A system-style bundle: two of Node's roots re-wrapped at 76 columns (as the Debian bundle is not), our cert twice.
    const rewrap = (pem: string): string => pem.replace(/(-----BEGIN CERTIFICATE-----)\s*([\s\S]*?)\s*(-----END CERTIFICATE-----)/, (_m, b, body: string, e) => `${b}\n${flat(body).match(/.{1,76}/g)!.join('\n')}\n${e}`);
    const bundle = join(dir, 'bundle.pem');
    writeFileSync(bundle, [rewrap(rootCertificates[0]!), own, rewrap(rootCertificates[1]!), own].join('\n'));
    const list = uniqueCertificates(loadCaCertificates([certPath], { SSL_CERT_FILE: bundle })!);
    assert.equal(list.length, rootCertificates.length + 1);
    assert.equal(new Set(list.map(flat)).size, list.length);
    assert.ok(list.some((c) => flat(c) === flat(own)));
    for (const root of rootCertificates) assert.ok(list.some((c) => flat(c) === flat(root)));
  } finally {
    cleanup();
  }
});

test('a missing file named by the user is REGISTRY_TLS; a missing SSL_CERT_FILE is ignored', () => {
  assert.throws(() => loadCaCertificates(['/nonexistent/ca.pem'], {}), (e: unknown) => (e as { code?: string }).code === 'REGISTRY_TLS');
  assert.equal(loadCaCertificates([], { SSL_CERT_FILE: '/nonexistent/bundle.pem' }), undefined);
});
