import { KilnError, type KilnErrorOptions } from '../errors.ts';

/** Failures of the composition root: missing context or Dockerfile, missing base image, bad output… */
export class BuildError extends KilnError {}

/** Stable codes of {@link CacheError}. */
export type CacheErrorCode =
  /** A `--cache-to` / `--cache-from` value kiln cannot use (unknown type or key, missing or bad value): a usage error. */
  | 'CACHE_SPEC_INVALID'
  /** A cache manifest or config that is not kiln's format v1 or breaks one of its rules (read side, see lib/build/cache-manifest.ts). */
  | 'CACHE_INVALID'
  /** Entries whose cache config would exceed the size every reader accepts (MAX_JSON_BLOB). */
  | 'CACHE_TOO_LARGE'
  /** Writing a cache failed for a reason that is not already a kiln error (a file system refusal). */
  | 'CACHE_EXPORT_FAILED';

/** The build cache shared through a registry or an OCI layout: its flags, its format, its transfer. */
export class CacheError extends BuildError {
  declare readonly code: CacheErrorCode;

  constructor(code: CacheErrorCode, message: string, options?: KilnErrorOptions) {
    super(code, message, options);
  }
}
