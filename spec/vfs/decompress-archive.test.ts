/**
 * decompressArchive / detectArchive: the compressions ADD recognizes in a
 * local archive, told from the first bytes (go-archive's DetectCompression
 * magics), bzip2 and xz (and zstd on Node 20) through the system's tools.
 * Compressed inputs are made by those tools themselves (`bzip2 -c`, `xz -c`,
 * `zstd -c`, `gzip -c`), archives by Python's tarfile.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { decompressArchive, detectArchive, extractTarInto, getNode, sniffArchiveCompression, SpillDir } from '../../lib/vfs/index.ts';
import { codeOfAsync } from './apply-kit.ts';
import { pyTar } from './py-tar.ts';

const spill = SpillDir.create();
after(() => spill.dispose());
const bytesRef = (data: Buffer) => ({ kind: 'bytes', data }) as const;
const TOOL_FLAGS = { gzip: ['-c'], bzip2: ['-c'], xz: ['-c'], zstd: ['-q', '-c'] } as const;
const compress = (tool: keyof typeof TOOL_FLAGS, data: Buffer) => execFileSync(tool, [...TOOL_FLAGS[tool]], { input: data, maxBuffer: 1 << 28 });
const collect = async (r: Readable) => {
  const parts: Buffer[] = [];
  for await (const c of r) parts.push(c as Buffer);
  return Buffer.concat(parts);
};
const MISSING = { bzip2: ['/nonexistent/bzip2', '-dc'], xz: ['/nonexistent/xz', '-dc'], zstd: ['/nonexistent/zstd', '-dc'] };

describe('decompressArchive', () => {
  const payload = Buffer.from('x'.repeat(100_000) + 'the end');

  for (const tool of ['gzip', 'bzip2', 'xz', 'zstd'] as const) {
    test(`${tool}: sniffed from the magic bytes and decompressed to the original bytes`, async () => {
      const packed = compress(tool, payload);
      assert.equal(sniffArchiveCompression(packed), tool);
      // Fed in small pieces: the magic may arrive split.
      const pieces = Array.from({ length: Math.ceil(packed.length / 3) }, (_, i) => packed.subarray(i * 3, i * 3 + 3));
      assert.ok((await collect(decompressArchive(Readable.from(pieces)))).equals(payload));
    });
  }

  test('uncompressed input passes through', async () => {
    assert.equal(sniffArchiveCompression(payload), 'none');
    assert.ok((await collect(decompressArchive(Readable.from([payload])))).equals(payload));
  });

  test('a missing tool is DECOMPRESSOR_MISSING; data the tool rejects is COMPRESSION_INVALID', async () => {
    assert.equal(await codeOfAsync(collect(decompressArchive(Readable.from([compress('xz', payload)]), MISSING))), 'DECOMPRESSOR_MISSING');
    const cut = compress('bzip2', payload);
    assert.equal(await codeOfAsync(collect(decompressArchive(Readable.from([cut.subarray(0, cut.length - 20)])))), 'COMPRESSION_INVALID');
  });

  test('a consumer that stops early kills the tool: no process outlives the stream', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kiln-dc-'));
    try {
      const pidFile = join(dir, 'pid');
      // A "decompressor" that records its pid, copies stdin, and would then linger: only a kill ends it early.
      const tool = ['sh', '-c', `echo $$ > ${pidFile}; cat; exec sleep 30`];
      const endless = new Readable({ read() { this.push(Buffer.alloc(65536, 1)); } });
      const out = decompressArchive(Readable.from((async function* () { yield Buffer.from([0x42, 0x5a, 0x68, 0x39, 0, 0]); yield* endless; })()), { ...MISSING, bzip2: tool });
      for await (const _ of out) break;
      const pid = Number(readFileSync(pidFile, 'utf8'));
      assert.ok(pid > 0);
      let alive = true;
      for (let i = 0; i < 50 && alive; i++) {
        await new Promise((r) => setTimeout(r, 20));
        try {
          process.kill(pid, 0);
        } catch {
          alive = false;
        }
      }
      assert.equal(alive, false, 'the tool was killed');
      endless.destroy();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('detectArchive and extractTarInto with bzip2, xz, zstd', () => {
  const tar = pyTar([{ name: 'pkg/a', text: 'A' }, { name: 'pkg/l', type: 'symlink', linkname: 'a' }]);

  for (const tool of ['bzip2', 'xz', 'zstd'] as const) {
    test(`${tool}: a compressed tar is an archive and unpacks; other compressed data is not an archive`, async () => {
      const packed = compress(tool, tar);
      assert.equal(await detectArchive(bytesRef(packed), packed.length), `tar+${tool}`);
      const notTar = compress(tool, Buffer.from('just text, not a tar header at all'.repeat(40)));
      assert.equal(await detectArchive(bytesRef(notTar), notTar.length), 'not-an-archive');
      const tree = await extractTarInto({ kind: 'dir', meta: { mode: 0o755, uid: 0, gid: 0, mtime: 0 }, children: new Map() }, '/opt', bytesRef(packed), { mode: 0o755, uid: 0, gid: 0, mtime: 1 }, { spill });
      const a = getNode(tree, ['opt', 'pkg', 'a']);
      assert.ok(a?.kind === 'file' && a.size === 1);
      assert.equal(getNode(tree, ['opt', 'pkg', 'l'])?.kind, 'symlink');
    });
  }

  test('a corrupt stream with a valid magic is not an archive; a missing tool is an error, not a guess', async () => {
    const fake = Buffer.from('BZh9 and then garbage that bzip2 rejects');
    assert.equal(await detectArchive(bytesRef(fake), fake.length), 'not-an-archive');
    const packed = compress('xz', tar);
    assert.equal(await codeOfAsync(detectArchive(bytesRef(packed), packed.length, MISSING)), 'DECOMPRESSOR_MISSING');
  });

  test('symlinks pointing outside the destination are kept as written; entries written through them stay inside it', async () => {
    const empty = { kind: 'dir', meta: { mode: 0o755, uid: 0, gid: 0, mtime: 0 }, children: new Map() } as const;
    const tar2 = pyTar([{ name: 'a/b/link', type: 'symlink', linkname: '../../../x' }, { name: 'a/b/link/f', text: 'f' }]);
    const tree = await extractTarInto(empty, '/opt', bytesRef(tar2), empty.meta, { spill });
    const link = getNode(tree, ['opt', 'a', 'b', 'link']);
    assert.ok(link?.kind === 'symlink' && link.target === '../../../x');
    assert.equal(getNode(tree, ['opt', 'x', 'f'])?.kind, 'file', 'resolved inside /opt, as Untar chrooted there');
    assert.equal(getNode(tree, ['x']), undefined);
  });
});
