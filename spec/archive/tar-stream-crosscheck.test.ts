/**
 * A second, independent JavaScript tar implementation (tar-stream, a dev
 * dependency kept for exactly this) reads what kiln writes, and kiln reads
 * what tar-stream writes. kiln does not use tar-stream itself: its own codec
 * controls PAX record order (determinism) and accepts layer tars that stop
 * short of the end-of-archive blocks (umoci), which tar-stream rejects.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import tarStream from 'tar-stream';
import { readTar, type TarHeader, tarStream as kilnTar, type TarWriteEntry } from '../../lib/archive/index.ts';
import { collect } from './tar-tools.ts';

const long = `${'d'.repeat(120)}/${'f'.repeat(110)}`;
const entries: TarWriteEntry[] = [
  { name: 'a', type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: 1_600_000_000, size: 0 },
  { name: 'a/file.txt', type: 'file', mode: 0o640, uid: 1000, gid: 1001, mtime: 1_600_000_001, size: 5, body: () => Buffer.from('hello') },
  { name: 'a/link', type: 'symlink', mode: 0o777, uid: 0, gid: 0, mtime: 1_600_000_002, size: 0, linkname: 'file.txt' },
  { name: long, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 1_600_000_003, size: 3, body: () => Buffer.from('abc') },
];

test('tar-stream reads kiln tars: names (PAX long names), types, modes, owners, mtimes, contents', async () => {
  const bytes = await collect(kilnTar(entries));
  const seen: { name: string; type: string; mode: number; uid: number; gid: number; mtime: number; linkname: string | null; body: string }[] = [];
  const extract = tarStream.extract();
  extract.on('entry', (h, stream, next) => {
    const parts: Buffer[] = [];
    stream.on('data', (c: unknown) => parts.push(c as Buffer));
    stream.on('end', () => {
      seen.push({ name: h.name, type: h.type ?? '', mode: h.mode ?? -1, uid: h.uid ?? -1, gid: h.gid ?? -1, mtime: (h.mtime?.getTime() ?? 0) / 1000, linkname: h.linkname ?? null, body: Buffer.concat(parts).toString() });
      next();
    });
  });
  await new Promise<void>((resolve, reject) => {
    extract.on('finish', resolve).on('error', reject);
    extract.end(bytes);
  });
  assert.deepEqual(
    seen.map((e) => [e.name.replace(/\/$/, ''), e.type, e.mode, e.uid, e.gid, e.mtime, e.body]),
    entries.map((e) => [e.name, e.type, e.mode, e.uid, e.gid, e.mtime, e.type === 'file' ? (e.body!() as Buffer).toString() : '']),
  );
  assert.equal(seen[2]!.linkname, 'file.txt');
});

test('kiln reads tars written by tar-stream', async () => {
  const pack = tarStream.pack();
  pack.entry({ name: 'x/', type: 'directory', mode: 0o700, uid: 5, gid: 6, mtime: new Date(1_500_000_000_000) });
  pack.entry({ name: `x/${'n'.repeat(150)}`, mode: 0o600, uid: 7, gid: 8, mtime: new Date(1_500_000_001_000) }, 'content');
  pack.finalize();
  const got: [TarHeader, string][] = [];
  await readTar(Readable.from(await collect(pack as unknown as Readable)), async (h, body) => {
    got.push([h, (await collect(body)).toString()]);
  });
  assert.deepEqual(got.map(([h, b]) => [h.name, h.type, h.mode, h.uid, h.gid, h.mtime, b]), [
    ['x', 'directory', 0o700, 5, 6, 1_500_000_000, ''],
    [`x/${'n'.repeat(150)}`, 'file', 0o600, 7, 8, 1_500_000_001, 'content'],
  ]);
});
