/**
 * Round trips with skopeo as the independent peer, in every registry mode
 * of the kit (open, Basic, TLS, TLS+Basic, token, TLS+token): an image
 * skopeo pushed is pulled by kiln with the same manifest digest and the
 * same blob bytes; an image kiln pushed is copied out by skopeo and
 * validated by re-hashing everything.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assertValidLayout } from '../helpers/assert-valid-image.ts';
import { REGISTRY_MODES, type RunningRegistry, startRegistry } from '../helpers/registry.ts';
import { pushRandomImage } from '../helpers/registry-images.ts';
import { dockerRef, skopeoCopy } from '../helpers/skopeo.ts';
import { clientFor, layoutBlob, makeImage, pushImage, readAll, ref, sha256hex } from './client-kit.ts';

let work: string;
before(async () => {
  work = await mkdtemp(join(tmpdir(), 'kiln-roundtrip-'));
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

for (const mode of REGISTRY_MODES) {
  describe(`registry mode ${mode}`, () => {
    let reg: RunningRegistry;
    before(async () => {
      reg = await startRegistry({ mode });
    });
    after(async () => {
      await reg?.stop();
    });

    test('pulls what skopeo pushed: same manifest digest, identical blob bytes', async () => {
      const pushed = await pushRandomImage(reg, 'peer/pushed:v1', { seed: 21, layers: 2 });
      const out = join(work, `${mode}-pulled`);
      await skopeoCopy(dockerRef(reg, 'peer/pushed:v1'), `oci:${out}:v1`, { registry: reg, extraArgs: ['--preserve-digests'] });
      const client = clientFor(reg);
      try {
        const m = await client.getManifest(ref(reg.host, 'peer/pushed:v1'));
        assert.equal(m.digest, pushed.pushedDigest);
        assert.equal(sha256hex(m.bytes), pushed.pushedDigest);
        const manifest = JSON.parse(m.bytes.toString('utf8')) as { config: { digest: string; size: number }; layers: { digest: string; size: number }[] };
        for (const d of [manifest.config, ...manifest.layers]) {
          const bytes = await readAll(await client.openBlob(ref(reg.host, 'peer/pushed'), { mediaType: 'application/octet-stream', digest: d.digest as never, size: d.size }));
          assert.equal(sha256hex(bytes), d.digest);
          assert.ok(bytes.equals(await layoutBlob(out, d.digest)), `blob ${d.digest} differs from skopeo's copy`);
        }
      } finally {
        await client.close();
      }
    });

    test('pushes an image skopeo then copies out and validates', async () => {
      const { image, cleanup } = await makeImage({ seed: 22, layers: 3 });
      const client = clientFor(reg);
      try {
        const results = await pushImage(client, ref(reg.host, 'kiln/pushed:v1'), image);
        assert.deepEqual(results, ['uploaded', 'uploaded', 'uploaded', 'uploaded']);
        // A second push finds every blob in place.
        assert.deepEqual(await pushImage(client, ref(reg.host, 'kiln/pushed:v1'), image), ['exists', 'exists', 'exists', 'exists']);
        const head = await client.headManifest(ref(reg.host, 'kiln/pushed:v1'));
        assert.equal(head?.digest, image.descriptor.digest);
        assert.deepEqual(await client.listTags(ref(reg.host, 'kiln/pushed')), ['v1']);
      } finally {
        await client.close();
        await cleanup();
      }
      const out = join(work, `${mode}-copied`);
      const copy = await skopeoCopy(dockerRef(reg, 'kiln/pushed:v1'), `oci:${out}:v1`, { registry: reg, extraArgs: ['--preserve-digests'] });
      assert.equal(copy.code, 0);
      const [validated] = await assertValidLayout(out);
      assert.equal(validated?.manifestDigest, image.descriptor.digest);
      assert.equal(validated?.manifest.layers.length, 3);
    });
  });
}
