import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { type Duplex, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, it } from 'node:test';
import * as zlib from 'node:zlib';
import { gzip as pakoGzip } from 'pako';
import { ArchiveError, compressStream, decompressStream, detectCompression, gzipStream } from '../../lib/archive/index.ts';
import { chunked, collect, run } from './tar-tools.ts';

const hasZstd = typeof (zlib as unknown as { createZstdDecompress?: unknown }).createZstdDecompress === 'function';

/** ~1.5 MB that compresses somewhat: seeded pseudo-random words plus a random block. */
function sampleData(): Buffer {
  const words = ['layer', 'tar', 'kiln', 'oci', 'digest', 'gzip', '\n', ' ', 'manifest', '{"a":1}'];
  let s = 42;
  const parts: string[] = [];
  for (let i = 0; i < 200_000; i++) {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    parts.push(words[s % words.length]!);
  }
  return Buffer.concat([Buffer.from(parts.join('')), randomBytes(100_000), Buffer.from(parts.slice(0, 5000).join(''))]);
}

async function through(input: Readable, t: Duplex): Promise<Buffer> {
  const [out] = await Promise.all([collect(t), pipeline(input, t)]);
  return out;
}

describe('detectCompression', () => {
  it('recognizes gzip and zstd magic bytes from the real tools', () => {
    assert.equal(detectCompression(run('gzip', ['-c'], { input: Buffer.from('x') })), 'gzip');
    assert.equal(detectCompression(run('zstd', ['-c'], { input: Buffer.from('x') })), 'zstd');
    assert.equal(detectCompression(run('tar', ['-cf', '-', '--files-from', '/dev/null'])), 'none');
    assert.equal(detectCompression(new Uint8Array([0x1f])), 'none');
    assert.equal(detectCompression(new Uint8Array([0x28, 0xb5, 0x2f])), 'none');
  });
});

describe('gzipStream', () => {
  const data = sampleData();
  for (const level of [1, 6, 9]) {
    it(`gives the same bytes as pako 3 at level ${level}, however the input is chunked`, async () => {
      const expected = Buffer.from(pakoGzip(data, { level }));
      assert.ok((await through(chunked(data), gzipStream(level))).equals(expected));
      assert.ok((await through(Readable.from([data]), gzipStream(level))).equals(expected));
    });
  }

  it('defaults to level 6 and writes what gzip -d reads back', async () => {
    const out = await through(Readable.from([data]), gzipStream());
    assert.ok(out.equals(Buffer.from(pakoGzip(data, { level: 6 }))));
    assert.ok(run('gzip', ['-dc'], { input: out }).equals(data));
    assert.equal(out.readUInt32LE(4), 0, 'header mtime is 0');
  });
});

describe('compressStream', () => {
  it('passes data through for none and gzips for gzip', async () => {
    const data = sampleData();
    assert.ok((await through(chunked(data), compressStream('none'))).equals(data));
    assert.ok(run('gzip', ['-dc'], { input: await through(Readable.from([data]), compressStream('gzip', 1)) }).equals(data));
  });

  it(`zstd: compresses (${hasZstd ? 'node:zlib' : 'the zstd program'}); the zstd program reads it back, at several levels`, async () => {
    const data = sampleData();
    for (const level of [1, 3, 19]) {
      const out = await through(chunked(data), compressStream('zstd', level));
      assert.ok(run('zstd', ['-dc'], { input: out }).equals(data), `level ${level}`);
    }
    const a = await through(Readable.from([data]), compressStream('zstd', 3));
    const b = await through(chunked(data), compressStream('zstd', 3));
    assert.ok(a.equals(b), 'the same bytes however the input is chunked');
  });
});

describe('decompressStream', () => {
  const data = sampleData();

  it('gunzips what gzip wrote, across chunk boundaries', async () => {
    const gz = run('gzip', ['-c', '-9'], { input: data });
    assert.ok((await collect(decompressStream(chunked(gz)))).equals(data));
    assert.ok((await collect(decompressStream(Readable.from([gz])))).equals(data));
  });

  it('gunzips multi-member gzip streams', async () => {
    const gz = Buffer.concat([run('gzip', ['-c'], { input: Buffer.from('one ') }), run('gzip', ['-c'], { input: Buffer.from('two') })]);
    assert.equal((await collect(decompressStream(chunked(gz, [1])))).toString(), 'one two');
  });

  it('passes uncompressed input through, including empty and tiny inputs', async () => {
    assert.ok((await collect(decompressStream(chunked(data, [1, 2, 70_000])))).equals(data));
    assert.equal((await collect(decompressStream(Readable.from([])))).length, 0);
    assert.equal((await collect(decompressStream(Readable.from([Buffer.from('ab')])))).toString(), 'ab');
  });

  it('zstd: decompresses what the zstd program wrote; a corrupt frame fails with COMPRESSION_INVALID', async () => {
    const zst = run('zstd', ['-c'], { input: data });
    assert.ok((await collect(decompressStream(chunked(zst)))).equals(data));
    const corrupt = Buffer.from(zst);
    corrupt.fill(0x55, 20, 60);
    await assert.rejects(collect(decompressStream(Readable.from([corrupt]))), (err: unknown) => err instanceof ArchiveError && err.code === 'COMPRESSION_INVALID');
  });

  it('fails with COMPRESSION_INVALID on corrupt or truncated gzip', async () => {
    const gz = run('gzip', ['-c'], { input: data });
    const corrupt = Buffer.from(gz);
    corrupt.fill(0x55, 100, 200);
    const isInvalid = (err: unknown) => err instanceof ArchiveError && err.code === 'COMPRESSION_INVALID';
    await assert.rejects(collect(decompressStream(Readable.from([corrupt]))), isInvalid);
    await assert.rejects(collect(decompressStream(Readable.from([gz.subarray(0, gz.length - 100)]))), isInvalid);
  });

  it('passes an input failure through unchanged', async () => {
    const gz = run('gzip', ['-c'], { input: data });
    const failure = new Error('disk gone');
    const input = new Readable({
      read() {
        this.push(gz.subarray(0, 1000));
        this.destroy(failure);
      },
    });
    await assert.rejects(collect(decompressStream(input)), (err) => err === failure);
  });

  it('destroys its input when destroyed', async () => {
    const gz = run('gzip', ['-c'], { input: data });
    const input = chunked(gz, [4096]);
    const out = decompressStream(input);
    out.once('data', () => out.destroy());
    await once(out, 'close');
    await new Promise((r) => setImmediate(r));
    assert.ok(input.destroyed);
  });
});
