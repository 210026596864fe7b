import { PassThrough, Readable } from 'node:stream';
import { decompressStream } from '../archive/index.ts';
import type { ContentStore } from '../content/index.ts';
import { type Digest, Sha256 } from '../digest/index.ts';
import { ImageError } from '../image/index.ts';
import type { Descriptor } from '../oci/index.ts';
import { createLimiter } from '../registry/index.ts';
import type { BlobSource } from './manifest-node.ts';
import { type BlobOutcome, type TransportEventSink, byteCounter } from './transport-event.ts';

/** How blob transfers run: in parallel up to `concurrency`, reported to `emit`, cancelled by `signal`. */
export interface TransferContext {
  concurrency: number;
  emit: TransportEventSink;
  signal?: AbortSignal | undefined;
}

/**
 * Runs `fn` on every item with at most `concurrency` in flight. The first
 * failure aborts the signal handed to the running calls and keeps the rest
 * from starting; resolves or rejects (with that first failure) only after
 * every started call has settled, so nothing keeps writing behind the caller.
 */
export async function forEachLimited<T>(items: readonly T[], concurrency: number, outer: AbortSignal | undefined, fn: (item: T, signal: AbortSignal) => Promise<void>): Promise<void> {
  const ac = new AbortController();
  const onOuter = (): void => ac.abort(outer?.reason);
  outer?.addEventListener('abort', onOuter, { once: true });
  if (outer?.aborted) ac.abort(outer.reason);
  let failure: { err: unknown } | undefined;
  const limit = createLimiter(Math.max(1, concurrency));
  try {
    await Promise.allSettled(items.map((item) => limit(async () => {
      if (ac.signal.aborted) return;
      try {
        await fn(item, ac.signal);
      } catch (err) {
        if (failure === undefined) {
          failure = { err: outer?.aborted ? outer.reason : err };
          ac.abort(err);
        }
      }
    })));
  } finally {
    outer?.removeEventListener('abort', onOuter);
  }
  if (failure !== undefined) throw failure.err;
  if (outer?.aborted) throw outer.reason;
}

/**
 * `src` passed through a byte counter that reports progress; destroying
 * either end (or aborting `signal`) destroys both.
 */
