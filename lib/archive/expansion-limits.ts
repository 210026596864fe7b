import { ArchiveError } from './archive-error.ts';

/**
 * How far one layer or archive may expand when kiln unpacks it. A hostile
 * image or ADD archive must fail with a clear error, not fill the disk
 * (file contents are spilled to $KILN_HOME while a build runs) or keep kiln
 * busy for hours.
 */
export interface ExpansionLimits {
  /**
   * Most bytes of uncompressed tar, and (counted apart) of regular-file
   * contents with sparse files expanded. `KILN_MAX_LAYER_SIZE`.
   */
  maxBytes: number;
  /**
   * Most expanded bytes per compressed byte, checked once `ratioGrace`
   * bytes are out; 0 turns the check off. `KILN_MAX_LAYER_RATIO`.
   */
  maxRatio: number;
  /** Expanded bytes always allowed before the ratio is checked. `KILN_LAYER_RATIO_GRACE`. */
  ratioGrace: number;
}

const GiB = 1024 ** 3;

/**
 * The defaults, and why:
 *
 * - 32 GiB per layer: the largest layers of common public images (CUDA and
 *   PyTorch bases) are 5-15 GiB uncompressed, so this leaves room above
 *   them while still stopping a bomb before it fills a CI runner's disk.
 * - 1100:1: deflate cannot do better than 1032:1 (a 258-byte match in at
 *   least two bits), so no gzip layer can trip this whatever it holds, even
 *   one that is a single huge file of zeros; a ratio above it takes zstd
 *   (about 32000:1 on zeros), bzip2 (over 1,000,000:1) or a sparse file
 *   declaring gigabytes of holes. The check then bounds what a small input
 *   can make kiln write to 1100 times its size.
 * - 1 GiB before the ratio counts: legitimate zstd layers do hold long runs
 *   of zeros (a preallocated file, the multi-hundred-megabyte
 *   /var/log/lastlog that `useradd` makes for a large UID), and those stay
 *   well under 1 GiB; a bomb gets at most 1 GiB (a few seconds of work)
 *   before it is refused.
 */
export const DEFAULT_EXPANSION_LIMITS: Readonly<ExpansionLimits> = Object.freeze({
  maxBytes: 32 * GiB,
  maxRatio: 1100,
  ratioGrace: GiB,
});

/** The environment variable behind each limit (named in errors, so users know what to change). */
export const EXPANSION_ENV = Object.freeze({
  maxBytes: 'KILN_MAX_LAYER_SIZE',
  maxRatio: 'KILN_MAX_LAYER_RATIO',
  ratioGrace: 'KILN_LAYER_RATIO_GRACE',
} as const);

/**
 * The limits in force: the defaults, then the environment's
 * `KILN_MAX_LAYER_SIZE`, `KILN_MAX_LAYER_RATIO` and `KILN_LAYER_RATIO_GRACE`,
 * then `overrides`. An unparsable variable is ArchiveError LIMIT_INVALID.
 */
export function expansionLimits(overrides?: Partial<ExpansionLimits>, env: NodeJS.ProcessEnv = process.env): ExpansionLimits {
  const fromEnv: Partial<ExpansionLimits> = {};
  const size = envValue(env, EXPANSION_ENV.maxBytes, parseSize);
  if (size !== undefined) fromEnv.maxBytes = size;
  const ratio = envValue(env, EXPANSION_ENV.maxRatio, parseRatio);
  if (ratio !== undefined) fromEnv.maxRatio = ratio;
  const grace = envValue(env, EXPANSION_ENV.ratioGrace, parseSize);
  if (grace !== undefined) fromEnv.ratioGrace = grace;
  return { ...DEFAULT_EXPANSION_LIMITS, ...fromEnv, ...overrides };
}

/**
 * Reads `name` from `env` with `parse`; unset or empty is undefined, a
 * value `parse` rejects is LIMIT_INVALID naming the variable.
 */
export function envValue<T>(env: NodeJS.ProcessEnv, name: string, parse: (text: string) => T | undefined): T | undefined {
  const text = env[name]?.trim();
  if (text === undefined || text === '') return undefined;
  const v = parse(text);
  if (v === undefined) throw new ArchiveError('LIMIT_INVALID', `${name}=${JSON.stringify(text)} is not valid: ${HINTS[name] ?? 'see the README'}`, { variable: name });
  return v;
}

const HINTS: Record<string, string> = {
  KILN_MAX_LAYER_SIZE: 'give a size in bytes, or with a binary unit: 512MiB, 32GiB, 1T',
  KILN_LAYER_RATIO_GRACE: 'give a size in bytes, or with a binary unit: 64MiB, 1GiB',
  KILN_MAX_LAYER_RATIO: 'give a number of bytes out per byte in, such as 1100 (0 turns the check off)',
};

const UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/** `1048576`, `512M`, `512MiB`, `512MB`, `1.5G`: binary units, as docker's RAMInBytes; undefined when invalid. */
export function parseSize(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?$/i.exec(text.trim());
  if (m === null) return undefined;
  const n = Math.floor(Number(m[1]) * UNITS[m[2]!.toLowerCase()]!);
  return Number.isSafeInteger(n) ? n : undefined;
}

