/**
 * SpillDir / SpillFile and the readers of file-range contents: bytes
 * appended in small and large pieces come back at their offsets (checked
 * against the same bytes kept here, and the spill file read with fs).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { join } from 'node:path';
import { type ContentRef, contentStream, copyContentSync, openContent, readContentSync, sameContent, SpillDir } from '../../lib/vfs/index.ts';
import { codeOf } from './tree-kit.ts';

function bytes(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

async function streamed(ref: ContentRef, size: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of contentStream(ref, size)) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

describe('SpillDir and SpillFile', () => {
  test('appended pieces (tiny, batched, larger than the batch) are readable at their offsets after close', async () => {
    const dir = SpillDir.create();
    try {
      const f = dir.newFile();
      const pieces = [bytes(10, 1), bytes(0, 2), bytes(700_000, 3), bytes(300_000, 4), bytes(5, 5), bytes(2_500_000, 6), bytes(1, 7)];
      const refs: ContentRef[] = [];
      for (const p of pieces) {
        refs.push({ kind: 'file-range', path: f.path, offset: f.size, size: p.length });
        f.append(p);
      }
      f.close();
      assert.equal(statSync(f.path).size, pieces.reduce((n, p) => n + p.length, 0));
      assert.ok(readFileSync(f.path).equals(Buffer.concat(pieces)));
      for (const [i, p] of pieces.entries()) {
        assert.ok(readContentSync(refs[i]!).equals(p), `piece ${i} (sync)`);
        assert.ok((await streamed(refs[i]!, p.length)).equals(p), `piece ${i} (stream)`);
        const copied: Buffer[] = [];
        copyContentSync(refs[i]!, p.length, (c) => copied.push(Buffer.from(c)));
        assert.ok(Buffer.concat(copied).equals(p), `piece ${i} (copy)`);
        assert.ok(copied.every((c) => c.length <= 1 << 20), 'copies in pieces of at most 1 MiB');
      }
      assert.ok(Buffer.isBuffer(openContent(refs[0]!, 10)), 'small ranges are read at once');
      const large = openContent(refs[5]!, 2_500_000);
      assert.ok(!Buffer.isBuffer(large), 'large ranges are streamed');
      large.destroy();
      await once(large, 'close');
    } finally {
      dir.dispose();
    }
  });

  test('each new file has its own name; dispose removes the directory; a disposed dir refuses new files', () => {
    const dir = SpillDir.create();
    const a = dir.newFile();
    const b = dir.newFile();
    assert.notEqual(a.path, b.path);
    a.close();
    b.close();
    assert.equal(readdirSync(dir.path).length, 2);
    dir.dispose();
    assert.equal(existsSync(dir.path), false);
    assert.equal(codeOf(() => dir.newFile()), 'SPILL_DISPOSED');
  });

  test('discard deletes a partial file; append after close is SPILL_CLOSED', () => {
    const dir = SpillDir.create();
    try {
      const f = dir.newFile();
      f.append(Buffer.from('partial'));
      f.discard();
      assert.equal(existsSync(f.path), false);
      const g = dir.newFile();
      g.close();
      assert.equal(codeOf(() => g.append(Buffer.from('x'))), 'SPILL_CLOSED');
    } finally {
      dir.dispose();
    }
  });

  test('a range past the end of its file is CONTENT_MISSING', () => {
    const dir = SpillDir.create();
    try {
      const p = join(dir.path, 'short');
      writeFileSync(p, 'abc');
      assert.equal(codeOf(() => readContentSync({ kind: 'file-range', path: p, offset: 1, size: 5 })), 'CONTENT_MISSING');
      assert.equal(readContentSync({ kind: 'file-range', path: p, offset: 1, size: 2 }).toString(), 'bc');
    } finally {
      dir.dispose();
    }
  });
});

describe('sameContent', () => {
  test('ranges are the same only with the same path, offset and size; kinds never mix', () => {
    const r = { kind: 'file-range', path: '/s', offset: 5, size: 3 } as const;
    assert.equal(sameContent(r, { ...r }), true);
    assert.equal(sameContent(r, { ...r, offset: 6 }), false);
    assert.equal(sameContent(r, { ...r, size: 4 }), false);
    assert.equal(sameContent(r, { ...r, path: '/t' }), false);
    assert.equal(sameContent(r, { kind: 'host-file', path: '/s' }), false);
    assert.equal(sameContent({ kind: 'bytes', data: Buffer.from('ab') }, { kind: 'bytes', data: Buffer.from('ab') }), true);
  });
});
