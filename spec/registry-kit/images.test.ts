/**
 * The kit's image helpers: a two-platform index and a Docker-format image
 * pushed with skopeo, read back by skopeo and checked byte for byte.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type RunningRegistry, startRegistry } from '../helpers/registry.ts';
import { layoutTagDigest, pushIndex, pushRandomImage } from '../helpers/registry-images.ts';
import { dockerRef, skopeoCopy, skopeoInspect } from '../helpers/skopeo.ts';

const sha256 = (text: string): string => `sha256:${createHash('sha256').update(text).digest('hex')}`;

describe('registry kit images', () => {
  let reg: RunningRegistry;
  let work: string;
  before(async () => {
    reg = await startRegistry({ mode: 'basic' });
    work = await mkdtemp(join(tmpdir(), 'kiln-kit-images-'));
  });
  after(async () => {
    await reg?.stop();
    if (work !== undefined) await rm(work, { recursive: true, force: true });
  });

  it('pushes a linux/amd64 + linux/arm64 index with skopeo copy --all', async () => {
    const pushed = await pushIndex(reg, 'alice/multi:v1', { seed: 3 });
    assert.equal(pushed.pushedDigest, pushed.indexDigest);
    const raw = await skopeoInspect(reg, 'alice/multi:v1', { raw: true });
    assert.equal(sha256(raw), pushed.indexDigest);
    const index = JSON.parse(raw) as { mediaType: string; manifests: { digest: string; platform: { os: string; architecture: string } }[] };
    assert.equal(index.mediaType, 'application/vnd.oci.image.index.v1+json');
    assert.deepEqual(index.manifests.map((m) => `${m.platform.os}/${m.platform.architecture}`), ['linux/amd64', 'linux/arm64']);
    assert.deepEqual(index.manifests.map((m) => m.digest), pushed.images.map((i) => i.manifestDigest));

    for (const arch of ['amd64', 'arm64']) {
      const config = JSON.parse(await skopeoInspect(reg, 'alice/multi:v1', { config: true, arch, os: 'linux' })) as { architecture: string };
      assert.equal(config.architecture, arch);
    }
    const armRaw = await skopeoInspect(reg, `alice/multi@${pushed.images[1]!.manifestDigest}`, { raw: true });
    assert.equal(sha256(armRaw), pushed.images[1]!.manifestDigest);

    const out = join(work, 'index-back');
    await skopeoCopy(dockerRef(reg, 'alice/multi:v1'), `oci:${out}:back`, { registry: reg, all: true });
    assert.equal(await layoutTagDigest(out, 'back'), pushed.indexDigest);
  });

  it('pushes Docker-format images and manifest lists unchanged', async () => {
    const image = await pushRandomImage(reg, 'alice/docker:v1', { seed: 4, format: 'docker' });
    assert.equal(image.pushedDigest, image.manifestDigest);
    const manifest = JSON.parse(await skopeoInspect(reg, 'alice/docker:v1', { raw: true })) as { mediaType: string };
    assert.equal(manifest.mediaType, 'application/vnd.docker.distribution.manifest.v2+json');

    const list = await pushIndex(reg, 'alice/docker-list:v1', { seed: 5, format: 'docker' });
    assert.equal(list.pushedDigest, list.indexDigest);
    const raw = await skopeoInspect(reg, 'alice/docker-list:v1', { raw: true });
    assert.equal((JSON.parse(raw) as { mediaType: string }).mediaType, 'application/vnd.docker.distribution.manifest.list.v2+json');
    assert.equal(sha256(raw), list.indexDigest);
  });
});
