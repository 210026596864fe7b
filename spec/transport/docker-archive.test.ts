import assert from 'node:assert/strict';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ContentStore } from '../../lib/content/index.ts';
import { parseDigest } from '../../lib/digest/index.ts';
import { type Image, appendLayer, imageFromStore, layerFrom, withFormat } from '../../lib/image/index.ts';
import { writeDockerArchive } from '../../lib/transport/index.ts';
import { assertValidLayout, hashFile } from '../helpers/assert-valid-image.ts';
import { randomImage, randomLayer } from '../helpers/random-image.ts';
import { brokenLayer, haveTool, listDir, run, tempRoot } from './transport-kit.ts';

let root: string;
let cleanup: () => Promise<void>;
let store: ContentStore;
let image: Image;
let derived: Image;
before(async () => {
  ({ dir: root, cleanup } = await tempRoot('kiln-dockerar-'));
  store = new ContentStore(join(root, 'store'));
  ({ image } = await randomImage(store, { seed: 51, layers: 2 }));
  const { layer } = await randomLayer(store, { seed: 52 });
  derived = withFormat(appendLayer(image, layer, { created_by: 'more' }), 'docker');
});
after(() => cleanup());

interface Member { name: string; type: string; mode: number; uid: number; gid: number; mtime: number; uname: string }

function tarMembers(file: string): Member[] {
  const py = 'import json,sys,tarfile\nprint(json.dumps([dict(name=m.name, type=m.type.decode(), mode=m.mode, uid=m.uid, gid=m.gid, mtime=m.mtime, uname=m.uname) for m in tarfile.open(sys.argv[1])]))';
  return JSON.parse(run('python3', ['-c', py, file])) as Member[];
}

const hex = (d: string): string => d.slice('sha256:'.length);

describe('writeDockerArchive', () => {
  it('writes manifest.json, configs and uncompressed layers named by diffID', async () => {
    const file = join(root, 'two.tar');
    await writeDockerArchive(file, [{ image, tags: ['app:1', 'app'] }, { image: derived, tags: ['localhost:5000/team/app:2'] }]);
    const members = tarMembers(file);
    const names = members.map((m) => m.name);
    assert.deepEqual(names, [...names].sort());
    for (const m of members) assert.deepEqual([m.type, m.mode, m.uid, m.gid, m.mtime], ['0', 0o644, 0, 0, 0], m.name);
    const layerNames = derived.config.rootfs.diff_ids.map((d) => `${hex(d)}.tar`);
    assert.deepEqual(new Set(names), new Set([
      ...layerNames, `${hex(image.configDescriptor.digest)}.json`, `${hex(derived.configDescriptor.digest)}.json`, 'manifest.json', 'repositories',
    ]));

    const out = join(root, 'two');
    await mkdir(out);
    run('tar', ['-xf', file, '-C', out]);
    const manifest = JSON.parse(await readFile(join(out, 'manifest.json'), 'utf8')) as { Config: string; RepoTags: string[]; Layers: string[] }[];
    assert.deepEqual(manifest, [
      { Config: `${hex(image.configDescriptor.digest)}.json`, RepoTags: ['app:1', 'app:latest'], Layers: layerNames.slice(0, 2) },
      { Config: `${hex(derived.configDescriptor.digest)}.json`, RepoTags: ['localhost:5000/team/app:2'], Layers: layerNames },
    ]);
    // docker load checks each layer file against the config's diff_ids: recompute them with sha256sum.
    for (const name of layerNames) {
      const sum = run('sha256sum', [join(out, name)]).split(' ')[0];
      assert.equal(`${sum}.tar`, name);
    }
    assert.equal(await hashFile(join(out, manifest[1]!.Config)), hex(derived.configDescriptor.digest));
    const repositories = JSON.parse(await readFile(join(out, 'repositories'), 'utf8')) as Record<string, Record<string, string>>;
    assert.deepEqual(Object.keys(repositories).sort(), ['app', 'localhost:5000/team/app']);
    assert.deepEqual(Object.keys(repositories['app']!).sort(), ['1', 'latest']);
  });

  it('is read by skopeo copy docker-archive:FILE oci:DIR with the same diffIDs', { skip: !haveTool('skopeo') }, async () => {
    const file = join(root, 'for-skopeo.tar');
    // Layers read back from a store do not know their uncompressed size: the writer must count.
    await store.putBytes(derived.configBytes);
    await store.putBytes(derived.manifestBytes);
    const stored = await imageFromStore(store, derived.descriptor);
    assert.equal(stored.layers[0]?.uncompressedSize, undefined);
    await writeDockerArchive(file, [{ image, tags: ['app:1'] }, { image: stored, tags: ['example.com/app:2'] }]);
    const cases: [string, Image][] = [['app:1', image], ['example.com/app:2', derived], ['@1', derived]];
    for (const [i, [selector, expected]] of cases.entries()) {
      const dir = join(root, `skopeo-${i}`);
      run('skopeo', ['copy', '-q', `docker-archive:${file}:${selector}`, `oci:${dir}:t`]);
      const [found] = await assertValidLayout(dir);
      assert.deepEqual(found?.config.rootfs.diff_ids, expected.config.rootfs.diff_ids, selector);
      assert.deepEqual(found?.diffIds, expected.config.rootfs.diff_ids, selector);
    }
    const inspected = JSON.parse(run('skopeo', ['inspect', `docker-archive:${file}:example.com/app:2`])) as { RepoTags: string[] };
    assert.ok(Array.isArray(inspected.RepoTags));
  });

  it('refuses bad tags and leaves nothing behind on failure', async () => {
    const parent = join(root, 'fail');
    await mkdir(parent);
    const file = join(parent, 'out.tar');
    await assert.rejects(writeDockerArchive(file, [{ image, tags: [`app@sha256:${'a'.repeat(64)}`] }]), { code: 'REF_INVALID' });
    await assert.rejects(writeDockerArchive(file, [{ image, tags: ['Bad:Name'] }]), { code: 'REF_INVALID' });
    await assert.rejects(writeDockerArchive(file, [{ image, tags: ['a:1'] }, { image: derived, tags: ['docker.io/library/a:1'] }]), { code: 'REF_INVALID' });
    const broken = appendLayer(image, brokenLayer(derived.layers[2]!), { created_by: 'x' });
    await assert.rejects(writeDockerArchive(file, [{ image: broken, tags: [] }]), /source went away/);
    const l = derived.layers[2]!;
    const wrongDiff = layerFrom({ descriptor: l.descriptor, diffId: parseDigest(`sha256:${'b'.repeat(64)}`), open: () => l.open() });
    await assert.rejects(writeDockerArchive(file, [{ image: appendLayer(image, wrongDiff, { created_by: 'x' }), tags: [] }]), { code: 'DIGEST_MISMATCH' });
    assert.deepEqual(await listDir(parent), []);
    await assert.rejects(writeDockerArchive(join(root, 'nope', 'x.tar'), [{ image, tags: [] }]), { code: 'OUTPUT_UNWRITABLE' });
  });
});
