import { KilnError } from '../errors.ts';
import type { KilnErrorOptions, SourceLocation } from '../errors.ts';

/**
 * Stable codes of Dockerfile failures (part of the CLI contract):
 * - DOCKERFILE_EMPTY       no instruction in the file
 * - DOCKERFILE_SYNTAX      line-level syntax: unterminated heredoc, bad heredoc word, over-long line
 * - DIRECTIVE_INVALID      repeated parser directive, bad escape token
 * - JSON_NON_STRING        exec-form JSON array with a non-string element
 * - INSTRUCTION_UNKNOWN    keyword that is no Dockerfile instruction
 * - INSTRUCTION_INVALID    arguments an instruction does not accept (counts, forms, values)
 * - FLAG_UNKNOWN           `--flag` the instruction does not define
 * - FLAG_INVALID           known flag with a missing/bad value, or repeated
 */
export type DockerfileErrorCode =
  | 'DOCKERFILE_EMPTY'
  | 'DOCKERFILE_SYNTAX'
  | 'DIRECTIVE_INVALID'
  | 'JSON_NON_STRING'
  | 'INSTRUCTION_UNKNOWN'
  | 'INSTRUCTION_INVALID'
  | 'FLAG_UNKNOWN'
  | 'FLAG_INVALID';

/**
 * A Dockerfile that cannot be read or has an invalid instruction. `location`
 * names the file and the (first) line, `endLine` the instruction's last line.
 * Messages follow BuildKit's wording where it has one.
 */
export class DockerfileError extends KilnError {
  declare readonly code: DockerfileErrorCode;

  constructor(
    code: DockerfileErrorCode,
    message: string,
    location: SourceLocation | undefined,
    options: Omit<KilnErrorOptions, 'location'> = {},
  ) {
    super(code, message, location === undefined ? options : { ...options, location });
  }
}

/**
 * Where in an instruction an error points, for its column: the `n`th
 * (0-based) occurrence of `text` after the keyword, e.g. `--mount` for the
 * second mount flag `{ text: '--mount', occurrence: 1 }`.
 */
export interface ErrorAnchor {
  text: string;
  occurrence?: number;
}

/**
 * Internal: a failure found while converting one node, before the caller
 * knows (or adds) its location. Not exported from index.ts.
 */
export class InstructionError extends Error {
  constructor(readonly code: DockerfileErrorCode, message: string, readonly anchor?: ErrorAnchor) {
    super(message);
  }

  /** The same error pointing at `anchor`, unless it already points somewhere. */
  at(anchor: ErrorAnchor): InstructionError {
    return this.anchor === undefined ? new InstructionError(this.code, this.message, anchor) : this;
  }
}
