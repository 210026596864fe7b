import { VfsError } from './errors.ts';

/**
 * Bounds on what one layer or archive may make kiln do, so that a hostile
 * input fails with a clear error instead of filling the disk or the heap.
 */
export interface ApplyLimits {
  /** Most bytes of uncompressed tar, and of regular-file contents (sparse files expanded). */
  maxBytes: number;
  /** Most uncompressed bytes per compressed byte, checked once `ratioGrace` bytes are out; 0 turns it off. */
  maxRatio: number;
  /** Uncompressed bytes always allowed before the ratio is checked. */
  ratioGrace: number;
  /** Most tar entries (every entry becomes a node in memory). */
  maxEntries: number;
  /** Most components in a path. */
  maxDepth: number;
  /** Longest path component in bytes (Linux NAME_MAX). */
  maxNameLength: number;
  /** Longest path, and longest symlink target, in bytes (Linux PATH_MAX). */
  maxPathLength: number;
}

/**
 * Defaults: 32 GiB of content, 10 million entries, 1024 levels, Linux's
 * NAME_MAX and PATH_MAX. The ratio check is off by default: gzip stops near
 * 1030:1, but zstd legitimately packs a large zero-filled file far tighter.
 */
export const DEFAULT_LIMITS: Readonly<ApplyLimits> = Object.freeze({
  maxBytes: 32 * 1024 ** 3,
  maxRatio: 0,
  ratioGrace: 64 << 20,
  maxEntries: 10_000_000,
  maxDepth: 1024,
  maxNameLength: 255,
  maxPathLength: 4096,
});

/** The limits with the caller's overrides. */
export function applyLimits(overrides: Partial<ApplyLimits> | undefined): ApplyLimits {
  return { ...DEFAULT_LIMITS, ...overrides };
}

/**
 * Checks the clean components of an entry path against the limits:
 * PATH_TOO_DEEP, NAME_TOO_LONG or PATH_TOO_LONG.
 */
export function checkPath(comps: readonly string[], raw: string, limits: ApplyLimits): void {
  if (comps.length > limits.maxDepth) {
    throw new VfsError('PATH_TOO_DEEP', `entry ${preview(raw)} is ${comps.length} levels deep (limit ${limits.maxDepth})`, { limit: limits.maxDepth });
  }
  let total = 0;
  for (const c of comps) {
    const n = Buffer.byteLength(c, 'utf8');
    if (n > limits.maxNameLength) {
      throw new VfsError('NAME_TOO_LONG', `entry ${preview(raw)} has a ${n}-byte name (limit ${limits.maxNameLength})`, { limit: limits.maxNameLength });
    }
    total += n + 1;
  }
  if (total > limits.maxPathLength) {
    throw new VfsError('PATH_TOO_LONG', `entry ${preview(raw)} is a ${total}-byte path (limit ${limits.maxPathLength})`, { limit: limits.maxPathLength });
  }
}

/** A link target longer than PATH_MAX cannot exist on Linux: PATH_TOO_LONG. */
export function checkLinkTarget(target: string, raw: string, limits: ApplyLimits): void {
  const n = Buffer.byteLength(target, 'utf8');
  if (n > limits.maxPathLength) {
    throw new VfsError('PATH_TOO_LONG', `link ${preview(raw)} has a ${n}-byte target (limit ${limits.maxPathLength})`, { limit: limits.maxPathLength });
  }
}

/** A name short enough to put in a message. */
export function preview(name: string): string {
  return JSON.stringify(name.length > 120 ? `${name.slice(0, 60)}…${name.slice(-40)}` : name);
}

/**
 * Counts the bytes of a layer on both sides of decompression and fails the
 * stream with LAYER_TOO_LARGE or LAYER_RATIO_EXCEEDED.
 */
export class ByteMeter {
  compressed = 0;
  uncompressed = 0;
  content = 0;
  readonly #limits: ApplyLimits;

  constructor(limits: ApplyLimits) {
    this.#limits = limits;
  }

  /** Passes `input` through, counting its bytes as compressed input. */
  async *countCompressed(input: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    for await (const chunk of input) {
      this.compressed += chunk.length;
      yield chunk;
    }
  }

  /** Passes the decompressed tar through, counting and checking it. */
  async *countUncompressed(input: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    for await (const chunk of input) {
      this.uncompressed += chunk.length;
      this.#check(this.uncompressed, 'uncompressed tar');
      yield chunk;
    }
  }

  /** Adds a regular file's (expanded) size before its body is read. */
  addContent(size: number): void {
    this.content += size;
    this.#check(this.content, 'file content');
  }

  #check(n: number, what: string): void {
    const l = this.#limits;
    if (n > l.maxBytes) throw new VfsError('LAYER_TOO_LARGE', `layer expands past ${l.maxBytes} bytes of ${what}`, { limit: l.maxBytes });
    if (l.maxRatio > 0 && this.uncompressed > l.ratioGrace && this.uncompressed > l.maxRatio * Math.max(this.compressed, 1)) {
      throw new VfsError('LAYER_RATIO_EXCEEDED', `layer expands more than ${l.maxRatio}:1 (${this.uncompressed} bytes from ${this.compressed})`, {
        limit: l.maxRatio,
      });
    }
  }
}
