/**
 * The base images are reproducible: a second build from the same .debs,
 * from scratch into another folder, gives byte-identical images (same
 * manifest and config digests, each layout re-hashed by the validator).
 * Slow: it rebuilds the Go image (~300 MB through kiln's ADD and gzip).
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assertValidLayout } from '../helpers/assert-valid-image.ts';
import { ensureBaseImages, readBaseImages, runMakeBaseImages } from '../helpers/base-images.ts';

const work = mkdtempSync(join(tmpdir(), 'kiln-base-images-repro-'));
after(() => rmSync(work, { recursive: true, force: true }));

test('a forced rebuild into another folder gives the same digests', async (t) => {
  const cached = await ensureBaseImages();
  const out = join(work, 'out');
  const rebuild = await runMakeBaseImages(['--out', out, '--force']);
  t.diagnostic(`full build: ${rebuild.ms} ms`);
  assert.match(rebuild.stderr, /built golang /);
  const again = readBaseImages(out);
  for (const name of ['busybox', 'golang'] as const) {
    const [image] = await assertValidLayout(again[name].layout);
    assert.equal(image?.manifestDigest, cached[name].manifestDigest, name);
    assert.equal(image?.manifest.config.digest, cached[name].configDigest, name);
    assert.deepEqual(again[name], { ...cached[name], layout: again[name].layout, ociRef: again[name].ociRef }, name);
  }
});
