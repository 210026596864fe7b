import { DEFAULT_EXPANSION_LIMITS, type ExpansionLimits, envValue, expansionLimits } from '../archive/index.ts';
import { VfsError } from './errors.ts';

/**
 * Bounds on what one layer or archive may make kiln do, so that a hostile
 * input fails with a clear error instead of filling the disk or the heap.
 * The byte and ratio bounds are lib/archive's {@link ExpansionLimits}.
 */
export interface ApplyLimits extends ExpansionLimits {
  /** Most tar entries (every entry becomes a node in memory). */
  maxEntries: number;
  /** Most components in a path. `KILN_MAX_PATH_DEPTH`. */
  maxDepth: number;
  /** Longest path component in bytes (Linux NAME_MAX). */
  maxNameLength: number;
  /** Longest path, and longest symlink target, in bytes (Linux PATH_MAX). */
  maxPathLength: number;
}

/**
 * Defaults: the expansion limits of lib/archive (32 GiB, 1100:1 past
 * 1 GiB: see {@link DEFAULT_EXPANSION_LIMITS} for why), 10 million entries,
 * and Linux's own NAME_MAX (255) and PATH_MAX (4096): a longer name or path
 * could not be created on disk anyway (materialize, RUN). Depth: PATH_MAX
 * alone allows 2048 levels of one-letter names; 1024 is far beyond real
 * images (deeply nested node_modules reach a few dozen levels) and keeps
 * the tree walks that recurse per level (diff, materialize) far from
 * Node's stack limit.
 */
export const DEFAULT_LIMITS: Readonly<ApplyLimits> = Object.freeze({
  ...DEFAULT_EXPANSION_LIMITS,
  maxEntries: 10_000_000,
  maxDepth: 1024,
  maxNameLength: 255,
  maxPathLength: 4096,
});

const DEPTH_ENV = 'KILN_MAX_PATH_DEPTH';

/**
 * The limits in force: the defaults, then the environment
 * (`KILN_MAX_LAYER_SIZE`, `KILN_MAX_LAYER_RATIO`, `KILN_LAYER_RATIO_GRACE`,
 * `KILN_MAX_PATH_DEPTH`), then the caller's overrides. A variable that
 * cannot be parsed is LIMIT_INVALID.
 */
export function applyLimits(overrides: Partial<ApplyLimits> | undefined, env: NodeJS.ProcessEnv = process.env): ApplyLimits {
  const depth = envValue(env, DEPTH_ENV, (t) => (/^[1-9]\d{0,6}$/.test(t) ? Number(t) : undefined));
  return { ...DEFAULT_LIMITS, ...expansionLimits(undefined, env), ...(depth === undefined ? {} : { maxDepth: depth }), ...overrides };
}

/**
 * Checks the clean components of an entry path against the limits:
 * PATH_TOO_DEEP, NAME_TOO_LONG or PATH_TOO_LONG. `where` names the layer or
 * archive in the message (`layer sha256:…`).
 */
export function checkPath(comps: readonly string[], raw: string, limits: ApplyLimits, where?: string): void {
  const at = where === undefined ? '' : `${where}: `;
  if (comps.length > limits.maxDepth) {
    throw new VfsError('PATH_TOO_DEEP', `${at}entry ${preview(raw)} is ${comps.length} levels deep (limit ${limits.maxDepth}, set by ${DEPTH_ENV})`, {
      limit: limits.maxDepth,
      path: raw,
    });
  }
  let total = 0;
  for (const c of comps) {
    const n = Buffer.byteLength(c, 'utf8');
    if (n > limits.maxNameLength) {
      throw new VfsError('NAME_TOO_LONG', `${at}entry ${preview(raw)} has a ${n}-byte name (limit ${limits.maxNameLength}, Linux's NAME_MAX)`, { limit: limits.maxNameLength, path: raw });
    }
    total += n + 1;
  }
  if (total > limits.maxPathLength) {
    throw new VfsError('PATH_TOO_LONG', `${at}entry ${preview(raw)} makes a ${total}-byte absolute path (limit ${limits.maxPathLength}, Linux's PATH_MAX)`, { limit: limits.maxPathLength, path: raw });
  }
}

/** A link target longer than PATH_MAX cannot exist on Linux: PATH_TOO_LONG. */
export function checkLinkTarget(target: string, raw: string, limits: ApplyLimits, where?: string): void {
  const n = Buffer.byteLength(target, 'utf8');
  if (n > limits.maxPathLength) {
    const at = where === undefined ? '' : `${where}: `;
    throw new VfsError('PATH_TOO_LONG', `${at}link ${preview(raw)} has a ${n}-byte target (limit ${limits.maxPathLength}, Linux's PATH_MAX)`, { limit: limits.maxPathLength, path: raw });
  }
}

/** A name short enough to put in a message. */
export function preview(name: string): string {
  return JSON.stringify(name.length > 120 ? `${name.slice(0, 60)}…${name.slice(-40)}` : name);
}
