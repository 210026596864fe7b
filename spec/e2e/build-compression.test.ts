/**
 * `--compression=gzip|zstd|uncompressed`, `--compression-level` and
 * `--reproducible` (issue 8). Layers are checked with the real tools: the
 * zstd and gzip programs decompress each blob and sha256sum must give the
 * config's diffID; skopeo reads the zstd layout.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runKiln, tempDir } from '../helpers/kiln.ts';

const tmp = tempDir('kiln-compress-');
let ctx: string;
before(() => {
  ctx = join(tmp.dir, 'ctx');
  mkdirSync(ctx);
  writeFileSync(join(ctx, 'a.txt'), 'compressible text\n'.repeat(5000));
  writeFileSync(join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY a.txt /a.txt\nCOPY Dockerfile /Dockerfile\n');
});
after(() => tmp.cleanup());

interface Layout {
  manifestDigest: string;
  layers: { mediaType: string; blob: Buffer }[];
  diffIds: string[];
  created: string;
}

function build(name: string, flags: string[], env: NodeJS.ProcessEnv = {}): Layout {
  const out = join(tmp.dir, name);
  const r = runKiln(['build', '-q', ...flags, '-o', `type=oci,dest=${out},tar=false`, ctx], { env: { KILN_HOME: join(tmp.dir, `${name}-home`), SOURCE_DATE_EPOCH: '', ...env } });
  assert.equal(r.status, 0, r.stderr);
  const blob = (d: string): Buffer => readFileSync(join(out, 'blobs', 'sha256', d.slice(7)));
  const manifestDigest = JSON.parse(readFileSync(join(out, 'index.json'), 'utf8')).manifests[0].digest as string;
  const manifest = JSON.parse(blob(manifestDigest).toString()) as { config: { digest: string }; layers: { mediaType: string; digest: string }[] };
  const config = JSON.parse(blob(manifest.config.digest).toString()) as { created: string; rootfs: { diff_ids: string[] } };
  return { manifestDigest, layers: manifest.layers.map((l) => ({ mediaType: l.mediaType, blob: blob(l.digest) })), diffIds: config.rootfs.diff_ids, created: config.created };
}

const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

test('zstd: zstd media types, and the zstd program decompresses every layer to its diffID', () => {
  const z = build('zstd', ['--compression=zstd', '--reproducible']);
  assert.equal(z.layers.length, 2);
  for (const [i, l] of z.layers.entries()) {
    assert.equal(l.mediaType, 'application/vnd.oci.image.layer.v1.tar+zstd');
    assert.equal(sha(execFileSync('zstd', ['-dc'], { input: l.blob })), z.diffIds[i]);
  }
  // skopeo, an independent reader, copies the layout
  execFileSync('skopeo', ['--insecure-policy', 'copy', '-q', `oci:${join(tmp.dir, 'zstd')}`, `dir:${join(tmp.dir, 'zstd-dir')}`]);
  const gz = build('gzip-ref', ['--reproducible']);
  assert.deepEqual(z.diffIds, gz.diffIds, 'the same tars, whatever the compression');
  assert.notEqual(z.manifestDigest, gz.manifestDigest);
});

test('uncompressed: the blob is the tar itself; gzip levels change the blobs but not the tars', () => {
  const u = build('plain', ['--compression=uncompressed', '--reproducible']);
  for (const [i, l] of u.layers.entries()) {
    assert.equal(l.mediaType, 'application/vnd.oci.image.layer.v1.tar');
    assert.equal(sha(l.blob), u.diffIds[i]);
  }
  const fast = build('gz1', ['--compression-level', '1', '--reproducible']);
  const best = build('gz9', ['--compression=gzip', '--compression-level=9', '--reproducible']);
  assert.deepEqual(fast.diffIds, u.diffIds);
  assert.deepEqual(best.diffIds, u.diffIds);
  assert.ok(!fast.layers[0]!.blob.equals(best.layers[0]!.blob));
  for (const [i, l] of best.layers.entries()) assert.equal(sha(execFileSync('gzip', ['-dc'], { input: l.blob })), u.diffIds[i]);
});

test('--reproducible: an epoch of 0 unless one is set; two builds give one digest', () => {
  const a = build('repro-a', ['--reproducible']);
  const b = build('repro-b', ['--reproducible']);
  assert.equal(a.created, '1970-01-01T00:00:00Z');
  assert.equal(a.manifestDigest, b.manifestDigest);
  const set = build('repro-set', ['--reproducible'], { SOURCE_DATE_EPOCH: '1700000000' });
  assert.equal(set.created, '2023-11-14T22:13:20Z');
});

test('bad compression flags are usage errors', () => {
  for (const flags of [['--compression=lz4'], ['--compression-level=10'], ['--compression=zstd', '--compression-level=0'], ['--compression=uncompressed', '--compression-level=3']]) {
    const r = runKiln(['build', '-q', ...flags, ctx], { env: { KILN_HOME: join(tmp.dir, 'bad-home') } });
    assert.notEqual(r.status, 0, flags.join(' '));
    assert.match(r.stderr, /compression/, flags.join(' '));
  }
});
