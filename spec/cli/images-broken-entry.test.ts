/**
 * A store entry whose manifest blob is gone (a disk problem, a hand edit):
 * `kiln images` still lists the store, that entry with SIZE N/A and a
 * warning naming it and the fix, and `kiln rmi` removes it. Before, both
 * failed with BLOB_NOT_FOUND and only `kiln fsck --repair` could clear it.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runKiln, tempDir } from '../helpers/kiln.ts';

const tmp = tempDir('kiln-images-broken-');
after(() => tmp.cleanup());

test('an entry whose manifest blob is missing is listed (N/A, a warning) and can be removed', () => {
  const home = join(tmp.dir, 'home');
  const ctx = join(tmp.dir, 'ctx');
  mkdirSync(ctx);
  writeFileSync(join(ctx, 'a.txt'), 'a\n');
  writeFileSync(join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY a.txt /a.txt\n');
  const env = { KILN_HOME: home };
  for (const tag of ['good:1', 'broken:1']) {
    writeFileSync(join(ctx, 'a.txt'), `${tag}\n`);
    assert.equal(runKiln(['build', '-q', '-t', tag, ctx], { env }).status, 0);
  }
  const index = JSON.parse(readFileSync(join(home, 'index.json'), 'utf8')) as { manifests: { digest: string; annotations: Record<string, string> }[] };
  const broken = index.manifests.find((m) => m.annotations['org.opencontainers.image.ref.name']?.endsWith('broken:1'))!;
  rmSync(join(home, 'blobs', 'sha256', broken.digest.slice(7)));

  const listed = runKiln(['images'], { env });
  assert.equal(listed.status, 0, listed.stderr);
  assert.match(listed.stdout, /^good\s+1\s+[0-9a-f]{12}\s.*\d(\.\d+)?k?B$/m);
  assert.match(listed.stdout, new RegExp(`^broken\\s+1\\s+${broken.digest.slice(7, 19)}\\s.*N/A$`, 'm'));
  assert.match(listed.stderr, new RegExp(`WARNING: broken:1 cannot be read \\(blob ${broken.digest} is not in the store\\): kiln fsck --repair removes it, or kiln rmi`));

  const removed = runKiln(['rmi', 'broken:1'], { env });
  assert.equal(removed.status, 0, removed.stderr);
  assert.match(removed.stdout, /Untagged: broken:1/);
  const after = runKiln(['images'], { env });
  assert.equal(after.stderr, '');
  assert.doesNotMatch(after.stdout, /broken/);
  assert.match(after.stdout, /^good\s+1/m);
});
