/**
 * copyImage between files (no registry): archives written by skopeo and by
 * GNU tar are read, digests are checked against sha256sum and skopeo, and
 * failures leave nothing behind.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KilnError } from '../../lib/errors.ts';
import { type CopyImageOptions, LocalStore, copyImage, parseLocation } from '../../lib/transport/index.ts';
import { assertValidLayout } from '../helpers/assert-valid-image.ts';
import { type LayoutImageInfo, type LayoutIndexInfo, writeRandomImage, writeRandomIndex } from '../helpers/registry-images.ts';
import { skopeoCopy } from '../helpers/skopeo.ts';
import { run, tempRoot } from './transport-kit.ts';

let root: { dir: string; cleanup: () => Promise<void> };
let single: LayoutImageInfo;
let multi: LayoutIndexInfo;
let n = 0;

before(async () => {
  root = await tempRoot('kiln-copy-image-');
  single = await writeRandomImage(join(root.dir, 'single'), { seed: 61, layers: 2, tag: 'one' });
  multi = await writeRandomIndex(join(root.dir, 'multi'), { seed: 62, tag: 'two' });
});
after(() => root.cleanup());

const fresh = (name: string): string => join(root.dir, `${name}-${n++}`);
const sha256sum = (path: string): string => `sha256:${run('sha256sum', [path]).split(' ')[0]}`;
function opts(extra: Partial<CopyImageOptions> = {}): CopyImageOptions {
  return { home: fresh('home'), platform: { kind: 'platform', platform: { os: 'linux', architecture: 'amd64' } }, tmpDir: root.dir, ...extra };
}
async function copy(from: string, to: string, o: CopyImageOptions = opts()) {
  return copyImage(parseLocation(from), parseLocation(to), o);
}
async function failure(p: Promise<unknown>): Promise<KilnError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof KilnError, String(err));
    return err;
  }
  assert.fail('expected a failure');
}
/** No temp folders of copyImage left in the test's temp root. */
function noTempStores(): void {
  assert.deepEqual(readdirSync(root.dir).filter((f) => f.startsWith('kiln-copy-')), []);
}

