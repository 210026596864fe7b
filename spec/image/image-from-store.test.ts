import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ContentStore } from '../../lib/content/index.ts';
import { parseDigest } from '../../lib/digest/index.ts';
import { imageFromStore, withFormat } from '../../lib/image/index.ts';
import { MediaType } from '../../lib/oci/index.ts';
import { randomImage } from '../helpers/random-image.ts';

let root: string;
let store: ContentStore;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'kiln-ifs-'));
  store = new ContentStore(root);
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

function desc(mediaType: string, bytes: Buffer) {
  return { mediaType, digest: parseDigest(`sha256:${createHash('sha256').update(bytes).digest('hex')}`), size: bytes.length };
}

async function drain(s: NodeJS.ReadableStream): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of s) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

describe('imageFromStore', () => {
  it('reads back an image stored by value, OCI and docker', async () => {
    const { image } = await randomImage(store, { seed: 21, layers: 2 });
    for (const img of [image, withFormat(image, 'docker')]) {
      await store.putBytes(img.configBytes);
      await store.putBytes(img.manifestBytes);
      const back = await imageFromStore(store, img.descriptor);
      assert.equal(back.format, img.format);
      assert.equal(back.descriptor.digest, img.descriptor.digest);
      assert.deepEqual(back.config, img.config);
      assert.deepEqual(back.manifest, img.manifest);
      assert.deepEqual(back.layers.map((l) => l.diffId), img.config.rootfs.diff_ids);
      const tar = await drain(await back.layers[1]!.openUncompressed());
      assert.equal(`sha256:${createHash('sha256').update(tar).digest('hex')}`, img.config.rootfs.diff_ids[1]);
    }
  });

  it('keeps non-canonical bytes exactly as stored', async () => {
    const { image } = await randomImage(store, { seed: 22, layers: 1 });
    const configBytes = Buffer.from(JSON.stringify(image.config, null, 2));
    const config = desc(MediaType.OciConfig, configBytes);
    const manifestBytes = Buffer.from(JSON.stringify({ ...image.manifest, config }, null, 3) + '\n');
    const manifest = desc(MediaType.OciManifest, manifestBytes);
    await store.putBytes(configBytes);
    await store.putBytes(manifestBytes);
    const back = await imageFromStore(store, manifest);
    assert.equal(back.descriptor.digest, manifest.digest);
    assert.deepEqual(back.manifestBytes, manifestBytes);
    assert.deepEqual(back.configBytes, configBytes);
    assert.equal(back.configDescriptor.digest, config.digest);
  });

  it('refuses inconsistent or foreign documents', async () => {
    const { image } = await randomImage(store, { seed: 23, layers: 2 });
    const short = { ...image.config, rootfs: { type: 'layers', diff_ids: image.config.rootfs.diff_ids.slice(1) } };
    const configBytes = Buffer.from(JSON.stringify(short));
    const manifestBytes = Buffer.from(JSON.stringify({ ...image.manifest, config: desc(MediaType.OciConfig, configBytes) }));
    await store.putBytes(configBytes);
    await store.putBytes(manifestBytes);
    await assert.rejects(imageFromStore(store, desc(MediaType.OciManifest, manifestBytes)), { name: 'ImageError', code: 'IMAGE_INVALID' });

    const indexBytes = Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [] }));
    await store.putBytes(indexBytes);
    await assert.rejects(imageFromStore(store, desc(MediaType.OciIndex, indexBytes)), { code: 'IMAGE_INVALID' });

    const bad = Buffer.from(JSON.stringify({ schemaVersion: 2, config: {}, layers: [] }));
    await store.putBytes(bad);
    await assert.rejects(imageFromStore(store, desc(MediaType.OciManifest, bad)), { code: 'MANIFEST_INVALID' });

    const orphan = Buffer.from(JSON.stringify({ ...image.manifest, config: desc(MediaType.OciConfig, Buffer.from('{"not":"stored"}')) }));
    await store.putBytes(orphan);
    await assert.rejects(imageFromStore(store, desc(MediaType.OciManifest, orphan)), { code: 'BLOB_NOT_FOUND' });

    await store.putBytes(image.configBytes);
    await store.putBytes(image.manifestBytes);
    await assert.rejects(imageFromStore(store, { ...image.descriptor, size: image.descriptor.size + 1 }), { code: 'IMAGE_INVALID' });
    await assert.rejects(imageFromStore(store, { ...image.descriptor, mediaType: MediaType.DockerManifest }), { code: 'IMAGE_INVALID' });
  });

  it('refuses a config nested 10,000 levels deep with JSON_INVALID, not a stack overflow (found by spec/fuzz/fuzz-manifest.ts)', async () => {
    const { image } = await randomImage(store, { seed: 24, layers: 1 });
    const configBytes = Buffer.from(JSON.stringify(image.config).replace(/^\{/, `{"x-extra":${'['.repeat(10_000)}${']'.repeat(10_000)},`));
    assert.ok(JSON.parse(configBytes.toString('utf8')), 'the config is valid JSON');
    const manifestBytes = Buffer.from(JSON.stringify({ ...image.manifest, config: desc(MediaType.OciConfig, configBytes) }));
    await store.putBytes(configBytes);
    await store.putBytes(manifestBytes);
    await assert.rejects(imageFromStore(store, desc(MediaType.OciManifest, manifestBytes)), { name: 'OciError', code: 'JSON_INVALID' });
  });

  it('refuses a config with a number beyond a double, which withConfig could not rewrite (found by spec/fuzz/fuzz-manifest.ts)', async () => {
    const { image } = await randomImage(store, { seed: 25, layers: 1 });
    const configBytes = Buffer.from(JSON.stringify(image.config).replace(/^\{/, '{"x-extra":{"n":1e400},'));
    const manifestBytes = Buffer.from(JSON.stringify({ ...image.manifest, config: desc(MediaType.OciConfig, configBytes) }));
    await store.putBytes(configBytes);
    await store.putBytes(manifestBytes);
    await assert.rejects(imageFromStore(store, desc(MediaType.OciManifest, manifestBytes)), { name: 'OciError', code: 'JSON_INVALID' });
  });
});
