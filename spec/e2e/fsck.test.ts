/**
 * `kiln fsck [--repair]` (issue 9): a clean store passes; a corrupted layer
 * blob is found (hashed again, here and independently with sha256sum),
 * with the image and the cache entry that need it; --repair removes them
 * and the next build makes them again.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runKiln, tempDir } from '../helpers/kiln.ts';

const tmp = tempDir('kiln-fsck-');
after(() => tmp.cleanup());
const home = join(tmp.dir, 'home');
const env = { KILN_HOME: home, SOURCE_DATE_EPOCH: '0' };

test('clean, then a flipped byte in a layer: found, repaired, rebuilt', () => {
  const ctx = join(tmp.dir, 'ctx');
  mkdirSync(ctx);
  writeFileSync(join(ctx, 'a.txt'), 'a'.repeat(10000));
  writeFileSync(join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY a.txt /a.txt\n');
  assert.equal(runKiln(['build', '-q', '-t', 'f:1', ctx], { env }).status, 0);
  const clean = runKiln(['fsck'], { env });
  assert.equal(clean.status, 0, clean.stdout + clean.stderr);
  assert.match(clean.stdout, /^checked 3 blobs \([\d.]+k?B\), 1 images, 1 build cache entries: no problems\n$/);

  const index = JSON.parse(readFileSync(join(home, 'index.json'), 'utf8'));
  const manifest = JSON.parse(readFileSync(join(home, 'blobs', 'sha256', index.manifests[0].digest.slice(7)), 'utf8'));
  const layer = manifest.layers[0].digest as string;
  const path = join(home, 'blobs', 'sha256', layer.slice(7));
  const bytes = readFileSync(path);
  bytes[bytes.length - 5] = bytes[bytes.length - 5]! ^ 0xff;
  writeFileSync(path, bytes);
  assert.notEqual(`sha256:${execFileSync('sha256sum', [path], { encoding: 'utf8' }).split(' ')[0]}`, layer, 'sha256sum agrees the blob is corrupt');

  const found = runKiln(['fsck'], { env });
  assert.equal(found.status, 1);
  assert.match(found.stdout, new RegExp(`^blob ${layer} is corrupt: its \\d+ bytes hash to sha256:[0-9a-f]{64}$`, 'm'));
  assert.match(found.stdout, /: 1 problem \(kiln fsck --repair removes them\)\n$/);

  const repaired = runKiln(['fsck', '--repair'], { env });
  assert.equal(repaired.status, 0, repaired.stdout);
  assert.match(repaired.stdout, new RegExp(`^removed: blob ${layer} is corrupt`, 'm'));
  assert.match(repaired.stdout, new RegExp(`^removed: image docker.io/library/f:1: its layer 1 ${layer} is missing$`, 'm'));
  assert.match(repaired.stdout, new RegExp(`^removed: cache entry \\S+: its layer ${layer} is missing$`, 'm'));
  assert.match(runKiln(['fsck'], { env }).stdout, /no problems\n$/);

  const rebuilt = runKiln(['build', '--progress=plain', '-t', 'f:1', ctx], { env });
  assert.equal(rebuilt.status, 0, rebuilt.stderr);
  assert.doesNotMatch(rebuilt.stderr, /CACHED/, 'the broken entry is gone, so the step runs');
  assert.match(runKiln(['fsck'], { env }).stdout, /1 images, 1 build cache entries: no problems\n$/);
});