describe('copyImage between files', () => {
  test('a docker-archive skopeo wrote: config bytes kept, layers as uncompressed OCI tars named by their diffIDs', async () => {
    const file = `${fresh('skopeo')}.tar`;
    await skopeoCopy(single.sourceRef, `docker-archive:${file}:example/app:1`);
    const unpacked = fresh('unpacked');
    mkdirSync(unpacked);
    run('tar', ['-xf', file, '-C', unpacked]);
    const [entry] = JSON.parse(readFileSync(join(unpacked, 'manifest.json'), 'utf8')) as { Config: string; Layers: string[] }[];
    const layout = fresh('from-docker-archive');
    const result = await copy(`docker-archive:${file}`, `oci:${layout}:x`);
    const [image] = await assertValidLayout(layout);
    assert.equal(image?.manifest.config.digest, sha256sum(join(unpacked, entry!.Config)), 'the image ID stays');
    assert.deepEqual(image?.manifest.layers.map((l) => [l.mediaType, l.digest]), entry!.Layers.map((l) => ['application/vnd.oci.image.layer.v1.tar', sha256sum(join(unpacked, l))]));
    assert.equal(result.descriptor.digest, image?.manifestDigest);
    assert.equal(result.sourceName?.repository, 'example/app');
    noTempStores();
  });

  test('docker save\'s older layout: <id>/layer.tar symlinks, gzip layers, several images', async () => {
    // Built with GNU tar and gzip from skopeo's archive of the two-platform images.
    const dir = fresh('legacy');
    mkdirSync(dir);
    const entries: { Config: string; RepoTags: string[]; Layers: string[] }[] = [];
    for (const [i, { image }] of multi.images.entries()) {
      const file = `${fresh('one')}.tar`;
      const oneLayout = fresh('one-layout');
      await copy(`oci:${multi.dir}:two`, `oci:${oneLayout}:x`, opts({ platform: { kind: 'platform', platform: { os: 'linux', architecture: image.config.architecture } } }));
      await skopeoCopy(`oci:${oneLayout}:x`, `docker-archive:${file}`);
      run('tar', ['-xf', file, '-C', dir]);
      const [e] = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { Config: string; Layers: string[] }[];
      const tarName = e!.Layers[0]!;
      if (i === 1) {
        run('gzip', ['-n', '-k', join(dir, tarName)]);
        entries.push({ Config: e!.Config, RepoTags: [`example/legacy:${i}`], Layers: [`${tarName}.gz`] });
      } else {
        mkdirSync(join(dir, `layer-${i}`));
        run('ln', ['-s', `../${tarName}`, join(dir, `layer-${i}`, 'layer.tar')]);
        entries.push({ Config: e!.Config, RepoTags: [`example/legacy:${i}`], Layers: [`layer-${i}/layer.tar`] });
      }
    }
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify(entries));
    const archive = `${fresh('legacy')}.tar`;
    run('tar', ['-cf', archive, '-C', dir, '.']);
    const err = await failure(copy(`docker-archive:${archive}`, `oci:${fresh('x')}`));
    assert.equal(err.code, 'IMAGE_NOT_FOUND');
    assert.match(err.message, /holds 2 images/);
    const first = fresh('legacy-0');
    await copy(`docker-archive:${archive}:example/legacy:0`, `oci:${first}`);
    assert.equal((await assertValidLayout(first))[0]?.manifest.config.digest, sha256sum(join(dir, entries[0]!.Config)));
    const second = fresh('legacy-1');
    await copy(`docker-archive:${archive}:@1`, `oci:${second}`);
    const [gz] = await assertValidLayout(second);
    assert.deepEqual(gz?.manifest.layers.map((l) => [l.mediaType, l.digest]), [['application/vnd.oci.image.layer.v1.tar+gzip', sha256sum(join(dir, entries[1]!.Layers[0]!))]]);
    const config = JSON.parse(readFileSync(join(dir, entries[1]!.Config), 'utf8')) as { rootfs: { diff_ids: string[] } };
    assert.deepEqual(gz?.diffIds, config.rootfs.diff_ids, 'the gzip layer decompresses to its diffID');
    assert.deepEqual(config.rootfs.diff_ids, [sha256sum(join(dir, entries[1]!.Layers[0]!.replace(/\.gz$/, '')))]);
  });

  test('an oci-archive skopeo wrote goes into the local store with its digest', async () => {
    const file = `${fresh('skopeo-oci')}.tar`;
    await skopeoCopy(single.sourceRef, `oci-archive:${file}:one`, { extraArgs: ['--preserve-digests'] });
    const o = opts();
    const result = await copy(`oci-archive:${file}:one`, 'example/from-archive:1', o);
    const unpacked = fresh('unpacked-oci');
    mkdirSync(unpacked);
    run('tar', ['-xf', file, '-C', unpacked]);
    const index = JSON.parse(readFileSync(join(unpacked, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
    assert.equal(result.descriptor.digest, index.manifests[0]!.digest);
    const stored = await new LocalStore(o.home).resolve('example/from-archive:1');
    assert.equal(stored?.descriptor.digest, index.manifests[0]!.digest);
    noTempStores();
  });

  test('a whole index through oci-archive and back keeps its digest', async () => {
    const archive = `${fresh('multi')}.tar`;
    const all = opts({ platform: { kind: 'all' } });
    assert.equal((await copy(`oci:${multi.dir}:two`, `oci-archive:${archive}:two`, all)).descriptor.digest, multi.indexDigest);
    const layout = fresh('multi-back');
    assert.equal((await copy(`oci-archive:${archive}:two`, `oci:${layout}:two`, all)).descriptor.digest, multi.indexDigest);
    assert.deepEqual((await assertValidLayout(layout)).map((i) => i.manifestDigest).sort(), multi.images.map((i) => i.manifestDigest).sort());
  });

  test('a corrupt blob in an oci-archive fails and leaves no destination and no temp store', async () => {
    const dir = fresh('corrupt');
    mkdirSync(dir);
    run('tar', ['-xf', await (async () => {
      const f = `${fresh('good')}.tar`;
      await copy(`oci:${single.dir}:one`, `oci-archive:${f}:one`);
      return f;
    })(), '-C', dir]);
    const layer = single.image.layers[0]!.descriptor.digest.slice(7);
    const path = join(dir, 'blobs', 'sha256', layer);
    const bytes = readFileSync(path);
    bytes[20] = bytes[20]! ^ 0xff;
    writeFileSync(path, bytes);
    const archive = `${fresh('corrupt')}.tar`;
    run('tar', ['-cf', archive, '-C', dir, '.']);
    const dest = fresh('never');
    const err = await failure(copy(`oci-archive:${archive}:one`, `oci:${dest}`));
    assert.equal(err.code, 'DIGEST_MISMATCH');
    assert.equal(existsSync(dest), false);
    noTempStores();
  });

  test('a destination folder that is not a layout is refused before anything is read', async () => {
    const dest = fresh('not-a-layout');
    mkdirSync(dest);
    writeFileSync(join(dest, 'file'), 'x');
    const err = await failure(copy(`oci-archive:${fresh('missing')}.tar`, `oci:${dest}`));
    assert.equal(err.code, 'OUTPUT_UNWRITABLE');
    const missing = await failure(copy(`oci-archive:${fresh('missing')}.tar`, `oci:${fresh('ok')}`));
    assert.equal(missing.code, 'IMAGE_NOT_FOUND');
  });

  test('a layer that does not decompress to its diffID is refused on the way into the local store', async () => {
    const dir = fresh('bad-diffid');
    cpSync(single.dir, dir, { recursive: true });
    const blob = (d: string): string => join(dir, 'blobs', 'sha256', d.slice(7));
    const put = (value: unknown): { digest: string; size: number } => {
      const bytes = Buffer.from(JSON.stringify(value));
      const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
      writeFileSync(blob(digest), bytes);
      return { digest, size: bytes.length };
    };
    const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as { manifests: { digest: string; size: number }[] };
    const manifest = JSON.parse(readFileSync(blob(index.manifests[0]!.digest), 'utf8')) as { config: { digest: string; size: number } };
    const config = JSON.parse(readFileSync(blob(manifest.config.digest), 'utf8')) as { rootfs: { diff_ids: string[] } };
    config.rootfs.diff_ids[1] = `sha256:${'1'.repeat(64)}`;
    manifest.config = { ...manifest.config, ...put(config) };
    index.manifests[0] = { ...index.manifests[0]!, ...put(manifest) };
    writeFileSync(join(dir, 'index.json'), JSON.stringify(index));
    const o = opts();
    const err = await failure(copy(`oci:${dir}:one`, 'example/bad:1', o));
    assert.equal(err.code, 'DIGEST_MISMATCH');
    assert.match(err.message, /diffID/);
    assert.deepEqual(await new LocalStore(o.home).list(), []);
    assert.deepEqual(readdirSync(join(o.home, '.kiln-tmp')), []);
  });

  test('docker-archive takes one image: an index copied whole is refused', async () => {
    const file = `${fresh('refused')}.tar`;
    const err = await failure(copy(`oci:${multi.dir}:two`, `docker-archive:${file}`, opts({ platform: { kind: 'all' } })));
    assert.equal(err.code, 'MULTI_PLATFORM_UNSUPPORTED');
    assert.equal(existsSync(file), false);
    const arm = await copy(`oci:${multi.dir}:two`, `docker-archive:${file}:example/arm:1`, opts({ platform: { kind: 'platform', platform: { os: 'linux', architecture: 'arm64' } } }));
    assert.equal(arm.platform?.architecture, 'arm64');
    const unpacked = fresh('arm');
    mkdirSync(unpacked);
    run('tar', ['-xf', file, '-C', unpacked]);
    const [entry] = JSON.parse(readFileSync(join(unpacked, 'manifest.json'), 'utf8')) as { Config: string; RepoTags: string[] }[];
    assert.equal(arm.descriptor.digest, sha256sum(join(unpacked, entry!.Config)), 'a docker-archive copy reports the config digest');
    assert.deepEqual(entry!.RepoTags, ['example/arm:1']);
  });
});
