import { KilnError } from '../errors.ts';

/**
 * Failures reading or writing tar archives and compressed streams. Codes:
 * - `TAR_INVALID`: malformed or truncated archive (bad checksum, bad numeric
 *   field, bad PAX record, entry body cut short); `entry` and `offset` when known.
 * - `TAR_UNSUPPORTED`: a valid but unsupported entry (unknown type flags, unknown GNU sparse versions).
 * - `TAR_ENTRY_INVALID`: an entry given to the writer cannot be written as asked.
 * - `TAR_DUPLICATE_ENTRY`: two writer entries normalize to the same path.
 * - `TAR_SIZE_MISMATCH`: a writer entry's body is not exactly `size` bytes.
 * - `COMPRESSION_INVALID`: the compressed stream is corrupt.
 * - `ZSTD_UNSUPPORTED`: this Node.js has no zstd in node:zlib.
 * - `LAYER_TOO_LARGE`, `LAYER_RATIO_EXCEEDED`, `ARCHIVE_TOO_LARGE`,
 *   `ARCHIVE_RATIO_EXCEEDED`: a layer or ADD archive expands past its
 *   limits (expansion-limits.ts; fields `limit`, `variable`, `layer`/`archive`).
 * - `LIMIT_INVALID`: an environment variable setting a limit cannot be parsed.
 */
export class ArchiveError extends KilnError {}
