import { type Readable, pipeline } from 'node:stream';
import { type Digest, HashingStream } from '../digest/index.ts';
import { type Compression, compressStream } from './compression.ts';
import type { TarWriteEntry } from './tar-entry.ts';
import { tarStream } from './tar-writer.ts';

export interface PackLayerOptions {
  compression: Compression;
  /** Compression level; gzip defaults to 6, zstd to 3. */
  level?: number;
  /** Upper bound for every entry's mtime (SOURCE_DATE_EPOCH). */
  mtimeClamp?: number;
}

export interface PackedLayer {
  /** The compressed layer blob; the caller consumes it (e.g. into a content store that hashes it). */
  stream: Readable;
  /**
   * The diffID (sha256 of the uncompressed tar) and the tar's size. Resolves
   * once `stream` has been read to its end; rejects if the pipeline fails.
   */
  uncompressed: Promise<{ diffId: Digest; size: number }>;
}

/**
 * Packs `entries` into a layer in one pass: deterministic tar → sha256 of the
 * tar bytes (the diffID) → compressor. Nothing is buffered beyond the
 * streams' own high-water marks. Entry errors (duplicates, bad fields) throw
 * synchronously, as does zstd on a Node without it; a body of the wrong size
 * fails `stream` and `uncompressed`. Destroying `stream` tears the pipeline
 * down and rejects `uncompressed`.
 */
export function packLayer(entries: readonly TarWriteEntry[], opts: PackLayerOptions): PackedLayer {
  const compressor = opts.compression === 'none' ? undefined : compressStream(opts.compression, opts.level);
  const tar = tarStream(entries, opts.mtimeClamp === undefined ? {} : { mtimeClamp: opts.mtimeClamp });
  const hasher = new HashingStream();
  let settle!: (err: Error | null | undefined) => void;
  const uncompressed = new Promise<{ diffId: Digest; size: number }>((resolve, reject) => {
    settle = (err) => (err ? reject(err) : resolve({ diffId: hasher.digest, size: hasher.size }));
  });
  // The same failure reaches the caller through `stream`; a caller that only
  // listens there must not get an unhandled rejection.
  uncompressed.catch(() => {});
  const stream = compressor === undefined ? pipeline(tar, hasher, settle) : pipeline(tar, hasher, compressor, settle);
  return { stream, uncompressed };
}
