/** `kiln build` flags beyond the basics: --iidfile, --metadata-file, --oci-mediatypes=false, -f relative to the working directory. */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runKiln, tempDir } from '../helpers/kiln.ts';

const tmp = tempDir();
after(() => tmp.cleanup());
const ctx = join(tmp.dir, 'ctx');
mkdirSync(ctx);
writeFileSync(join(ctx, 'a.txt'), 'a');
writeFileSync(join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY a.txt /\n');

const blob = (home: string, digest: string) => readFileSync(join(home, 'blobs', 'sha256', digest.slice(7)));
const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

test('--iidfile gets the image ID and --metadata-file buildx\'s digests, both checked against the stored blobs', () => {
  const home = join(tmp.dir, 'home1');
  const iid = join(tmp.dir, 'iid');
  const meta = join(tmp.dir, 'meta.json');
  const r = runKiln(['build', '-q', '-t', 'flags:1', '--iidfile', iid, '--metadata-file', meta, ctx], { env: { KILN_HOME: home } });
  assert.equal(r.status, 0, r.stderr);
  const m = JSON.parse(readFileSync(meta, 'utf8'));
  const manifest = blob(home, m['containerimage.digest']);
  assert.equal(sha(manifest), m['containerimage.digest']);
  assert.equal(JSON.parse(manifest.toString()).config.digest, m['containerimage.config.digest']);
  assert.equal(readFileSync(iid, 'utf8'), m['containerimage.config.digest']);
  assert.equal(r.stdout.trim(), m['containerimage.config.digest']);
  assert.equal(m['image.name'], 'docker.io/library/flags:1');
  assert.equal(m['containerimage.descriptor'].size, manifest.length);
});

test('--oci-mediatypes=false writes Docker schema2 media types', () => {
  const home = join(tmp.dir, 'home2');
  const meta = join(tmp.dir, 'meta2.json');
  const r = runKiln(['build', '-q', '--oci-mediatypes=false', '--metadata-file', meta, ctx], { env: { KILN_HOME: home } });
  assert.equal(r.status, 0, r.stderr);
  const digest = JSON.parse(readFileSync(meta, 'utf8'))['containerimage.digest'];
  const manifest = JSON.parse(blob(home, digest).toString());
  assert.equal(manifest.mediaType, 'application/vnd.docker.distribution.manifest.v2+json');
  assert.equal(manifest.config.mediaType, 'application/vnd.docker.container.image.v1+json');
  assert.deepEqual(manifest.layers.map((l: { mediaType: string }) => l.mediaType), ['application/vnd.docker.image.rootfs.diff.tar.gzip']);
});

test('-f is relative to the working directory, as with docker build', () => {
  const other = join(tmp.dir, 'elsewhere');
  mkdirSync(other);
  writeFileSync(join(other, 'Custom.dockerfile'), 'FROM scratch\nLABEL from=custom\nCOPY a.txt /b.txt\n');
  const home = join(tmp.dir, 'home3');
  const r = runKiln(['build', '-q', '-t', 'custom:1', '-f', 'Custom.dockerfile', ctx], { env: { KILN_HOME: home }, cwd: other });
  assert.equal(r.status, 0, r.stderr);
  const inspect = runKiln(['inspect', 'custom:1'], { env: { KILN_HOME: home } });
  assert.equal(JSON.parse(inspect.stdout).config.Labels.from, 'custom');
});
