import assert from 'node:assert/strict';
import { readFile, stat, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ContentStore } from '../../lib/content/index.ts';
import { type Image, appendLayer, withFormat } from '../../lib/image/index.ts';
import { writeOciLayout } from '../../lib/transport/index.ts';
import { assertValidLayout } from '../helpers/assert-valid-image.ts';
import { type RandomFile, randomImage, randomLayer } from '../helpers/random-image.ts';
import { brokenLayer, haveTool, listDir, lyingLayer, readOnlyDir, run, tempRoot } from './transport-kit.ts';

let root: string;
let cleanup: () => Promise<void>;
let store: ContentStore;
let image: Image;
let files: RandomFile[];
let second: Image;
before(async () => {
  ({ dir: root, cleanup } = await tempRoot('kiln-layout-'));
  store = new ContentStore(join(root, 'store'));
  ({ image, files } = await randomImage(store, { seed: 31, layers: 3, files: 4 }));
  const { layer } = await randomLayer(store, { seed: 32 });
  second = appendLayer(image, layer, { created_by: 'one more' });
});
after(() => cleanup());

describe('writeOciLayout', () => {
  it('writes a layout that an independent check, skopeo and umoci accept', async () => {
    const dir = join(root, 'out1');
    await writeOciLayout(dir, [{ image, refName: 'v1' }, { image: second, refName: 'example.com/app:2' }]);
    assert.deepEqual(await listDir(dir), ['blobs', 'index.json', 'oci-layout']);
    const found = await assertValidLayout(dir);
    assert.deepEqual(found.map((f) => [f.refName, f.manifestDigest]), [['v1', image.descriptor.digest], ['example.com/app:2', second.descriptor.digest]]);
    // Shared layers are stored once: 4 distinct layers + 2 configs + 2 manifests.
    assert.equal((await listDir(join(dir, 'blobs', 'sha256'))).length, 8);
    assert.deepEqual(await listDir(root), ['out1', 'store']);

    if (!haveTool('skopeo')) return;
    const inspected = JSON.parse(run('skopeo', ['inspect', `oci:${dir}:example.com/app:2`])) as { Digest: string; Layers: string[]; Architecture: string };
    assert.equal(inspected.Digest, second.descriptor.digest);
    assert.deepEqual(inspected.Layers, second.manifest.layers.map((l) => l.digest));
    assert.equal(inspected.Architecture, 'amd64');
  });

  it('unpacks with umoci to the right files, modes and owners', { skip: !haveTool('umoci') }, async () => {
    const dir = join(root, 'out-umoci');
    await writeOciLayout(dir, [{ image, refName: 'v1' }]);
    const bundle = join(root, 'bundle');
    const rootless = process.getuid?.() !== 0;
    run('umoci', ['unpack', ...(rootless ? ['--rootless'] : []), '--image', `${dir}:v1`, bundle]);
    for (const f of files) {
      const path = join(bundle, 'rootfs', f.path);
      assert.deepEqual(await readFile(path), f.content, f.path);
      const s = await stat(path);
      assert.equal(s.mode & 0o7777, f.mode, `${f.path} mode`);
      if (!rootless) assert.deepEqual([s.uid, s.gid], [f.uid, f.gid], `${f.path} owner`);
      assert.equal(s.mtimeMs, 1_700_000_000_000);
    }
  });

  it('adds to an existing layout, moving a name given again, atomically', async () => {
    const dir = join(root, 'out-merge');
    await writeOciLayout(dir, [{ image, refName: 'latest' }, { image, refName: 'stable' }]);
    await writeOciLayout(dir, [{ image: second, refName: 'latest' }, { image: second }]);
    const found = await assertValidLayout(dir);
    assert.deepEqual(found.map((f) => [f.refName, f.manifestDigest]), [
      ['stable', image.descriptor.digest],
      ['latest', second.descriptor.digest],
      [undefined, second.descriptor.digest],
    ]);
    // Writing the same unnamed image again does not list it twice.
    await writeOciLayout(dir, [{ image: second }]);
    assert.equal((await assertValidLayout(dir)).length, 3);
    assert.deepEqual(await listDir(dir), ['blobs', 'index.json', 'oci-layout']);
  });

  it('can hold docker-format images', async () => {
    const dir = join(root, 'out-docker');
    await writeOciLayout(dir, [{ image: withFormat(image, 'docker'), refName: 'd' }]);
    const [found] = await assertValidLayout(dir);
    assert.equal(found?.manifest.mediaType, 'application/vnd.docker.distribution.manifest.v2+json');
  });

  it('leaves nothing behind when a layer fails midway or lies about its digest', async () => {
    const parent = join(root, 'fail');
    await mkdir(parent);
    const bad = appendLayer(image, brokenLayer(second.layers[3]!), { created_by: 'x' });
    await assert.rejects(writeOciLayout(join(parent, 'layout'), [{ image: bad, refName: 'x' }]), /source went away/);
    const liar = appendLayer(image, lyingLayer(image.layers[0]!, second.layers[3]!), { created_by: 'x' });
    await assert.rejects(writeOciLayout(join(parent, 'layout'), [{ image: liar }]), { code: 'DIGEST_MISMATCH' });
    assert.deepEqual(await listDir(parent), []);

    // In an existing layout the index stays as it was.
    const dir = join(parent, 'existing');
    await writeOciLayout(dir, [{ image, refName: 'v1' }]);
    const before = await readFile(join(dir, 'index.json'));
    await assert.rejects(writeOciLayout(dir, [{ image: bad, refName: 'v1' }]), /source went away/);
    assert.deepEqual(await readFile(join(dir, 'index.json')), before);
    await assertValidLayout(dir);
  });

  it('refuses unwritable or occupied destinations with OUTPUT_UNWRITABLE', async () => {
    await assert.rejects(writeOciLayout(join(root, 'no', 'such', 'parent'), [{ image }]), { name: 'TransportError', code: 'OUTPUT_UNWRITABLE' });
    const occupied = join(root, 'occupied');
    await mkdir(occupied);
    await writeFile(join(occupied, 'precious.txt'), 'keep me');
    await assert.rejects(writeOciLayout(occupied, [{ image }]), { code: 'OUTPUT_UNWRITABLE' });
    assert.deepEqual(await listDir(occupied), ['precious.txt']);
    await writeFile(join(root, 'a-file'), '');
    await assert.rejects(writeOciLayout(join(root, 'a-file'), [{ image }]), { code: 'OUTPUT_UNWRITABLE' });
  });

  it('refuses a read-only destination with OUTPUT_UNWRITABLE', async (t) => {
    const ro = await readOnlyDir(root);
    if (ro === undefined) return t.skip('cannot make a read-only folder here');
    try {
      await assert.rejects(writeOciLayout(join(ro.dir, 'layout'), [{ image }]), { code: 'OUTPUT_UNWRITABLE' });
      assert.deepEqual(await listDir(ro.dir), []);
    } finally {
      await ro.cleanup();
    }
  });

  it('refuses bad or repeated names before writing anything', async () => {
    const dir = join(root, 'bad-names');
    await assert.rejects(writeOciLayout(dir, [{ image, refName: 'has space' }]), { code: 'REF_INVALID' });
    await assert.rejects(writeOciLayout(dir, [{ image, refName: 'a' }, { image: second, refName: 'a' }]), { code: 'REF_INVALID' });
    await assert.rejects(stat(dir), { code: 'ENOENT' });
  });

  it('writes into an existing empty directory', async () => {
    const dir = join(root, 'empty');
    await mkdir(dir);
    await writeOciLayout(dir, [{ image, refName: 'v1' }]);
    assert.equal((await assertValidLayout(dir)).length, 1);
  });
});
