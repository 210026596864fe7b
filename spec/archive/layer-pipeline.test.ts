import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import * as zlib from 'node:zlib';
import { gzip as pakoGzip } from 'pako';
import { ArchiveError, packLayer, tarStream, type TarWriteEntry } from '../../lib/archive/index.ts';
import { collect, pythonList, run, tempDir } from './tar-tools.ts';

const T = 1_700_000_000;
const hasZstd = typeof (zlib as unknown as { createZstdCompress?: unknown }).createZstdCompress === 'function';

function entries(): TarWriteEntry[] {
  const big = Buffer.alloc(300_000, 'kiln layer ');
  return [
    { name: 'app', type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: T + 50, size: 0 },
    { name: 'app/big', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: T, size: big.length, body: () => Readable.from([big]) },
    { name: 'app/run.sh', type: 'file', mode: 0o755, uid: 1, gid: 1, mtime: T + 99, size: 3, body: () => Buffer.from('hi\n') },
    { name: 'app/link', type: 'symlink', linkname: 'run.sh', mode: 0o777, uid: 0, gid: 0, mtime: T, size: 0 },
  ];
}

/** Writes `bytes` to a temp file and runs `script` in sh with that file as $1. */
function shell(bytes: Buffer, script: string): string {
  const { dir, cleanup } = tempDir();
  try {
    const file = join(dir, 'blob');
    writeFileSync(file, bytes);
    return run('sh', ['-c', script, 'sh', file]).toString().trim();
  } finally {
    cleanup();
  }
}

describe('packLayer', () => {
  it('gzip: diffId and size are those of the gunzipped output, computed by gzip and sha256sum', async () => {
    const { stream, uncompressed } = packLayer(entries(), { compression: 'gzip' });
    const blob = await collect(stream);
    const { diffId, size } = await uncompressed;
    assert.equal(diffId, `sha256:${shell(blob, 'gzip -dc < "$1" | sha256sum').split(' ')[0]}`);
    assert.equal(size, Number(shell(blob, 'gzip -dc < "$1" | wc -c')));
  });

  it('gzip: the blob is the gzip of the deterministic tar, byte for byte as pako makes it, at the given level', async () => {
    const tar = await collect(tarStream(entries(), { mtimeClamp: T }));
    for (const level of [1, 6]) {
      const { stream, uncompressed } = packLayer(entries(), { compression: 'gzip', level, mtimeClamp: T });
      const blob = await collect(stream);
      assert.ok(blob.equals(Buffer.from(pakoGzip(tar, { level }))), `level ${level}`);
      assert.equal((await uncompressed).size, tar.length);
    }
  });

  it('applies mtimeClamp', async () => {
    const { stream } = packLayer(entries(), { compression: 'gzip', mtimeClamp: T });
    const blob = await collect(stream);
    const { dir, cleanup } = tempDir();
    try {
      writeFileSync(join(dir, 'layer.tar'), run('gzip', ['-dc'], { input: blob }));
      const mtimes = pythonList(join(dir, 'layer.tar')).members.map((m) => m.mtime);
      assert.deepEqual(mtimes, [T, T, T, T]);
    } finally {
      cleanup();
    }
  });

  it('none: the stream is the tar itself and diffId its sha256', async () => {
    const { stream, uncompressed } = packLayer(entries(), { compression: 'none' });
    const tar = await collect(stream);
    const expected = shell(tar, 'sha256sum < "$1"').split(' ')[0];
    assert.equal((await uncompressed).diffId, `sha256:${expected}`);
    assert.equal((await uncompressed).size, tar.length);
  });

  it('zstd: the diffID is that of what the zstd program decompresses', async () => {
    const { stream, uncompressed } = packLayer(entries(), { compression: 'zstd' });
    const blob = await collect(stream);
    assert.equal((await uncompressed).diffId, `sha256:${shell(blob, 'zstd -dc < "$1" | sha256sum').split(' ')[0]}`);
  });

  it('streams: an unread layer holds only a bounded part of a large body in memory', async () => {
    // Incompressible, so that the compressor's own buffer limits apply to it.
    const total = 32 * 1024 * 1024;
    let produced = 0;
    const body = () =>
      new Readable({
        read() {
          if (produced >= total) return void this.push(null);
          const n = Math.min(1024 * 1024, total - produced);
          produced += n;
          this.push(randomBytes(n));
        },
      });
    const { stream, uncompressed } = packLayer([{ name: 'huge', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: T, size: total, body }], { compression: 'gzip', level: 1 });
    await sleep(100);
    assert.ok(produced < 8 * 1024 * 1024, `produced ${produced} bytes before anyone read`);
    const blob = await collect(stream);
    assert.equal(produced, total);
    const { diffId, size } = await uncompressed;
    assert.equal(size, total + 512 + 1024);
    assert.equal(diffId, `sha256:${shell(blob, 'gzip -dc < "$1" | sha256sum').split(' ')[0]}`);
  });

  it('fails both the stream and uncompressed when a body has the wrong size', async () => {
    const bad: TarWriteEntry = { name: 'f', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: T, size: 10, body: () => Readable.from([Buffer.from('short')]) };
    const { stream, uncompressed } = packLayer([bad], { compression: 'gzip' });
    const isMismatch = (err: unknown) => err instanceof ArchiveError && err.code === 'TAR_SIZE_MISMATCH';
    await assert.rejects(collect(stream), isMismatch);
    await assert.rejects(uncompressed, isMismatch);
  });

  it('rejects uncompressed when the caller destroys the stream', async () => {
    const { stream, uncompressed } = packLayer(entries(), { compression: 'gzip' });
    stream.destroy();
    await assert.rejects(uncompressed);
  });
});
