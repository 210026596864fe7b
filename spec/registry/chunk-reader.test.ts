/** ChunkReader: a byte stream cut into consecutive runs (the PATCH bodies of a chunked upload), without copies. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { ChunkReader } from '../../lib/registry/blob-upload.ts';

const data = Buffer.from(Array.from({ length: 1000 }, (_, i) => i % 251));

async function collect(it: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const p of it) parts.push(p);
  return Buffer.concat(parts);
}

test('runs of the asked lengths, whatever the input pieces, and the pieces are views (no copies)', async () => {
  for (const pieceSize of [1, 7, 400, 1000]) {
    const pieces = Array.from({ length: Math.ceil(data.length / pieceSize) }, (_, i) => data.subarray(i * pieceSize, (i + 1) * pieceSize));
    const r = new ChunkReader(Readable.from(pieces));
    const runs: Buffer[] = [];
    for (const len of [300, 300, 300, 100]) runs.push(await collect(r.take(len)));
    await r.end();
    assert.deepEqual(runs.map((b) => b.length), [300, 300, 300, 100], `pieces of ${pieceSize}`);
    assert.ok(Buffer.concat(runs).equals(data));
  }
  const one = new ChunkReader(Readable.from([data]));
  const first = await one.take(10).next();
  assert.equal((first.value as Buffer).buffer, data.buffer, 'a view into the input');
});

test('a stream shorter or longer than the runs asked for fails', async () => {
  const short = new ChunkReader(Readable.from([data]));
  await assert.rejects(collect(short.take(1001)), /1 bytes short/);
  const long = new ChunkReader(Readable.from([data]));
  await collect(long.take(900));
  await assert.rejects(long.end(), /100 bytes longer/);
});

test('a source that fails before the first read delivers its error to take, not as an uncaught exception', async () => {
  const src = new Readable({ read() {} });
  const r = new ChunkReader(src);
  src.destroy(new Error('verifier said no'));
  await new Promise((res) => setImmediate(res));
  await assert.rejects(collect(r.take(10)), /verifier said no/);
});
