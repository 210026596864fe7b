/**
 * `.dockerignore`: reading the file (moby/patternmatcher `ignorefile.ReadAll`)
 * and deciding which context paths it excludes (`PatternMatcher`
 * `MatchesOrParentMatches`), Unix semantics.
 */
import { DockerignoreError } from './dockerignore-error.ts';
import { type CompiledPattern, GlobSyntaxError, compilePattern } from './dockerignore-pattern.ts';
import { cleanPath, dirPath, trimGoSpace } from './dockerignore-path.ts';

/** bufio.Scanner's default token limit, which Docker's reader runs into. */
const MAX_LINE_BYTES = 64 * 1024;

/**
 * Turns `.dockerignore` text into the ordered pattern list Docker uses; `null`
 * (no file) gives `[]`. Per line (split on `\n`, one trailing `\r` dropped, a
 * UTF-8 BOM dropped from the first line): a `#` in column 1 makes a comment;
 * otherwise whitespace is trimmed, blank lines skipped, a leading `!` kept as
 * the exception mark (whitespace after it trimmed too), and the rest cleaned
 * like Go's `filepath.Clean` with one leading `/` removed. A lone `!` is
 * returned as is; `IgnoreMatcher` rejects it. Throws DockerignoreError
 * DOCKERIGNORE_LINE_TOO_LONG for a line of 64 KiB or more.
 */
export function readDockerignore(text: string | null): string[] {
  if (text === null) return [];
  const patterns: string[] = [];
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  lines.forEach((raw, index) => {
    if (raw.length * 3 >= MAX_LINE_BYTES && new TextEncoder().encode(raw).length >= MAX_LINE_BYTES) {
      throw new DockerignoreError('DOCKERIGNORE_LINE_TOO_LONG', `.dockerignore line ${index + 1} is 64 KiB or longer`, {
        line: index + 1,
      });
    }
    let line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (index === 0 && line.startsWith('\ufeff')) line = line.slice(1);
    if (line.startsWith('#')) return;
    line = trimGoSpace(line);
    if (line === '') return;
    const exception = line.startsWith('!');
    if (exception) line = trimGoSpace(line.slice(1));
    if (line !== '') {
      line = cleanPath(line);
      if (line.length > 1 && line.startsWith('/')) line = line.slice(1);
    }
    patterns.push(exception ? `!${line}` : line);
  });
  return patterns;
}

/** One active pattern of an {@link IgnoreMatcher}. */
export interface IgnorePattern {
  /** The pattern, trimmed and cleaned, without the `!`. */
  readonly pattern: string;
  /** True for `!pattern`: re-includes what earlier patterns excluded. */
  readonly exception: boolean;
}

interface ActivePattern extends IgnorePattern {
  readonly compiled: CompiledPattern;
}

/**
 * Decides which build-context paths a `.dockerignore` pattern list excludes,
 * with moby/patternmatcher's `MatchesOrParentMatches` rules:
 * - patterns run in order; an exclusion is only tried while the path is not
 *   excluded yet, an exception (`!p`) only while it is; the last hit wins;
 * - a pattern hits a path when it matches the path or any of its parent
 *   directories (`a`, `a/b` for `a/b/c`);
 * - `*` and `?` stay within one path segment, `[...]`/`[^...]` are classes,
 *   `\` escapes, `**` spans any number of segments (`**\/x` also matches `x`,
 *   `d/**` matches below `d` but not `d` itself).
 *
 * Paths are slash-separated and relative to the context root, used exactly
 * as given (pass clean paths such as `a/b`, never `./a` or `/a`).
 */
export class IgnoreMatcher {
  private readonly active: readonly ActivePattern[];

  /**
   * Builds the matcher. Whitespace around each pattern is trimmed, empty
   * patterns are dropped, each is cleaned like `filepath.Clean`. Throws
   * DockerignoreError DOCKERIGNORE_PATTERN_INVALID for a lone `!` or a
   * pattern with invalid glob syntax. A pattern with valid syntax whose
   * character class is unusable (`[z-a]`) is accepted here and makes
   * `matches` throw when it is reached, as in Docker.
   */
  constructor(patterns: readonly string[]) {
    const active: ActivePattern[] = [];
    for (const raw of patterns) {
      const trimmed = trimGoSpace(raw);
      if (trimmed === '') continue;
      let pattern = cleanPath(trimmed);
      const exception = pattern.startsWith('!');
      if (exception) {
        if (pattern.length === 1) throw invalid(raw, 'illegal exclusion pattern: "!"');
        pattern = pattern.slice(1);
      }
      active.push({ pattern, exception, compiled: compileOrThrow(pattern, raw) });
    }
    this.active = active;
  }

  /** The active patterns, in order. */
  get patterns(): readonly IgnorePattern[] {
    return this.active.map(({ pattern, exception }) => ({ pattern, exception }));
  }

  /** True when some pattern is an exception (`!p`). */
  get hasExceptions(): boolean {
    return this.active.some((p) => p.exception);
  }

  /** True when `path` is excluded from the build context. */
  matches(path: string): boolean {
    const parent = dirPath(path);
    const ancestors: string[] = [];
    if (parent !== '.') {
      const parts = parent.split('/');
      for (let i = 1; i <= parts.length; i++) ancestors.push(parts.slice(0, i).join('/'));
    }
    let matched = false;
    for (const p of this.active) {
      if (p.exception !== matched) continue;
      if (this.hits(p, path, ancestors)) matched = !p.exception;
    }
    return matched;
  }

  /**
   * True when the directory `dir` is excluded and no exception pattern can
   * match anything below it, so a walker may skip the whole subtree: every
   * path under `dir` is then excluded too. False when unsure.
   */
  excludesSubtree(dir: string): boolean {
    if (!this.matches(dir)) return false;
    return !this.active.some((p) => p.exception && p.compiled.couldMatchBelow(dir));
  }

  private hits(p: ActivePattern, path: string, ancestors: readonly string[]): boolean {
    try {
      return p.compiled.match(path) || ancestors.some((a) => p.compiled.match(a));
    } catch (err) {
      if (err instanceof GlobSyntaxError) throw invalid(p.pattern, 'syntax error in pattern', err);
      throw err;
    }
  }
}

function compileOrThrow(pattern: string, raw: string): CompiledPattern {
  try {
    return compilePattern(pattern);
  } catch (err) {
    if (err instanceof GlobSyntaxError) throw invalid(raw, 'syntax error in pattern', err);
    throw err;
  }
}

function invalid(pattern: string, why: string, cause?: unknown): DockerignoreError {
  return new DockerignoreError('DOCKERIGNORE_PATTERN_INVALID', `invalid .dockerignore pattern ${JSON.stringify(pattern)}: ${why}`, {
    pattern,
    ...(cause === undefined ? {} : { cause }),
  });
}
