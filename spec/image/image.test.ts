import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ContentStore } from '../../lib/content/index.ts';
import { parseDigest } from '../../lib/digest/index.ts';
import {
  type Image,
  appendHistory,
  appendLayer,
  layerFrom,
  scratchImage,
  withConfig,
  withFormat,
  withManifestAnnotations,
} from '../../lib/image/index.ts';
import { MediaType } from '../../lib/oci/index.ts';
import { randomImage, randomLayer } from '../helpers/random-image.ts';

let root: string;
let store: ContentStore;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'kiln-image-'));
  store = new ContentStore(root);
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

const platform = { architecture: 'arm64', os: 'linux', variant: 'v8' };

function sha(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** Canonical JSON by Python's json module: sorted keys, no whitespace. */
function pythonCanonical(bytes: Buffer): string {
  return execFileSync('python3', ['-c', 'import json,sys; sys.stdout.write(json.dumps(json.load(sys.stdin), sort_keys=True, separators=(",", ":"), ensure_ascii=False))'], {
    input: bytes,
    encoding: 'utf8',
  });
}

/** Checks the invariants every Image holds, independently of lib/image. */
function assertConsistent(img: Image): void {
  assert.equal(img.descriptor.digest, sha(img.manifestBytes));
  assert.equal(img.descriptor.size, img.manifestBytes.length);
  assert.equal(img.configDescriptor.digest, sha(img.configBytes));
  assert.equal(img.configDescriptor.size, img.configBytes.length);
  assert.deepEqual(JSON.parse(img.manifestBytes.toString('utf8')), img.manifest);
  assert.deepEqual(JSON.parse(img.configBytes.toString('utf8')), img.config);
  assert.deepEqual(img.manifest.config, img.configDescriptor);
  assert.deepEqual(img.manifest.layers, img.layers.map((l) => l.descriptor));
  assert.deepEqual(img.config.rootfs.diff_ids, img.layers.map((l) => l.diffId));
  assert.equal(pythonCanonical(img.manifestBytes), img.manifestBytes.toString('utf8'));
  assert.equal(pythonCanonical(img.configBytes), img.configBytes.toString('utf8'));
}

describe('scratchImage', () => {
  it('is an empty, canonical, frozen OCI image for the platform', () => {
    const img = scratchImage({ platform });
    assertConsistent(img);
    assert.equal(img.format, 'oci');
    assert.equal(img.manifest.mediaType, MediaType.OciManifest);
    assert.equal(img.configDescriptor.mediaType, MediaType.OciConfig);
    assert.deepEqual(JSON.parse(img.configBytes.toString('utf8')), {
      architecture: 'arm64', os: 'linux', variant: 'v8', config: {}, rootfs: { type: 'layers', diff_ids: [] },
    });
    assert.equal(img.layers.length, 0);
    assert.ok(Object.isFrozen(img) && Object.isFrozen(img.config) && Object.isFrozen(img.config.rootfs.diff_ids));
    assert.ok(Object.isFrozen(img.manifest.config) && Object.isFrozen(img.layers));
    assert.throws(() => {
      (img.config as { os: string }).os = 'windows';
    }, TypeError);
  });

  it('gives the same digest for the same value', () => {
    assert.equal(scratchImage({ platform }).descriptor.digest, scratchImage({ platform: { ...platform } }).descriptor.digest);
    assert.notEqual(scratchImage({ platform }).descriptor.digest, scratchImage({ platform: { architecture: 'amd64', os: 'linux' } }).descriptor.digest);
  });
});

describe('appendLayer / appendHistory / withConfig', () => {
  it('appends the diffID, the descriptor and a non-empty history entry, leaving the input alone', async () => {
    const base = scratchImage({ platform });
    const { layer } = await randomLayer(store, { seed: 7 });
    const img = appendLayer(base, layer, { created_by: 'COPY . /', empty_layer: true });
    assertConsistent(img);
    assert.deepEqual(img.config.rootfs.diff_ids, [layer.diffId]);
    assert.deepEqual(img.manifest.layers, [layer.descriptor]);
    assert.deepEqual(img.config.history, [{ created_by: 'COPY . /' }]);
    assert.equal(base.layers.length, 0);
    assert.deepEqual(base.config.rootfs.diff_ids, []);
    const meta = appendHistory(img, { created_by: 'ENV A=1' });
    assertConsistent(meta);
    assert.deepEqual(meta.config.history?.[1], { created_by: 'ENV A=1', empty_layer: true });
    assert.equal(meta.layers.length, 1);
  });

  it('withConfig replaces the config and refuses to touch rootfs', async () => {
    const { image } = await randomImage(store, { seed: 3 });
    const next = withConfig(image, (c) => ({ ...c, config: { ...c.config, Env: ['A=1'], Cmd: ['sh'] } }));
    assertConsistent(next);
    assert.deepEqual(next.config.config?.Env, ['A=1']);
    assert.notEqual(next.configDescriptor.digest, image.configDescriptor.digest);
    assert.equal(image.config.config?.Env, undefined);
    assert.throws(() => withConfig(image, (c) => ({ ...c, rootfs: { type: 'layers', diff_ids: [] } })), { code: 'IMAGE_INVALID' });
  });

  it('builds the same digests from the same inputs', async () => {
    const a = await randomImage(store, { seed: 11, layers: 3 });
    const b = await randomImage(new ContentStore(await mkdtemp(join(root, 'other-'))), { seed: 11, layers: 3 });
    assert.equal(a.image.descriptor.digest, b.image.descriptor.digest);
    assertConsistent(a.image);
  });

  it('carries manifest annotations through later changes (OCI only)', async () => {
    const img = withManifestAnnotations(scratchImage({ platform }), { 'org.opencontainers.image.base.name': 'scratch' });
    const { layer } = await randomLayer(store, { seed: 8 });
    const next = appendLayer(img, layer, { created_by: 'x' });
    assert.deepEqual(next.manifest.annotations, { 'org.opencontainers.image.base.name': 'scratch' });
    assert.equal(withFormat(next, 'docker').manifest.annotations, undefined);
  });
});

describe('withFormat', () => {
  it('switches manifest, config and layer media types and back', async () => {
    const { image } = await randomImage(store, { seed: 5, layers: 2 });
    const docker = withFormat(image, 'docker');
    assertConsistent(docker);
    assert.equal(docker.format, 'docker');
    assert.equal(docker.manifest.mediaType, 'application/vnd.docker.distribution.manifest.v2+json');
    assert.equal(docker.descriptor.mediaType, 'application/vnd.docker.distribution.manifest.v2+json');
    assert.equal(docker.configDescriptor.mediaType, 'application/vnd.docker.container.image.v1+json');
    for (const l of docker.manifest.layers) assert.equal(l.mediaType, 'application/vnd.docker.image.rootfs.diff.tar.gzip');
    // Same bytes: config unchanged, layer digests unchanged.
    assert.equal(docker.configDescriptor.digest, image.configDescriptor.digest);
    assert.deepEqual(docker.manifest.layers.map((l) => l.digest), image.manifest.layers.map((l) => l.digest));
    assert.equal(withFormat(docker, 'oci').descriptor.digest, image.descriptor.digest);
    assert.equal(withFormat(image, 'oci'), image);
  });

  it('refuses to make a docker image of an uncompressed layer', async () => {
    const { layer } = await randomLayer(store, { seed: 9, compression: 'none' });
    const img = appendLayer(scratchImage({ platform }), layer, { created_by: 'x' });
    assert.equal(img.manifest.layers[0]?.mediaType, MediaType.OciLayer);
    assert.throws(() => withFormat(img, 'docker'), { name: 'ImageError', code: 'FORMAT_INCOMPATIBLE' });
    assert.throws(() => appendLayer(scratchImage({ platform, format: 'docker' }), layer, { created_by: 'x' }), { code: 'FORMAT_INCOMPATIBLE' });
  });

  it('retypes an OCI layer appended to a docker image', async () => {
    const { layer } = await randomLayer(store, { seed: 10 });
    const img = appendLayer(scratchImage({ platform, format: 'docker' }), layer, { created_by: 'x' });
    assertConsistent(img);
    assert.equal(img.layers[0]?.descriptor.mediaType, MediaType.DockerLayerGzip);
    assert.equal(img.layers[0]?.descriptor.digest, layer.descriptor.digest);
  });
});

describe('Layer streams', () => {
  async function drain(s: NodeJS.ReadableStream): Promise<Buffer> {
    const parts: Buffer[] = [];
    for await (const c of s) parts.push(c as Buffer);
    return Buffer.concat(parts);
  }

  it('openUncompressed gives the tar whose sha256 (by gzip -dc | sha256sum) is the diffID', async () => {
    const { layer } = await randomLayer(store, { seed: 12 });
    const tar = await drain(await layer.openUncompressed());
    assert.equal(sha(tar), layer.diffId);
    assert.equal(tar.length, layer.uncompressedSize);
    const viaShell = execFileSync('sh', ['-c', `gzip -dc < '${store.path(layer.descriptor.digest)}' | sha256sum`], { encoding: 'utf8' }).split(' ')[0];
    assert.equal(`sha256:${viaShell}`, layer.diffId);
    assert.equal(sha(await drain(await layer.open())), layer.descriptor.digest);
  });

  it('fails the uncompressed stream when the diffID is wrong', async () => {
    const { layer } = await randomLayer(store, { seed: 13 });
    const wrong = layerFrom({ descriptor: layer.descriptor, diffId: parseDigest(`sha256:${'1'.repeat(64)}`), open: () => layer.open() });
    await assert.rejects(drain(await wrong.openUncompressed()), { code: 'DIGEST_MISMATCH' });
  });
});

describe('values hold what was hashed', () => {
  it('drops undefined members a config update leaves behind', () => {
    const img = withConfig(scratchImage({ platform }), (c) => ({ ...c, author: undefined, config: { User: undefined, Env: ['A=1'] } }));
    assertConsistent(img);
    assert.equal(Object.hasOwn(img.config, 'author'), false);
    assert.deepEqual(img.config.config, { Env: ['A=1'] });
  });
});
