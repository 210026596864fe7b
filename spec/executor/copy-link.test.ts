/**
 * COPY/ADD --link, as BuildKit's reference (frontend/dockerfile/docs/reference.md,
 * "COPY --link") and convert_copy.go describe it: the copy is made onto an
 * empty directory and that directory becomes the layer, merged on top of the
 * stage (llb.Merge). So the layer holds the copied files and all their
 * parent directories, destination symlinks are not followed (the layer's
 * directory replaces them), existing directories take the created ones'
 * mode and owner, and `--chmod` turns `--link` off. Includes BuildKit's
 * testCopyLinkDotDestDir and testCopyLinkEmptyDestDir. The image's files are
 * read back from the layers (Python's tarfile), and the stage's own tree
 * (the `local` output) must agree with them.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildError, buildIt, type Built, describeFs, type Entry } from './build-kit.ts';

const FILES: Record<string, Entry> = {
  testfile: { text: 'contents0', mode: 0o600 },
  'a.txt': 'A',
  'b.txt': 'B',
  empty: { dir: true },
  'ln/dirlink': { symlink: 'realdir' },
  'ln/realdir/x': 'x',
};
const names = (b: Built, layer: number) => b.layers[layer]!.map((e) => `${e.name} ${e.type}`);

describe('COPY --link', () => {
  test('testCopyLinkDotDestDir', async () => {
    const b = await buildIt(FILES, 'FROM scratch\nWORKDIR /var/www\nCOPY --link testfile .\n');
    assert.equal(b.fs['var/www/testfile']?.text, 'contents0');
  });

  test('testCopyLinkEmptyDestDir', async () => {
    const b = await buildIt(FILES, 'FROM scratch\nWORKDIR /var/www\nENV empty=""\nCOPY --link testfile $empty\n');
    assert.equal(b.fs['var/www/testfile']?.text, 'contents0');
  });

  test('the layer is the copy onto nothing: its parent directories carry the created metadata, not the stage\'s', async () => {
    const df = (link: string) => `FROM scratch\nCOPY --chmod=700 a.txt /opt/app/keep\nCOPY ${link} b.txt /opt/app/\n`;
    const linked = await buildIt(FILES, df('--link'));
    assert.deepEqual(linked.layers[1]!.map((e) => `${e.name} ${e.type} ${e.mode.toString(8)}`), ['opt dir 755', 'opt/app dir 755', 'opt/app/b.txt file 644']);
    assert.equal(linked.fs['opt/app/keep']?.text, 'A', 'the merge keeps what was there');
    const plain = await buildIt(FILES, df(''));
    assert.deepEqual(plain.layers[1]!.map((e) => `${e.name} ${e.type} ${e.mode.toString(8)}`), ['opt dir 700', 'opt/app dir 700', 'opt/app/b.txt file 644']);
  });

  test('a destination symlink is not followed: a directory replaces it', async () => {
    const linked = await buildIt(FILES, 'FROM scratch\nCOPY ln /links/\nCOPY --link a.txt /links/dirlink/\n');
    assert.deepEqual(describeFs(linked.fs, 'links'), [
      'links: dir 0755 0:0',
      'links/dirlink: dir 0755 0:0',
      'links/dirlink/a.txt: file 0644 0:0 "A"',
      'links/realdir: dir 0755 0:0',
      'links/realdir/x: file 0644 0:0 "x"',
    ]);
    const plain = await buildIt(FILES, 'FROM scratch\nCOPY ln /links/\nCOPY a.txt /links/dirlink/\n');
    assert.equal(plain.fs['links/dirlink']?.type, 'symlink');
    assert.equal(plain.fs['links/realdir/a.txt']?.text, 'A', 'without --link the link is followed');
  });

  test("existing directories take the created directories' mode and owner", async () => {
    const df = (link: string) => `FROM scratch\nCOPY --chmod=1777 --chown=5:6 empty /tmp\nCOPY ${link} a.txt /tmp/\n`;
    const linked = await buildIt(FILES, df('--link'));
    assert.equal(describeFs(linked.fs, 'tmp')[0], 'tmp: dir 0755 0:0');
    const plain = await buildIt(FILES, df(''));
    assert.equal(describeFs(plain.fs, 'tmp')[0], 'tmp: dir 1777 5:6');
    const owned = await buildIt(FILES, `${df('--link --chown=7:8').trimEnd()}\n`);
    assert.deepEqual(describeFs(owned.fs, 'tmp'), ['tmp: dir 0755 7:8', 'tmp/a.txt: file 0644 7:8 "A"'], 'created parents take the --chown owner');
  });

  test('a file replaces a directory of the stage (the copy cannot see it)', async () => {
    const b = await buildIt(FILES, 'FROM scratch\nCOPY ln /exists/\nCOPY --link a.txt /exists\n');
    assert.deepEqual(describeFs(b.fs, 'exists'), ['exists: file 0644 0:0 "A"']);
  });

  test('--chmod turns --link off (convert_copy.go: link && chmod == "")', async () => {
    const b = await buildIt(FILES, 'FROM scratch\nCOPY ln /links/\nCOPY --link --chmod=600 a.txt /links/dirlink/\n');
    assert.equal(b.fs['links/dirlink']?.type, 'symlink');
    assert.equal(describeFs(b.fs, 'links/realdir/a.txt')[0], 'links/realdir/a.txt: file 0600 0:0 "A"');
    assert.ok(!names(b, 1).includes('links/dirlink dir'));
  });

  test('--chown by name is refused; numeric ids and root are fine', async () => {
    const err = await buildError(FILES, 'FROM scratch\nCOPY --link --chown=app a.txt /x\n');
    assert.deepEqual([err.code, err.line], ['COPY_LINK_CHOWN_NAME', 2]);
    assert.equal((await buildError(FILES, 'FROM scratch\nCOPY --link --chown=1:staff a.txt /x\n')).code, 'COPY_LINK_CHOWN_NAME');
    const b = await buildIt(FILES, 'FROM scratch\nCOPY --link --chown=root:7 a.txt /x\n');
    assert.equal(describeFs(b.fs, 'x')[0], 'x: file 0644 0:7 "A"');
  });

  test("the stage's tree after --link is what the layers give (local output vs. layers)", async () => {
    const out = mkdtempSync(join(tmpdir(), 'kiln-link-out-'));
    try {
      const dest = join(out, 'root');
      const b = await buildIt(
        FILES,
        'FROM scratch\nCOPY ln /links/\nCOPY --chmod=1777 empty /tmp\nCOPY --link a.txt /links/dirlink/\nCOPY --link ln /tmp/\nCOPY --link b.txt /links/realdir/x\n',
        { outputs: [{ type: 'local', dest }] },
      );
      const seen: string[] = [];
      const walk = (rel: string): void => {
        for (const name of readdirSync(join(dest, rel)).sort()) {
          const p = rel === '' ? name : `${rel}/${name}`;
          const st = lstatSync(join(dest, p));
          const kind = st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : 'file';
          const tail = kind === 'symlink' ? ` -> ${readlinkSync(join(dest, p))}` : kind === 'file' ? ` ${JSON.stringify(readFileSync(join(dest, p), 'utf8'))}` : '';
          seen.push(`${p}: ${kind} ${(st.mode & 0o7777).toString(8).padStart(4, '0')}${tail}`);
          if (kind === 'dir') walk(p);
        }
      };
      walk('');
      const fromLayers = describeFs(b.fs).map((l) => l.replace(/ \d+:\d+/, ''));
      assert.deepEqual(seen, fromLayers);
      assert.ok(fromLayers.includes('tmp: dir 0755') && fromLayers.includes('links/realdir/x: file 0644 "B"'));
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  test('ADD --link of an archive unpacks onto the empty layer too', async () => {
    const b = await buildIt(FILES, 'FROM scratch\nCOPY a.txt /opt/old\nADD --link pkg.tar /opt/\n', {
      prepare: (ctx) => {
        execFileSync('tar', ['-cf', join(ctx, 'pkg.tar'), '-C', join(ctx, 'ln'), 'realdir']);
      },
    });
    assert.deepEqual(names(b, 1), ['opt dir', 'opt/realdir dir', 'opt/realdir/x file']);
    assert.equal(b.fs['opt/old']?.text, 'A');
  });
});
