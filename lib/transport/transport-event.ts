import { Transform } from 'node:stream';
import type { Digest } from '../digest/index.ts';

/** How a blob got to the destination. */
export type BlobOutcome =
  /** The destination had it already. */
  | 'exists'
  /** A registry mounted it from another repository (no bytes sent). */
  | 'mounted'
  /** Sent to a registry. */
  | 'uploaded'
  /** Fetched from a registry. */
  | 'downloaded'
  /** Copied between local files. */
  | 'copied';

/**
 * What a copy tells its caller while it works (the library never prints).
 * Blob events come per blob: `blob-start` once its transfer begins (not for
 * blobs already in place), `blob-progress` with the running byte count,
 * `blob-done` at the end. Nothing here carries a secret.
 */
export type TransportEvent =
  | { kind: 'blob-start'; digest: Digest; size: number; mediaType: string }
  | { kind: 'blob-progress'; digest: Digest; bytes: number; size: number }
  | { kind: 'blob-done'; digest: Digest; size: number; mediaType: string; outcome: BlobOutcome }
  | { kind: 'manifest-written'; digest: Digest; mediaType: string; size: number };

export type TransportEventSink = (event: TransportEvent) => void;

/** A pass-through that reports the running byte count (at most every 64 KiB, and at the end). */
export function byteCounter(report: (bytes: number) => void): Transform {
  let bytes = 0;
  let reported = 0;
  return new Transform({
    highWaterMark: 1 << 20,
    transform(chunk: Buffer, _enc, cb) {
      bytes += chunk.length;
      if (bytes - reported >= 64 * 1024) {
        reported = bytes;
        report(bytes);
      }
      cb(null, chunk);
    },
    flush(cb) {
      if (bytes !== reported) report(bytes);
      cb();
    },
  });
}
