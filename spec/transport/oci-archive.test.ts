import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ContentStore } from '../../lib/content/index.ts';
import { type Image, appendLayer } from '../../lib/image/index.ts';
import { writeOciArchive } from '../../lib/transport/index.ts';
import { assertValidLayout, hashFile } from '../helpers/assert-valid-image.ts';
import { randomImage } from '../helpers/random-image.ts';
import { brokenLayer, haveTool, listDir, lyingLayer, readOnlyDir, run, tempRoot } from './transport-kit.ts';

let root: string;
let cleanup: () => Promise<void>;
let image: Image;
let other: Image;
before(async () => {
  ({ dir: root, cleanup } = await tempRoot('kiln-ociar-'));
  const store = new ContentStore(join(root, 'store'));
  ({ image } = await randomImage(store, { seed: 41, layers: 2 }));
  ({ image: other } = await randomImage(store, { seed: 42, layers: 1 }));
});
after(() => cleanup());

/** Members of a tar as Python's tarfile reads them: name, type, mode, uid, gid, mtime. */
function tarMembers(file: string): [string, string, number, number, number, number][] {
  const py = 'import json,sys,tarfile\nprint(json.dumps([[m.name, m.type.decode(), m.mode, m.uid, m.gid, m.mtime] for m in tarfile.open(sys.argv[1])]))';
  return JSON.parse(run('python3', ['-c', py, file])) as [string, string, number, number, number, number][];
}

describe('writeOciArchive', () => {
  it('writes a tar of a valid layout, readable by skopeo, deterministic', async () => {
    const file = join(root, 'image.tar');
    await writeOciArchive(file, [{ image, refName: 'v1' }, { image: other, refName: 'v2' }]);
    const members = tarMembers(file);
    assert.deepEqual(members.slice(0, 2).map((m) => m[0]), ['blobs', 'blobs/sha256']);
    assert.deepEqual(members.slice(-2).map((m) => m[0]), ['index.json', 'oci-layout']);
    for (const [name, type, mode, uid, gid, mtime] of members) {
      assert.deepEqual([uid, gid, mtime], [0, 0, 0], name);
      assert.equal(mode, type === '5' ? 0o755 : 0o644, name);
    }
    const names = members.map((m) => m[0]);
    assert.deepEqual(names, [...names].sort());

    const out = join(root, 'extracted');
    await mkdir(out);
    run('tar', ['-xf', file, '-C', out]);
    const found = await assertValidLayout(out);
    assert.deepEqual(found.map((f) => [f.refName, f.manifestDigest]), [['v1', image.descriptor.digest], ['v2', other.descriptor.digest]]);

    if (haveTool('skopeo')) {
      const inspected = JSON.parse(run('skopeo', ['inspect', `oci-archive:${file}:v2`])) as { Digest: string; Layers: string[] };
      assert.equal(inspected.Digest, other.descriptor.digest);
      assert.deepEqual(inspected.Layers, other.manifest.layers.map((l) => l.digest));
    }

    const again = join(root, 'again.tar');
    await writeOciArchive(again, [{ image, refName: 'v1' }, { image: other, refName: 'v2' }]);
    assert.equal(await hashFile(again), await hashFile(file));
  });

  it('replaces an existing file only on success, and leaves no temp file on failure', async () => {
    const parent = join(root, 'fail');
    await mkdir(parent);
    const file = join(parent, 'out.tar');
    await writeFile(file, 'old contents');
    const bad = appendLayer(image, brokenLayer(other.layers[0]!), { created_by: 'x' });
    await assert.rejects(writeOciArchive(file, [{ image: bad }]), /source went away/);
    const liar = appendLayer(image, lyingLayer(image.layers[0]!, other.layers[0]!), { created_by: 'x' });
    await assert.rejects(writeOciArchive(file, [{ image: liar }]), { code: 'DIGEST_MISMATCH' });
    assert.deepEqual(await listDir(parent), ['out.tar']);
    assert.equal(await readFile(file, 'utf8'), 'old contents');
    await writeOciArchive(file, [{ image }]);
    assert.equal(tarMembers(file).length, 2 + 2 + 4);
  });

  it('refuses unwritable destinations with OUTPUT_UNWRITABLE', async (t) => {
    await assert.rejects(writeOciArchive(join(root, 'missing', 'x.tar'), [{ image }]), { name: 'TransportError', code: 'OUTPUT_UNWRITABLE' });
    await assert.rejects(writeOciArchive(root, [{ image }]), { code: 'OUTPUT_UNWRITABLE' });
    const ro = await readOnlyDir(root);
    if (ro === undefined) return t.skip('cannot make a read-only folder here');
    try {
      await assert.rejects(writeOciArchive(join(ro.dir, 'x.tar'), [{ image }]), { code: 'OUTPUT_UNWRITABLE' });
    } finally {
      await ro.cleanup();
    }
  });
});
