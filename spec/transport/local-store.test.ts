import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ContentStore } from '../../lib/content/index.ts';
import { type Image, imageFromStore, withConfig, withFormat } from '../../lib/image/index.ts';
import { parseRef } from '../../lib/ref/index.ts';
import { LocalStore } from '../../lib/transport/index.ts';
import { assertValidLayout } from '../helpers/assert-valid-image.ts';
import { randomImage } from '../helpers/random-image.ts';
import { haveTool, listDir, run, tempRoot } from './transport-kit.ts';

let root: string;
let cleanup: () => Promise<void>;
let scratch: ContentStore;
let a: Image;
let b: Image;
before(async () => {
  ({ dir: root, cleanup } = await tempRoot('kiln-local-'));
  scratch = new ContentStore(join(root, 'scratch'));
  ({ image: a } = await randomImage(scratch, { seed: 61, layers: 2 }));
  ({ image: b } = await randomImage(scratch, { seed: 62, layers: 1 }));
  a = withConfig(a, (c) => ({ ...c, created: '2024-02-03T04:05:06Z' }));
});
after(() => cleanup());

/** Uncompressed size of a gzip blob by gzip(1) and wc(1). */
function gunzippedSize(path: string): number {
  return Number(run('sh', ['-c', `gzip -dc < '${path}' | wc -c`]).trim());
}

async function names(store: LocalStore): Promise<string[]> {
  return (await store.list()).map((e) => `${e.name ?? '<none>'}=${e.descriptor.digest.slice(7, 19)}`).sort();
}

const short = (img: Image): string => img.descriptor.digest.slice(7, 19);

