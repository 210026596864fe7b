/**
 * applyLayer, one rule per test. Layers are written by Python's tarfile
 * (py-tar.ts); expectations come from image-spec layer.md and from what
 * containerd's applier does to a directory (archive.applyNaive, fs.RootPath).
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { applyLayer, type DirNode, emptyDir, getNode, readContentSync, SpillDir } from '../../lib/vfs/index.ts';
import { applyAll, applyPy, codeOfAsync, describeTree } from './apply-kit.ts';
import { pattern, pyTar } from './py-tar.ts';

const spill = SpillDir.create();
after(() => spill.dispose());

const LOWER = [
  { name: 'etc', type: 'dir' as const },
  { name: 'etc/passwd', text: 'root:x:0:0\n' },
  { name: 'etc/conf.d', type: 'dir' as const },
  { name: 'etc/conf.d/a', text: 'a' },
  { name: 'etc/conf.d/b', text: 'b' },
  { name: 'usr', type: 'dir' as const },
  { name: 'usr/bin', type: 'dir' as const },
  { name: 'usr/bin/tool', text: 'tool', mode: 0o755 },
  { name: 'bin', type: 'symlink' as const, linkname: 'usr/bin' },
];

describe('applyLayer: entries and metadata', () => {
  test('every entry kind with its mode, owner, mtime and xattrs', async () => {
    const tree = await applyAll(spill, [
      { name: 'd', type: 'dir', mode: 0o1777, uid: 5, gid: 6, mtime: 1_500_000_000 },
      { name: 'd/f', text: 'hello', mode: 0o4755, uid: 1000, gid: 3_000_000, mtime: 1_600_000_001, xattrs: { 'user.k': 'v', 'security.capability': 'caps' } },
      { name: 'd/l', type: 'symlink', linkname: '../elsewhere', mode: 0o777 },
      { name: 'd/p', type: 'fifo', mode: 0o600 },
      { name: 'd/c', type: 'char', major: 1, minor: 3, mode: 0o666 },
      { name: 'd/b', type: 'block', major: 8, minor: 1, mode: 0o660 },
      { name: 'd/empty', text: '' },
    ]);
    assert.deepEqual(describeTree(tree, { mtime: true }), [
      'd: dir 1777 5:6 @1500000000',
      'd/b: block 0660 0:0 @1600000000 8,1',
      'd/c: char 0666 0:0 @1600000000 1,3',
      'd/empty: file 0644 0:0 @1600000000 ""',
      'd/f: file 4755 1000:3000000 @1600000001 "hello"',
      'd/l: symlink 0777 0:0 @1600000000 -> ../elsewhere',
      'd/p: fifo 0600 0:0 @1600000000',
    ]);
    const f = getNode(tree, ['d', 'f']);
    assert.deepEqual(f?.meta.xattrs, { 'security.capability': Buffer.from('caps'), 'user.k': Buffer.from('v') });
  });

  test('file contents live in one spill file of the spill directory, not in memory', async () => {
    const tree = await applyAll(spill, [
      { name: 'a', bytes: 3 * 1024 * 1024 + 5 },
      { name: 'b', text: 'small' },
    ]);
    const a = getNode(tree, ['a']);
    const b = getNode(tree, ['b']);
    assert.ok(a?.kind === 'file' && a.content.kind === 'file-range' && b?.kind === 'file' && b.content.kind === 'file-range');
    assert.equal(dirname(a.content.path), spill.path);
    assert.equal(a.content.path, b.content.path, 'one spill file per layer');
    assert.deepEqual([a.content.offset, a.content.size, b.content.offset, b.content.size], [0, 3 * 1024 * 1024 + 5, 3 * 1024 * 1024 + 5, 5]);
    assert.ok(describeTree(tree).includes('b: file 0644 0:0 "small"'));
    assert.ok(readContentSync(a.content).equals(pattern(3 * 1024 * 1024 + 5)));
  });

  test('parents an entry implies are created 0755 root, mtime 0', async () => {
    const tree = await applyAll(spill, [{ name: 'x/y/z', text: 'deep', uid: 7 }]);
    assert.deepEqual(describeTree(tree, { mtime: true }), ['x: dir 0755 0:0 @0', 'x/y: dir 0755 0:0 @0', 'x/y/z: file 0644 7:0 @1600000000 "deep"']);
  });

  test('a directory over a directory merges: new metadata, children kept', async () => {
    const tree = await applyAll(spill, LOWER, [{ name: 'etc', type: 'dir', mode: 0o700, uid: 3 }, { name: 'etc/new', text: 'n' }]);
    assert.deepEqual(describeTree(tree).filter((l) => l.startsWith('etc')), [
      'etc: dir 0700 3:0',
      'etc/conf.d: dir 0755 0:0',
      'etc/conf.d/a: file 0644 0:0 "a"',
      'etc/conf.d/b: file 0644 0:0 "b"',
      'etc/new: file 0644 0:0 "n"',
      'etc/passwd: file 0644 0:0 "root:x:0:0\\n"',
    ]);
  });

  test('a file replaces a directory with its subtree; a directory replaces a file; a symlink replaces a directory', async () => {
    const tree = await applyAll(spill, LOWER, [
      { name: 'etc/conf.d', text: 'now a file' },
      { name: 'etc/passwd', type: 'dir', mode: 0o750 },
      { name: 'usr/bin', type: 'symlink', linkname: '/opt' },
    ]);
    assert.deepEqual(describeTree(tree).filter((l) => !l.startsWith('bin')), [
      'etc: dir 0755 0:0',
      'etc/conf.d: file 0644 0:0 "now a file"',
      'etc/passwd: dir 0750 0:0',
      'usr: dir 0755 0:0',
      'usr/bin: symlink 0644 0:0 -> /opt',
    ]);
  });

  test('duplicate entries: the last one wins', async () => {
    const tree = await applyAll(spill, [
      { name: 'f', text: 'first' },
      { name: 'd', type: 'dir', mode: 0o700 },
      { name: 'f', text: 'second', mode: 0o600 },
      { name: 'd', type: 'dir', mode: 0o755, uid: 9 },
      { name: 'd/x', text: 'x' },
    ]);
    assert.deepEqual(describeTree(tree), ['d: dir 0755 9:0', 'd/x: file 0644 0:0 "x"', 'f: file 0600 0:0 "second"']);
  });

  test('the root entry is ignored (containerd: "resolved to root")', async () => {
    const tree = await applyPy(spill, emptyDir(), [{ name: './', type: 'dir', mode: 0o700, uid: 5 }, { name: './a', text: 'a' }]);
    assert.deepEqual(tree.meta, emptyDir().meta);
    assert.deepEqual(describeTree(tree), ['a: file 0644 0:0 "a"']);
  });

  test('long names and link names, in PAX and GNU form', async () => {
    const long = `${'d'.repeat(120)}/${'f'.repeat(150)}`;
    const target = 't'.repeat(300);
    for (const format of ['pax', 'gnu'] as const) {
      const tree = await applyPy(spill, emptyDir(), pyTar([{ name: long, text: 'long' }, { name: 'l', type: 'symlink', linkname: target }, { name: 'h', type: 'hardlink', linkname: long }], format));
      assert.deepEqual(describeTree(tree), [
        `${'d'.repeat(120)}: dir 0755 0:0`,
        `${long}: file 0644 0:0 "long" link=${long}`,
        `h: file 0644 0:0 "long" link=${long}`,
        `l: symlink 0644 0:0 -> ${target}`,
      ], format);
    }
  });

  test('gzip and uncompressed input are told apart by their bytes; an empty input is an empty layer', async () => {
    const tar = pyTar([{ name: 'a', text: 'x' }]);
    for (const input of [tar, gzipSync(tar), gzipSync(tar, { level: 1 })]) {
      assert.deepEqual(describeTree(await applyPy(spill, emptyDir(), input)), ['a: file 0644 0:0 "x"']);
    }
    assert.deepEqual(describeTree(await applyPy(spill, emptyDir(), Buffer.alloc(0))), []);
  });

  test('a layer without its end-of-archive blocks (as umoci writes) is accepted', async () => {
    const tar = pyTar([{ name: 'a', text: 'x' }]);
    assert.deepEqual(describeTree(await applyPy(spill, emptyDir(), tar.subarray(0, 1024))), ['a: file 0644 0:0 "x"']);
  });

  test('zstd: a layer compressed by the zstd program is applied', async () => {
    const zst = execFileSync('zstd', ['-c', '-q'], { input: pyTar([{ name: 'z', text: 'zstd layer' }]) });
    assert.deepEqual(describeTree(await applyPy(spill, emptyDir(), zst)), ['z: file 0644 0:0 "zstd layer"']);
  });

  test('the base tree is unchanged and untouched subtrees are shared by reference', async () => {
    const base = await applyAll(spill, LOWER);
    const before = describeTree(base);
    const next = await applyPy(spill, base, [{ name: 'etc/conf.d/c', text: 'c' }]);
    assert.deepEqual(describeTree(base), before);
    assert.equal(getNode(next, ['usr']), getNode(base, ['usr']));
    assert.equal(getNode(next, ['etc', 'passwd']), getNode(base, ['etc', 'passwd']));
    assert.notEqual(getNode(next, ['etc']), getNode(base, ['etc']));
  });
});

describe('applyLayer: whiteouts', () => {
  let lower: DirNode;
  const base = async () => (lower ??= await applyAll(spill, LOWER));

  test('.wh.<name> removes a lower file, and a lower directory with its subtree', async () => {
    const tree = await applyPy(spill, await base(), [{ name: 'etc/.wh.passwd' }, { name: '.wh.usr' }]);
    assert.deepEqual(describeTree(tree), ['bin: symlink 0644 0:0 -> usr/bin', 'etc: dir 0755 0:0', 'etc/conf.d: dir 0755 0:0', 'etc/conf.d/a: file 0644 0:0 "a"', 'etc/conf.d/b: file 0644 0:0 "b"']);
  });

  test('a whiteout for a path that does not exist changes nothing', async () => {
    const tree = await applyPy(spill, await base(), [{ name: 'etc/.wh.nothing' }]);
    assert.deepEqual(describeTree(tree), describeTree(await base()));
  });

  test('a whiteout never hides an entry of its own layer, before or after it', async () => {
    for (const order of [0, 1]) {
      const entries = [{ name: 'etc/.wh.passwd' }, { name: 'etc/passwd', text: 'new' }];
      const tree = await applyPy(spill, await base(), order === 0 ? entries : entries.reverse());
      assert.equal(describeTree(tree).find((l) => l.startsWith('etc/passwd')), 'etc/passwd: file 0644 0:0 "new"', `order ${order}`);
    }
  });

  test('a whiteout of a directory this layer also lists hides only the lower children', async () => {
    for (const order of [0, 1]) {
      const entries = [{ name: 'etc/.wh.conf.d' }, { name: 'etc/conf.d', type: 'dir' as const, mode: 0o700 }, { name: 'etc/conf.d/c', text: 'c' }];
      const tree = await applyPy(spill, await base(), order === 0 ? entries : [entries[1]!, entries[2]!, entries[0]!]);
      assert.deepEqual(describeTree(tree).filter((l) => l.startsWith('etc/conf.d')), ['etc/conf.d: dir 0700 0:0', 'etc/conf.d/c: file 0644 0:0 "c"'], `order ${order}`);
    }
  });

  test('an opaque directory hides every lower child, wherever the marker sits in the tar', async () => {
    const results = new Set<string>();
    const layer = [{ name: 'etc', type: 'dir' as const }, { name: 'etc/conf.d', type: 'dir' as const, mode: 0o750 }, { name: 'etc/conf.d/b', text: 'B' }, { name: 'etc/conf.d/new/deep', text: 'd' }];
    const marker = { name: 'etc/conf.d/.wh..wh..opq' };
    for (let at = 0; at <= layer.length; at++) {
      const entries = [...layer.slice(0, at), marker, ...layer.slice(at)];
      const tree = await applyPy(spill, await base(), entries);
      results.add(JSON.stringify(describeTree(tree, { mtime: true }).filter((l) => l.startsWith('etc/conf.d'))));
    }
    assert.deepEqual([...results].map((r) => JSON.parse(r) as string[]), [[
      'etc/conf.d: dir 0750 0:0 @1600000000',
      'etc/conf.d/b: file 0644 0:0 @1600000000 "B"',
      'etc/conf.d/new: dir 0755 0:0 @0',
      'etc/conf.d/new/deep: file 0644 0:0 @1600000000 "d"',
    ]]);
  });

  test('an opaque marker at the root hides the whole lower tree', async () => {
    const tree = await applyPy(spill, await base(), [{ name: 'keep', text: 'k' }, { name: '.wh..wh..opq' }]);
    assert.deepEqual(describeTree(tree), ['keep: file 0644 0:0 "k"']);
  });

  test('a whiteout is applied through a symlinked parent, inside the root', async () => {
    const tree = await applyPy(spill, await base(), [{ name: 'bin/.wh.tool' }]);
    assert.equal(getNode(tree, ['usr', 'bin', 'tool']), undefined);
    assert.equal(getNode(tree, ['bin'])?.kind, 'symlink');
  });

  test('AUFS metadata (.wh..wh.plnk, .wh..wh.aufs) is skipped; a whiteout of ".." is WHITEOUT_INVALID', async () => {
    const tree = await applyPy(spill, emptyDir(), [{ name: '.wh..wh.plnk', type: 'dir' }, { name: '.wh..wh.plnk/123.4', text: 'x' }, { name: 'a/.wh..wh.aufs', text: '' }]);
    assert.deepEqual(describeTree(tree), ['a: dir 0755 0:0']);
    assert.equal(await codeOfAsync(applyPy(spill, await base(), [{ name: 'etc/.wh...' }])), 'WHITEOUT_INVALID');
  });
});

describe('applyLayer: hardlinks', () => {
  test('a link to an earlier entry of the same layer shares its inode (one link group)', async () => {
    const tree = await applyAll(spill, [{ name: 'a', text: 'data', mode: 0o755 }, { name: 'b', type: 'hardlink', linkname: 'a', mode: 0o755 }, { name: 'c', type: 'hardlink', linkname: './b', mode: 0o755 }]);
    assert.deepEqual(describeTree(tree), ['a: file 0755 0:0 "data" link=a', 'b: file 0755 0:0 "data" link=a', 'c: file 0755 0:0 "data" link=a']);
  });

  test('a link to a file of a lower layer joins it; the lower path joins the group', async () => {
    const tree = await applyAll(spill, LOWER, [{ name: 'usr/bin/alias', type: 'hardlink', linkname: '/usr/bin/tool', mode: 0o755 }]);
    assert.deepEqual(describeTree(tree).filter((l) => l.startsWith('usr/bin/')), ['usr/bin/alias: file 0755 0:0 "tool" link=usr/bin/alias', 'usr/bin/tool: file 0755 0:0 "tool" link=usr/bin/alias']);
  });

  test('a later layer replacing one path leaves the other with the old content', async () => {
    const tree = await applyAll(spill, [{ name: 'a', text: 'old' }, { name: 'b', type: 'hardlink', linkname: 'a' }], [{ name: 'a', text: 'new' }]);
    assert.deepEqual(describeTree(tree), ['a: file 0644 0:0 "new"', 'b: file 0644 0:0 "old"']);
  });

  test('link targets are confined like names: ../../a is a', async () => {
    const tree = await applyAll(spill, [{ name: 'a', text: 'x' }, { name: 'd/h', type: 'hardlink', linkname: '../../a' }]);
    assert.ok(describeTree(tree).includes('d/h: file 0644 0:0 "x" link=a'));
  });

  test('a link to a symlink shares the symlink', async () => {
    const tree = await applyAll(spill, [{ name: 's', type: 'symlink', linkname: 'target', mode: 0o777 }, { name: 't', type: 'hardlink', linkname: 's', mode: 0o777 }]);
    assert.deepEqual(describeTree(tree), ['s: symlink 0777 0:0 -> target link=s', 't: symlink 0777 0:0 -> target link=s']);
  });

  test("the link header's owner and mode apply to the shared inode (containerd chowns and chmods the link path)", async () => {
    const tree = await applyAll(spill, [{ name: 'a', text: 'x', mode: 0o644 }, { name: 'b', text: 'y' }, { name: 'c', type: 'hardlink', linkname: 'a', mode: 0o600, uid: 4 }]);
    assert.deepEqual(describeTree(tree), ['a: file 0600 4:0 "x" link=a', 'b: file 0644 0:0 "y"', 'c: file 0600 4:0 "x" link=a']);
  });

  test('links to nothing, to a directory, or to the root are HARDLINK_INVALID', async () => {
    for (const linkname of ['missing', 'dir', '.']) {
      const code = await codeOfAsync(applyPy(spill, emptyDir(), [{ name: 'dir', type: 'dir' }, { name: 'h', type: 'hardlink', linkname }]));
      assert.equal(code, 'HARDLINK_INVALID', linkname);
    }
  });
});

describe('applyLayer: confinement (containerd: names cleaned inside the root, parents resolved with fs.RootPath)', () => {
  test('../ and absolute names land inside the root', async () => {
    const tree = await applyAll(spill, [{ name: '../../escape', text: 'e' }, { name: '/abs/file', text: 'a' }, { name: 'a/../../b', text: 'b' }]);
    assert.deepEqual(describeTree(tree), ['abs: dir 0755 0:0', 'abs/file: file 0644 0:0 "a"', 'b: file 0644 0:0 "b"', 'escape: file 0644 0:0 "e"']);
  });

  test('an entry below a symlink to /etc is written to the tree\'s own /etc', async () => {
    const tree = await applyAll(spill, [{ name: 'etc', type: 'dir' }, { name: 'evil', type: 'symlink', linkname: '/etc' }, { name: 'evil/passwd', text: 'owned' }, { name: 'up', type: 'symlink', linkname: '../../../../tmp' }, { name: 'up/x', text: 'x' }]);
    assert.deepEqual(describeTree(tree), ['etc: dir 0755 0:0', 'etc/passwd: file 0644 0:0 "owned"', 'evil: symlink 0644 0:0 -> /etc', 'tmp: dir 0755 0:0', 'tmp/x: file 0644 0:0 "x"', 'up: symlink 0644 0:0 -> ../../../../tmp']);
  });

  test('an entry replaces a symlink at its own path instead of writing through it', async () => {
    const tree = await applyAll(spill, [{ name: 'etc', type: 'dir' }, { name: 'etc/passwd', text: 'real' }, { name: 'link', type: 'symlink', linkname: 'etc/passwd' }, { name: 'link', text: 'replaced' }]);
    assert.deepEqual(describeTree(tree), ['etc: dir 0755 0:0', 'etc/passwd: file 0644 0:0 "real"', 'link: file 0644 0:0 "replaced"']);
  });

  test('a dangling symlink parent creates its target directories inside the root', async () => {
    const tree = await applyAll(spill, [{ name: 'l', type: 'symlink', linkname: '/made/here' }, { name: 'l/f', text: 'f' }]);
    assert.deepEqual(describeTree(tree), ['l: symlink 0644 0:0 -> /made/here', 'made: dir 0755 0:0', 'made/here: dir 0755 0:0', 'made/here/f: file 0644 0:0 "f"']);
  });

  test('a symlink loop on the way is SYMLINK_LOOP; a file on the way is NOT_A_DIRECTORY', async () => {
    assert.equal(await codeOfAsync(applyAll(spill, [{ name: 'a', type: 'symlink', linkname: 'b' }, { name: 'b', type: 'symlink', linkname: 'a' }, { name: 'a/x', text: '' }])), 'SYMLINK_LOOP');
    assert.equal(await codeOfAsync(applyAll(spill, [{ name: 'f', text: '' }, { name: 'f/x', text: '' }])), 'NOT_A_DIRECTORY');
  });
});

describe('applyLayer: limits', () => {
  const big = pyTar([{ name: 'a', bytes: 100_000 }, { name: 'b', bytes: 100_000 }]);
  const cases: [string, Buffer, Record<string, number>, string][] = [
    ['content past maxBytes', big, { maxBytes: 150_000 }, 'LAYER_TOO_LARGE'],
    ['a gzip expanding past maxRatio', gzipSync(Buffer.concat([pyTar([{ name: 'z', text: '\0'.repeat(2_000_000) }])])), { maxRatio: 50, ratioGrace: 100_000 }, 'LAYER_RATIO_EXCEEDED'],
    ['more entries than maxEntries', pyTar([{ name: 'a', text: '' }, { name: 'b', text: '' }, { name: 'c', text: '' }]), { maxEntries: 2 }, 'LAYER_TOO_MANY_ENTRIES'],
    ['a path deeper than maxDepth', pyTar([{ name: 'a/b/c/d/e', text: '' }]), { maxDepth: 4 }, 'PATH_TOO_DEEP'],
    ['a name longer than maxNameLength', pyTar([{ name: 'n'.repeat(300), text: '' }]), {}, 'NAME_TOO_LONG'],
    ['a path longer than maxPathLength', pyTar([{ name: Array.from({ length: 30 }, () => 'p'.repeat(200)).join('/'), text: '' }]), {}, 'PATH_TOO_LONG'],
    ['a symlink target longer than maxPathLength', pyTar([{ name: 'l', type: 'symlink', linkname: 't'.repeat(5000) }]), {}, 'PATH_TOO_LONG'],
    [
      'a real path made deep by a symlink',
      pyTar([{ name: 'l', type: 'symlink', linkname: 'a/b/c' }, { name: 'l/x/y', text: '' }]),
      { maxDepth: 4 },
      'PATH_TOO_DEEP',
    ],
  ];
  for (const [what, layer, limits, code] of cases) {
    test(`${what}: ${code}, and the spill file is deleted`, async () => {
      const own = SpillDir.create();
      try {
        assert.equal(await codeOfAsync(applyPy(own, emptyDir(), layer, limits)), code);
        assert.deepEqual(readdirSync(own.path), []);
      } finally {
        own.dispose();
      }
    });
  }

  test('within the limits the same layers apply', async () => {
    assert.equal(await codeOfAsync(applyPy(spill, emptyDir(), big, { maxBytes: 210_000 })), 'none');
    assert.equal(await codeOfAsync(applyPy(spill, emptyDir(), pyTar([{ name: 'a/b/c/d', text: '' }]), { maxDepth: 4 })), 'none');
  });

  test('a failed apply destroys its input', async () => {
    const input = Readable.from([pyTar([{ name: 'a/b/c/d/e', text: '' }])]);
    await assert.rejects(applyLayer(emptyDir(), input, { spill, limits: { maxDepth: 2 } }));
    assert.equal(input.destroyed, true);
  });
});

describe('applyLayer: GNU sparse files', () => {
  test('are expanded to their real size, holes as zeros (bytes equal the file GNU tar read)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kiln-sparse-'));
    try {
      const py = "import sys\nf=open(sys.argv[1],'wb'); f.seek(70000); f.write(b'data'*300); f.seek(900000); f.write(b'end'); f.truncate(2000000); f.close()";
      assert.equal(spawnSync('python3', ['-c', py, join(dir, 'sparse')]).status, 0);
      for (const format of ['gnu', 'posix']) {
        const tar = spawnSync('tar', ['--sparse', `--format=${format}`, '-cf', '-', '-C', dir, 'sparse'], { maxBuffer: 1 << 26 });
        assert.equal(tar.status, 0);
        const tree = await applyPy(spill, emptyDir(), tar.stdout);
        const node = getNode(tree, ['sparse']);
        assert.ok(node?.kind === 'file' && node.content.kind === 'file-range', format);
        assert.ok(readContentSync(node.content).equals(readFileSync(join(dir, 'sparse'))), format);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