export function counted(src: Readable, report: (bytes: number) => void, signal?: AbortSignal): Readable {
  const counter = byteCounter(report);
  // The consumer may attach its handlers only after an await (ContentStore.put
  // makes its folders first); the error stays on the stream for it to find.
  counter.on('error', () => {});
  src.on('error', (err) => counter.destroy(err));
  counter.on('close', () => {
    if (!src.readableEnded) src.destroy();
  });
  const onAbort = (): void => {
    counter.destroy(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  counter.on('close', () => signal?.removeEventListener('abort', onAbort));
  return src.pipe(counter);
}

/**
 * Puts every blob into `store`, in parallel: blobs the store already holds
 * (same digest and size) are skipped ('exists'); the others are streamed in
 * and verified by the store (digest and size), their progress reported.
 * A failure leaves only whole, verified blobs behind (the store's temp
 * files are removed).
 *
 * `layers` (blob digest → diffID) names layers to measure on the way in:
 * each one fetched is also decompressed while it streams, its diffID
 * checked (DIGEST_MISMATCH) and its uncompressed size returned, so that
 * nobody has to read it again for that. Layers already present are not measured.
 */
export async function stageBlobs(store: ContentStore, blobs: readonly BlobSource[], outcome: BlobOutcome, ctx: TransferContext, layers?: ReadonlyMap<Digest, Digest>): Promise<Map<Digest, number>> {
  const sizes = new Map<Digest, number>();
  await forEachLimited(blobs, ctx.concurrency, ctx.signal, async (blob, signal) => {
    const { digest, size, mediaType } = blob.descriptor;
    if ((await store.stat(digest))?.size === size) {
      ctx.emit({ kind: 'blob-done', digest, size, mediaType, outcome: 'exists' });
      return;
    }
    ctx.emit({ kind: 'blob-start', digest, size, mediaType });
    const body = counted(await blob.open(signal), (bytes) => ctx.emit({ kind: 'blob-progress', digest, bytes, size }), signal);
    const diffId = layers?.get(digest);
    if (diffId === undefined) await store.put(body, { digest, size });
    else sizes.set(digest, await putMeasured(store, body, blob.descriptor, diffId));
    ctx.emit({ kind: 'blob-done', digest, size, mediaType, outcome });
  });
  return sizes;
}

/**
 * Downloads a layer blob into `store` and hands its decompressed tar to the
 * caller while it downloads: one transfer, one decompression (a build that
 * opens a base layer would otherwise decompress it twice: once to check its
 * diffID on the way in, once to read it). The returned stream errors
 * instead of ending unless the blob was stored whole and verified (digest,
 * size) and the tar matches `diffId`; `onStored` then gets the tar's size.
 * Destroying the stream early cancels the download, and nothing is stored.
 */
export async function stageLayerReading(store: ContentStore, blob: BlobSource, diffId: Digest, ctx: TransferContext, onStored: (uncompressedSize: number) => void): Promise<Readable> {
  const { digest, size, mediaType } = blob.descriptor;
  ctx.emit({ kind: 'blob-start', digest, size, mediaType });
  const body = counted(await blob.open(ctx.signal), (bytes) => ctx.emit({ kind: 'blob-progress', digest, bytes, size }), ctx.signal);
  const [toStore, toTar] = tee(body);
  const storing = store.put(toStore, { digest, size }).catch((err: unknown) => {
    toTar.destroy();
    throw err;
  });
  storing.catch(() => {}); // awaited below; a failure also ends the tar side at once
  async function* read(): AsyncGenerator<Buffer> {
    const hash = new Sha256();
    let finished = false;
    try {
      try {
        for await (const chunk of decompressStream(toTar, { name: digest })) {
          hash.update(chunk as Buffer);
          yield chunk as Buffer;
        }
      } catch (err) {
        await storing; // the store's verdict first: a blob that is not what its descriptor says is the real story
        throw err;
      }
      await storing;
      if (hash.digest() !== diffId) {
        throw new ImageError('DIGEST_MISMATCH', `layer ${digest} decompresses to ${hash.digest()}, but the image config says its diffID is ${diffId}`, { digest });
      }
      finished = true;
    } finally {
      if (!finished) body.destroy();
    }
    ctx.emit({ kind: 'blob-done', digest, size, mediaType, outcome: 'downloaded' });
    onStored(hash.size);
  }
  return Readable.from(read(), { objectMode: false, highWaterMark: 1 << 20 });
}

/** Two streams each carrying all of `body` (at the pace of the slower); an error of `body` reaches both. */
function tee(body: Readable): [PassThrough, PassThrough] {
  const a = new PassThrough({ highWaterMark: 1 << 20 });
  const b = new PassThrough({ highWaterMark: 1 << 20 });
  // As in counted(): errors wait on the streams for consumers that attach late.
  a.on('error', () => {});
  b.on('error', () => {});
  body.on('error', (err) => {
    a.destroy(err);
    b.destroy(err);
  });
  body.pipe(a);
  body.pipe(b);
  return [a, b];
}

/** Stores a layer blob while decompressing a copy of it: returns its uncompressed size, after checking its diffID. */
async function putMeasured(store: ContentStore, body: Readable, desc: Descriptor, diffId: Digest): Promise<number> {
  const [toStore, toMeasure] = tee(body);
  const measure = async (): Promise<{ digest: Digest; size: number }> => {
    const hash = new Sha256();
    for await (const chunk of decompressStream(toMeasure, { name: desc.digest })) hash.update(chunk as Buffer);
    return { digest: hash.digest(), size: hash.size };
  };
  const [stored, measured] = await Promise.allSettled([
    store.put(toStore, { digest: desc.digest, size: desc.size }).catch((err: unknown) => {
      toMeasure.destroy();
      throw err;
    }),
    measure().catch((err: unknown) => {
      toStore.destroy(err instanceof Error ? err : new Error(String(err)));
      throw err;
    }),
  ]);
  // The store's verdict first: a blob that is not what its descriptor says is the real story.
  if (stored.status === 'rejected') throw stored.reason;
  if (measured.status === 'rejected') throw measured.reason;
  if (measured.value.digest !== diffId) {
    throw new ImageError('DIGEST_MISMATCH', `layer ${desc.digest} decompresses to ${measured.value.digest}, but the image config says its diffID is ${diffId}`, { digest: desc.digest });
  }
  return measured.value.size;
}