describe('LocalStore', () => {
  it('stores images as an OCI layout with canonical names, and lists them', async () => {
    const home = join(root, 'home1');
    const store = new LocalStore(home);
    assert.deepEqual(await store.list(), []);
    await store.putImage(a, [parseRef('go/helloworld:3'), parseRef('localhost:5000/x')]);
    assert.deepEqual(await listDir(home), ['.kiln-tmp', 'blobs', 'index.json', 'oci-layout']);
    const found = await assertValidLayout(home);
    assert.deepEqual(found.map((f) => f.refName), ['docker.io/go/helloworld:3', 'localhost:5000/x:latest']);

    const list = await store.list();
    assert.equal(list.length, 2);
    const expectedSize = a.layers.map((l) => gunzippedSize(store.content.path(l.descriptor.digest))).reduce((x, y) => x + y, 0);
    for (const entry of list) {
      assert.equal(entry.descriptor.digest, a.descriptor.digest);
      assert.equal(entry.configDigest, a.configDescriptor.digest);
      assert.equal(entry.created, '2024-02-03T04:05:06Z');
      assert.equal(entry.size, expectedSize);
    }
    assert.deepEqual(list[0]?.ref, parseRef('docker.io/go/helloworld:3'));
    const index = JSON.parse(await readFile(join(home, 'index.json'), 'utf8')) as { manifests: { annotations: Record<string, string> }[] };
    assert.equal(index.manifests[0]?.annotations['org.opencontainers.image.created'], '2024-02-03T04:05:06Z');

    // Another instance on the same folder sees the same thing.
    assert.deepEqual(await names(new LocalStore(home)), await names(store));

    if (haveTool('skopeo')) {
      const inspected = JSON.parse(run('skopeo', ['inspect', `oci:${home}:docker.io/go/helloworld:3`])) as { Digest: string };
      assert.equal(inspected.Digest, a.descriptor.digest);
    }
  });

  it('moves a re-used tag and keeps the old image as dangling', async () => {
    const store = new LocalStore(join(root, 'home2'));
    await store.putImage(a, [parseRef('app:1'), parseRef('app:2')]);
    await store.putImage(b, [parseRef('app:1')]);
    assert.deepEqual(await names(store), [`docker.io/library/app:1=${short(b)}`, `docker.io/library/app:2=${short(a)}`].sort());
    await store.putImage(b, [parseRef('app:2')]);
    const list = await store.list();
    assert.deepEqual(await names(store), ['<none>=' + short(a), `docker.io/library/app:1=${short(b)}`, `docker.io/library/app:2=${short(b)}`].sort());
    assert.equal(list.find((e) => e.name === undefined)?.ref, undefined);
    // Tagging the dangling image again removes its untagged entry.
    await store.putImage(a, [parseRef('app:old')]);
    assert.deepEqual(await names(store), [`docker.io/library/app:1=${short(b)}`, `docker.io/library/app:2=${short(b)}`, `docker.io/library/app:old=${short(a)}`].sort());
    // Putting an image with no tags stores it untagged, once.
    const c = withFormat(b, 'docker');
    await store.putImage(c);
    await store.putImage(c);
    assert.equal((await names(store)).filter((n) => n.startsWith('<none>')).length, 1);
    await assertValidLayout(store.root);
  });

  it('resolves by name, by manifest digest and by (prefix of) image ID', async () => {
    const store = new LocalStore(join(root, 'home3'));
    await store.putImage(a, [parseRef('app:1')]);
    await store.putImage(b, [parseRef('registry.example.com/team/app:latest')]);
    const id = a.configDescriptor.digest;
    const cases: [string, Image | undefined][] = [
      ['app:1', a],
      ['docker.io/library/app:1', a],
      ['registry.example.com/team/app', b],
      [`app@${a.descriptor.digest}`, a],
      [id, a],
      [id.slice(7), a],
      [id.slice(7, 19), a],
      ['app:2', undefined],
      ['app', undefined],
      ['0123456789ab', undefined],
    ];
    for (const [query, expected] of cases) {
      const got = await store.resolve(query);
      assert.equal(got?.descriptor.digest, expected?.descriptor.digest, query);
    }
    // A name wins over an ID prefix that looks the same, as in docker.
    const prefix = b.configDescriptor.digest.slice(7, 19);
    await store.putImage(a, [parseRef(`${prefix}:latest`)]);
    assert.equal((await store.resolve(prefix))?.descriptor.digest, a.descriptor.digest);
    assert.equal((await store.resolve(`sha256:${prefix}`))?.descriptor.digest, b.descriptor.digest);
    await assert.rejects(store.resolve('Not A Name'), { code: 'REF_INVALID' });

    // The resolved image is complete: its layers read and verify from the store.
    const resolved = (await store.resolve('app:1'))!;
    assert.deepEqual(resolved.configBytes, a.configBytes);
    for (const layer of resolved.layers) {
      const chunks: Buffer[] = [];
      for await (const c of await layer.openUncompressed()) chunks.push(c as Buffer);
      assert.ok(Buffer.concat(chunks).length > 0);
    }
  });

  it('removes tags, and whole images by digest', async () => {
    const store = new LocalStore(join(root, 'home4'));
    await store.putImage(a, [parseRef('app:1'), parseRef('app:2')]);
    await store.putImage(b, [parseRef('other:1')]);
    assert.equal(await store.remove(parseRef('app:1')), true);
    assert.equal(await store.remove(parseRef('app:1')), false);
    assert.equal(await store.resolve('app:1'), undefined);
    assert.equal((await store.resolve('app:2'))?.descriptor.digest, a.descriptor.digest);
    assert.equal(await store.remove(parseRef(`app@${a.descriptor.digest}`)), true);
    assert.deepEqual(await names(store), [`docker.io/library/other:1=${short(b)}`]);
    await assertValidLayout(store.root);
  });

  it('refuses digest references as tags', async () => {
    const store = new LocalStore(join(root, 'home5'));
    await assert.rejects(store.putImage(a, [parseRef(`app@${a.descriptor.digest}`)]), { code: 'REF_INVALID' });
  });

  it('reports sizes of images another tool put in the layout', { skip: !haveTool('skopeo') }, async () => {
    const home = join(root, 'home6');
    const store = new LocalStore(home);
    await store.putImage(b, [parseRef('mine:1')]);
    const src = join(root, 'src-layout');
    const { writeOciLayout } = await import('../../lib/transport/index.ts');
    await writeOciLayout(src, [{ image: a, refName: 'v1' }]);
    run('skopeo', ['copy', '-q', `oci:${src}:v1`, `oci:${home}:foreign`]);
    const foreign = (await store.list()).find((e) => e.name === 'foreign');
    assert.ok(foreign);
    assert.equal(foreign.ref, undefined);
    const img = await imageFromStore(store.content, foreign.descriptor);
    const expected = img.layers.map((l) => gunzippedSize(store.content.path(l.descriptor.digest))).reduce((x, y) => x + y, 0);
    assert.equal(foreign.size, expected);
  });
});