function parseRatio(text: string): number | undefined {
  if (!/^\d+(?:\.\d+)?$/.test(text)) return undefined;
  const n = Number(text);
  return Number.isFinite(n) ? n : undefined;
}

/** `32 GiB`, `1.5 MiB`, `700 bytes`: sizes in messages, in the units the limits are written in. */
export function formatSize(n: number): string {
  for (const [unit, size] of [['TiB', 1024 ** 4], ['GiB', 1024 ** 3], ['MiB', 1024 ** 2], ['KiB', 1024]] as const) {
    if (n >= size) return `${Number((n / size).toFixed(2))} ${unit}`;
  }
  return `${n} bytes`;
}

/** What is being unpacked, for error codes and messages: a layer or an ADD archive, by digest or path when known. */
export interface ExpansionSubject {
  kind: 'layer' | 'archive';
  name?: string | undefined;
}

/**
 * Counts one layer's (or archive's) bytes on both sides of decompression
 * and fails as soon as a limit is passed: LAYER_TOO_LARGE and
 * LAYER_RATIO_EXCEEDED for layers, ARCHIVE_TOO_LARGE and
 * ARCHIVE_RATIO_EXCEEDED for archives (ArchiveError, with `limit`, the
 * subject's `name` and the `variable` that changes the limit).
 */
export class ExpansionMeter {
  /** Bytes read from the compressed input. */
  compressed = 0;
  /** Bytes of decompressed tar. */
  expanded = 0;
  /** Regular-file bytes announced by tar headers (sparse files at their full size). */
  reserved = 0;
  /** Regular-file bytes read so far (sparse holes included). */
  content = 0;

  constructor(
    readonly limits: ExpansionLimits,
    readonly subject: ExpansionSubject,
  ) {}

  /** `layer sha256:…`, `archive /ctx/a.tar.gz`, or `a layer` / `an archive` when unnamed. */
  describe(): string {
    const { kind, name } = this.subject;
    if (name !== undefined) return `${kind} ${name}`;
    return kind === 'layer' ? 'a layer' : 'an archive';
  }

  /** Passes `input` through, counting it as compressed input. */
  async *countCompressed(input: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    for await (const chunk of input) {
      this.addCompressed(chunk.length);
      yield chunk;
    }
  }

  addCompressed(n: number): void {
    this.compressed += n;
  }

  /** Passes the decompressed bytes through, counting and checking them. */
  async *countExpanded(input: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    for await (const chunk of input) {
      this.addExpanded(chunk.length);
      yield chunk;
    }
  }

  addExpanded(n: number): void {
    this.expanded += n;
    if (this.expanded > this.limits.maxBytes) throw this.#tooLarge('is larger than', 'uncompressed');
    this.#checkRatio();
  }

  /** A regular file's size from its header, before its body is read: refused at once when the total passes `maxBytes`. */
  reserveContent(size: number): void {
    this.reserved += size;
    if (this.reserved > this.limits.maxBytes) throw this.#tooLarge('holds more than', 'of file contents');
  }

  /**
   * File bytes as they are read. They outrun the tar's own bytes only for
   * sparse files, so they count in the ratio as they come: a small archive
   * declaring terabytes of holes is stopped once past the grace.
   */
  addContent(n: number): void {
    this.content += n;
    this.#checkRatio();
  }

  #checkRatio(): void {
    const { maxRatio, ratioGrace } = this.limits;
    const out = Math.max(this.expanded, this.content);
    if (maxRatio <= 0 || out <= ratioGrace || out <= maxRatio * Math.max(this.compressed, 1)) return;
    const code = this.subject.kind === 'layer' ? 'LAYER_RATIO_EXCEEDED' : 'ARCHIVE_RATIO_EXCEEDED';
    throw new ArchiveError(
      code,
      `${this.describe()} expands more than ${maxRatio}:1 (${formatSize(out)} from ${formatSize(this.compressed)}), which no gzip stream can: ` +
        `refused as a decompression bomb (${EXPANSION_ENV.maxRatio}=${maxRatio}, checked past ${EXPANSION_ENV.ratioGrace}=${formatSize(ratioGrace)}; set the ratio to 0 to turn the check off)`,
      { limit: maxRatio, ...this.#fields(EXPANSION_ENV.maxRatio) },
    );
  }

  #tooLarge(verb: string, what: string): ArchiveError {
    const { maxBytes } = this.limits;
    const code = this.subject.kind === 'layer' ? 'LAYER_TOO_LARGE' : 'ARCHIVE_TOO_LARGE';
    return new ArchiveError(code, `${this.describe()} ${verb} ${formatSize(maxBytes)} ${what} (${EXPANSION_ENV.maxBytes}=${formatSize(maxBytes)} sets the limit)`, {
      limit: maxBytes,
      ...this.#fields(EXPANSION_ENV.maxBytes),
    });
  }

  #fields(variable: string): Record<string, unknown> {
    return this.subject.name === undefined ? { variable } : { variable, [this.subject.kind]: this.subject.name };
  }
}
