/**
 * extractTarInto: ADD's unpacking of a local archive (Docker's Untar
 * semantics) on the same engine as applyLayer, contents spilled to disk.
 * Archives are written by Python's tarfile (py-tar.ts) and gzip.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { archiveKind, emptyDir, extractTarInto, getNode, type Meta, SpillDir } from '../../lib/vfs/index.ts';
import { codeOfAsync, describeTree } from './apply-kit.ts';
import { pyTar } from './py-tar.ts';
import { dir, file } from './tree-kit.ts';

const spill = SpillDir.create();
after(() => spill.dispose());
const DIR_META: Meta = { mode: 0o755, uid: 0, gid: 0, mtime: 42 };
const bytesRef = (data: Buffer) => ({ kind: 'bytes', data }) as const;

describe('extractTarInto', () => {
  test('entries keep their metadata; .wh. names are plain files; hardlinks are link groups; contents are spilled', async () => {
    const tar = pyTar([
      { name: 'pkg', type: 'dir', mode: 0o750, uid: 12, gid: 34 },
      { name: 'pkg/.wh.file', text: 'not a whiteout' },
      { name: 'pkg/bin', text: '#!/bin/sh\n', mode: 0o755 },
      { name: 'pkg/alias', type: 'hardlink', linkname: 'pkg/bin', mode: 0o755 },
    ]);
    const tree = await extractTarInto(emptyDir(), '/opt', bytesRef(gzipSync(tar)), DIR_META, { spill });
    assert.deepEqual(describeTree(tree), [
      'opt: dir 0755 0:0',
      'opt/pkg: dir 0750 12:34',
      'opt/pkg/.wh.file: file 0644 0:0 "not a whiteout"',
      'opt/pkg/alias: file 0755 0:0 "#!/bin/sh\\n" link=opt/pkg/alias',
      'opt/pkg/bin: file 0755 0:0 "#!/bin/sh\\n" link=opt/pkg/alias',
    ]);
    const bin = getNode(tree, ['opt', 'pkg', 'bin']);
    assert.ok(bin?.kind === 'file' && bin.content.kind === 'file-range' && dirname(bin.content.path) === spill.path);
  });

  test('a name that climbs above the archive root is PATH_OUTSIDE_ROOT (Docker: breakout)', async () => {
    assert.equal(await codeOfAsync(extractTarInto(emptyDir(), '/', bytesRef(pyTar([{ name: '../../etc/evil', text: 'x' }])), DIR_META, { spill })), 'PATH_OUTSIDE_ROOT');
    assert.equal(await codeOfAsync(extractTarInto(emptyDir(), '/', bytesRef(pyTar([{ name: 'a', text: '' }, { name: 'h', type: 'hardlink', linkname: '../a' }])), DIR_META, { spill })), 'PATH_OUTSIDE_ROOT');
  });

  test('a symlink in the archive resolves inside the archive, as Untar in a chroot', async () => {
    const tar = pyTar([{ name: 'etc', type: 'symlink', linkname: '/real' }, { name: 'etc/passwd', text: 'p' }]);
    const tree = await extractTarInto(dir({ real: dir({}, { mode: 0o700 }) }), '/dest', bytesRef(tar), DIR_META, { spill });
    assert.deepEqual(describeTree(tree).filter((l) => l.startsWith('dest')), ['dest: dir 0755 0:0', 'dest/etc: symlink 0644 0:0 -> /real', 'dest/real: dir 0755 0:0', 'dest/real/passwd: file 0644 0:0 "p"']);
    assert.equal(getNode(tree, ['real', 'passwd']), undefined, 'nothing written through to the tree root');
  });

  test('existing directories of the destination keep their metadata unless the archive lists them', async () => {
    const base = dir({ dest: dir({ keep: dir({ old: file('o') }, { mode: 0o700, uid: 9 }), listed: dir({}, { mode: 0o700 }) }) });
    const tar = pyTar([{ name: 'keep/new', text: 'n' }, { name: 'listed', type: 'dir', mode: 0o751 }]);
    const tree = await extractTarInto(base, '/dest', bytesRef(tar), DIR_META, { spill });
    assert.deepEqual(describeTree(tree).filter((l) => l.startsWith('dest/')), ['dest/keep: dir 0700 9:0', 'dest/keep/new: file 0644 0:0 "n"', 'dest/keep/old: file 0644 0:0 "o"', 'dest/listed: dir 0751 0:0']);
  });

  test('limits apply (ARCHIVE_TOO_LARGE), and archiveKind reads file ranges', async () => {
    const tar = pyTar([{ name: 'a', bytes: 10_000 }]);
    assert.equal(await codeOfAsync(extractTarInto(emptyDir(), '/', bytesRef(tar), DIR_META, { spill, limits: { maxBytes: 5_000 } })), 'ARCHIVE_TOO_LARGE');
    const p = join(spill.path, 'archive-in-range');
    writeFileSync(p, Buffer.concat([Buffer.from('junk-before'), gzipSync(tar)]));
    assert.equal(archiveKind({ kind: 'file-range', path: p, offset: 11, size: gzipSync(tar).length }, gzipSync(tar).length), 'tar+gzip');
    assert.equal(archiveKind({ kind: 'file-range', path: p, offset: 0, size: 100 }, 100), 'not-an-archive');
    const tree = await extractTarInto(emptyDir(), '/', { kind: 'file-range', path: p, offset: 11, size: gzipSync(tar).length }, DIR_META, { spill });
    assert.equal(getNode(tree, ['a'])?.kind, 'file');
  });
});
