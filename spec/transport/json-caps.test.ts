/**
 * Issue 9, limits: every manifest, index and config kiln reads into memory
 * is capped at 4 MiB (lib/registry's MAX_MANIFEST_BYTES for registry
 * manifests, tested in spec/registry/manifests.test.ts; lib/image's
 * MAX_JSON_BLOB everywhere else). Each source is given a 5 MiB document,
 * written here by hand (digests by node:crypto, tars by GNU tar), and must
 * refuse it with a typed error before parsing it.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RegistryClient } from '../../lib/registry/index.ts';
import { copyImage, parseLocation } from '../../lib/transport/index.ts';
import { tempDir } from '../helpers/kiln.ts';
import { type RunningRegistry, startRegistry } from '../helpers/registry.ts';

const MiB = 1 << 20;
const tmp = tempDir('kiln-json-caps-');
let reg: RunningRegistry;
before(async () => {
  reg = await startRegistry({ mode: 'open' });
});
after(async () => {
  await reg?.stop();
  tmp.cleanup();
});

const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
/** A JSON document of about `size` bytes: `doc` with a padding annotation. */
const padded = (doc: Record<string, unknown>, size: number): Buffer => Buffer.from(JSON.stringify({ ...doc, annotations: { pad: 'x'.repeat(size) } }));
const arch = process.arch === 'x64' ? 'amd64' : process.arch;
const configOf = (size = 0): Buffer => (size > 0 ? padded({ architecture: arch, os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }, size) : Buffer.from(JSON.stringify({ architecture: arch, os: 'linux', rootfs: { type: 'layers', diff_ids: [] } })));
const manifestOf = (config: Buffer, pad = 0): Buffer => {
  const doc = { schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length }, layers: [] };
  return pad > 0 ? padded(doc, pad) : Buffer.from(JSON.stringify(doc));
};

let layouts = 0;
/** An OCI image layout of one image; `indexPad` pads index.json. */
function layout(manifest: Buffer, config: Buffer, indexPad = 0): string {
  const dir = join(tmp.dir, `layout-${layouts++}`);
  mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
  for (const b of [manifest, config]) writeFileSync(join(dir, 'blobs', 'sha256', sha(b).slice(7)), b);
  const index = { schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha(manifest), size: manifest.length, annotations: { 'org.opencontainers.image.ref.name': 'v1' } }] };
  writeFileSync(join(dir, 'index.json'), indexPad > 0 ? padded(index, indexPad) : JSON.stringify(index));
  writeFileSync(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  return dir;
}

async function copyFails(source: string, check: { code: string; message: RegExp }, client?: RegistryClient): Promise<void> {
  const home = join(tmp.dir, `home-${layouts++}`);
  await assert.rejects(copyImage(parseLocation(source), parseLocation('capped:latest'), { home, client, platform: { kind: 'all' } }), (e: unknown) => {
    assert.equal((e as { code?: string }).code, check.code, (e as Error).message);
    assert.match((e as Error).message, check.message);
    return true;
  });
}

describe('4 MiB caps on manifests, indexes and configs', () => {
  test('OCI layout: a 5 MiB manifest is BLOB_TOO_LARGE', async () => {
    const config = configOf();
    await copyFails(`oci:${layout(manifestOf(config, 5 * MiB), config)}:v1`, { code: 'BLOB_TOO_LARGE', message: /4194304/ });
  });

  test('OCI layout: a manifest naming a 5 MiB config is IMAGE_INVALID before the config is read', async () => {
    const config = configOf(5 * MiB);
    await copyFails(`oci:${layout(manifestOf(config), config)}:v1`, { code: 'IMAGE_INVALID', message: /is \d+ bytes, more than 4194304/ });
  });

  test('OCI layout: a 5 MiB index.json is refused', async () => {
    const config = configOf();
    await copyFails(`oci:${layout(manifestOf(config), config, 5 * MiB)}:v1`, { code: 'LAYOUT_INVALID', message: /larger than/ });
  });

  test('oci-archive: a 5 MiB index.json is ARCHIVE_INVALID', async () => {
    const config = configOf();
    const dir = layout(manifestOf(config), config, 5 * MiB);
    const file = join(tmp.dir, 'big-index.oci.tar');
    execFileSync('tar', ['-cf', file, '-C', dir, '.']);
    await copyFails(`oci-archive:${file}`, { code: 'ARCHIVE_INVALID', message: /index\.json is larger than 4194304 bytes/ });
  });

  test('docker-archive: a 5 MiB manifest.json or config is ARCHIVE_INVALID', async () => {
    const small = configOf();
    const big = configOf(5 * MiB);
    for (const [name, manifestJson, config] of [
      ['manifest', padded({}, 5 * MiB), small],
      ['config', Buffer.from(JSON.stringify([{ Config: 'config.json', RepoTags: ['capped:latest'], Layers: [] }])), big],
    ] as const) {
      const dir = join(tmp.dir, `docker-${name}`);
      mkdirSync(dir);
      writeFileSync(join(dir, 'manifest.json'), manifestJson);
      writeFileSync(join(dir, 'config.json'), config);
      const file = join(tmp.dir, `docker-${name}.tar`);
      execFileSync('tar', ['-cf', file, '-C', dir, 'manifest.json', 'config.json']);
      await copyFails(`docker-archive:${file}`, { code: 'ARCHIVE_INVALID', message: new RegExp(`${name === 'manifest' ? 'manifest' : 'config'}\\.json is larger than 4194304 bytes`) });
    }
  });

  test('registry: a manifest naming a 5 MiB config is IMAGE_INVALID, and the config is never downloaded', async () => {
    const config = configOf(5 * MiB);
    const manifest = manifestOf(config);
    const started = await fetch(`${reg.url}/v2/capped/blobs/uploads/`, { method: 'POST' });
    const location = new URL(started.headers.get('location')!, reg.url);
    location.searchParams.set('digest', sha(config));
    assert.equal((await fetch(location, { method: 'PUT', body: config })).status, 201);
    const put = await fetch(`${reg.url}/v2/capped/manifests/v1`, { method: 'PUT', body: manifest, headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' } });
    assert.equal(put.status, 201);
    const client = new RegistryClient({ env: {} });
    try {
      await copyFails(`docker://${reg.host}/capped:v1`, { code: 'IMAGE_INVALID', message: /more than 4194304/ }, client);
    } finally {
      await client.close();
    }
    assert.match(reg.logs(), /GET \/v2\/capped\/manifests\/v1/, 'the access log shows requests');
    assert.doesNotMatch(reg.logs(), new RegExp(`GET /v2/capped/blobs/${sha(config)}`));
  });
});
