import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmod, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { ContentError, ContentStore } from '../../lib/content/index.ts';
import { type Digest, parseDigest } from '../../lib/digest/index.ts';

let root: string;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'kiln-cas-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

/** sha256 by GNU coreutils, not by kiln. */
function sha256sum(path: string): Digest {
  return parseDigest(`sha256:${execFileSync('sha256sum', [path], { encoding: 'utf8' }).split(' ')[0]}`);
}

function hexOf(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

async function freshStore(): Promise<ContentStore> {
  return new ContentStore(await mkdtemp(join(root, 'store-')));
}

async function blobFiles(store: ContentStore): Promise<string[]> {
  return readdir(join(store.root, 'blobs', 'sha256')).catch(() => []);
}

async function tmpFiles(store: ContentStore): Promise<string[]> {
  return readdir(join(store.root, '.kiln-tmp')).catch(() => []);
}

function chunked(bytes: Buffer, size = 1000): Readable {
  const parts: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size) parts.push(bytes.subarray(i, i + size));
  return Readable.from(parts);
}

async function drain(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

describe('ContentStore', () => {
  it('stores a stream under blobs/sha256/<hex> of its bytes and reads it back', async () => {
    const store = await freshStore();
    const bytes = randomBytes(300_000);
    const got = await store.put(chunked(bytes));
    assert.equal(got.size, bytes.length);
    const path = join(store.root, 'blobs', 'sha256', hexOf(bytes));
    assert.equal(store.path(got.digest), path);
    assert.equal(sha256sum(path), got.digest);
    assert.deepEqual(await readFile(path), bytes);
    assert.equal(await store.has(got.digest), true);
    assert.deepEqual(await store.stat(got.digest), { size: bytes.length });
    assert.deepEqual(await drain(await store.open(got.digest, { size: bytes.length })), bytes);
    assert.deepEqual(await store.readBytes(got.digest, 1 << 20), bytes);
    assert.deepEqual(await tmpFiles(store), []);
  });

  it('accepts the right expectation and is idempotent', async () => {
    const store = await freshStore();
    const bytes = Buffer.from('hello, store\n');
    const digest = parseDigest(`sha256:${hexOf(bytes)}`);
    assert.deepEqual(await store.put(chunked(bytes, 3), { digest, size: bytes.length }), { digest, size: bytes.length });
    assert.deepEqual(await store.put(chunked(bytes, 5), { digest }), { digest, size: bytes.length });
    assert.deepEqual(await store.putBytes(bytes, { digest }), { digest, size: bytes.length });
    assert.deepEqual(await blobFiles(store), [hexOf(bytes)]);
    assert.deepEqual(await tmpFiles(store), []);
  });

  it('refuses bytes that do not match the expected digest and keeps nothing', async () => {
    const store = await freshStore();
    const expected = parseDigest(`sha256:${hexOf(Buffer.from('the real thing'))}`);
    await assert.rejects(store.put(chunked(Buffer.from('an impostor!!!')), { digest: expected }), (err: unknown) => {
      assert.ok(err instanceof ContentError);
      assert.equal(err.code, 'DIGEST_MISMATCH');
      return true;
    });
    await assert.rejects(store.putBytes(Buffer.from('an impostor!!!'), { digest: expected }), { code: 'DIGEST_MISMATCH' });
    assert.equal(await store.has(expected), false);
    assert.deepEqual(await blobFiles(store), []);
    assert.deepEqual(await tmpFiles(store), []);
  });

  it('refuses too few or too many bytes (SIZE_MISMATCH) and keeps nothing', async () => {
    const store = await freshStore();
    const bytes = randomBytes(10_000);
    await assert.rejects(store.put(chunked(bytes), { size: bytes.length + 1 }), { name: 'ContentError', code: 'SIZE_MISMATCH' });
    await assert.rejects(store.put(chunked(bytes), { size: 100 }), { name: 'ContentError', code: 'SIZE_MISMATCH' });
    await assert.rejects(store.putBytes(bytes, { size: 1 }), { code: 'SIZE_MISMATCH' });
    assert.deepEqual(await blobFiles(store), []);
    assert.deepEqual(await tmpFiles(store), []);
  });

  it('keeps nothing when the body fails midway, and passes the failure on', async () => {
    const store = await freshStore();
    const body = Readable.from((async function* () {
      yield randomBytes(5000);
      throw new Error('source broke');
    })());
    await assert.rejects(store.put(body), /source broke/);
    assert.deepEqual(await blobFiles(store), []);
    assert.deepEqual(await tmpFiles(store), []);
  });

  it('survives many concurrent puts of the same blob', async () => {
    const store = await freshStore();
    const bytes = randomBytes(200_000);
    const results = await Promise.all(Array.from({ length: 12 }, (_, i) => (i % 2 === 0 ? store.put(chunked(bytes, 777 + i)) : store.putBytes(bytes))));
    for (const r of results) assert.equal(r.digest, `sha256:${hexOf(bytes)}`);
    assert.deepEqual(await blobFiles(store), [hexOf(bytes)]);
    assert.equal(sha256sum(store.path(results[0]!.digest)), results[0]!.digest);
    assert.deepEqual(await tmpFiles(store), []);
  });

  it('stores blobs read-only', async () => {
    const store = await freshStore();
    const { digest } = await store.putBytes(Buffer.from('ro'));
    assert.equal((await stat(store.path(digest))).mode & 0o777, 0o444);
  });

  it('detects a blob corrupted behind its back on open and readBytes', async () => {
    const store = await freshStore();
    const bytes = randomBytes(70_000);
    const { digest } = await store.putBytes(bytes);
    const corrupt = Buffer.from(bytes);
    corrupt[12_345] = corrupt[12_345]! ^ 0xff;
    await chmod(store.path(digest), 0o644);
    await writeFile(store.path(digest), corrupt);
    await assert.rejects(drain(await store.open(digest)), (err: unknown) => {
      assert.ok(err instanceof ContentError, `not a ContentError: ${String(err)}`);
      assert.equal(err.code, 'DIGEST_MISMATCH');
      return true;
    });
    await assert.rejects(store.readBytes(digest, 1 << 20), { name: 'ContentError', code: 'DIGEST_MISMATCH' });
    await writeFile(store.path(digest), bytes.subarray(1));
    await assert.rejects(store.open(digest, { size: bytes.length }), { code: 'SIZE_MISMATCH' });
    // Putting the right bytes again replaces the damaged copy.
    await store.put(chunked(bytes), { digest });
    assert.deepEqual(await store.readBytes(digest, 1 << 20), bytes);
  });

  it('reports missing blobs, oversized reads and foreign algorithms', async () => {
    const store = await freshStore();
    const missing = parseDigest(`sha256:${'0'.repeat(64)}`);
    assert.equal(await store.has(missing), false);
    assert.equal(await store.stat(missing), undefined);
    await assert.rejects(store.open(missing), { name: 'ContentError', code: 'BLOB_NOT_FOUND' });
    await assert.rejects(store.readBytes(missing, 10), { code: 'BLOB_NOT_FOUND' });
    const { digest } = await store.putBytes(Buffer.alloc(100));
    await assert.rejects(store.readBytes(digest, 99), { code: 'BLOB_TOO_LARGE' });
    const sha512 = parseDigest(`sha512:${'a'.repeat(128)}`);
    await assert.rejects(store.put(Readable.from([Buffer.from('x')]), { digest: sha512 }), { code: 'DIGEST_UNSUPPORTED' });
    await assert.rejects(store.open(sha512), { code: 'DIGEST_UNSUPPORTED' });
  });

  it('stops reading an overlong body early', async () => {
    const store = await freshStore();
    let produced = 0;
    const body = Readable.from((async function* () {
      for (let i = 0; i < 10_000; i++) {
        produced += 65536;
        yield Buffer.alloc(65536);
      }
    })());
    await assert.rejects(store.put(body, { size: 1000 }), { code: 'SIZE_MISMATCH' });
    assert.ok(produced < 10_000 * 65536, 'the whole body was read');
  });
});
