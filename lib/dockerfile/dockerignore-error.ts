import { KilnError, type KilnErrorOptions } from '../errors.ts';

/**
 * Stable codes of {@link DockerignoreError}:
 * - DOCKERIGNORE_PATTERN_INVALID   a pattern that is not a valid glob (`[`, `[a-`, a trailing `\`, a lone `!`),
 *                                  or whose character class cannot be compiled (`[z-a]`); `fields.pattern` names it
 * - DOCKERIGNORE_LINE_TOO_LONG     a line of 64 KiB or more, which Docker's reader rejects as well
 */
export type DockerignoreErrorCode = 'DOCKERIGNORE_PATTERN_INVALID' | 'DOCKERIGNORE_LINE_TOO_LONG';

/** A `.dockerignore` file or pattern list that cannot be used. */
export class DockerignoreError extends KilnError {
  declare readonly code: DockerignoreErrorCode;

  constructor(code: DockerignoreErrorCode, message: string, options?: KilnErrorOptions) {
    super(code, message, options);
  }
}
