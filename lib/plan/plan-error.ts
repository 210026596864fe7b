import { KilnError, type KilnErrorOptions } from '../errors.ts';

/**
 * Stable codes of {@link PlanError} (part of the CLI contract):
 * - NO_BUILD_STAGE            no FROM at all, or an instruction other than ARG before the first FROM
 * - STAGE_NAME_INVALID        `AS name` not matching `^[a-z][a-z0-9-_.]*$`
 * - STAGE_NAME_RESERVED       `AS scratch` / `AS context`
 * - STAGE_NAME_DUPLICATE      two stages with one name (`fields.firstLine` names the first)
 * - TARGET_UNKNOWN            `--target` naming no stage (`fields.stages` lists the names)
 * - FROM_INVALID              a FROM or `--from` that is no stage and no valid image reference after expansion
 * - PLATFORM_INVALID          `FROM --platform` empty or unparsable after expansion
 * - EXPANSION_FAILED          a global ARG default, FROM image or platform word that cannot be expanded (`${v:?msg}`, bad syntax)
 * - STAGE_INDEX_INVALID       `--from=<n>` with no stage n
 * - STAGE_FORWARD_REFERENCE   a needed stage copying from a stage defined after it
 * - STAGE_CYCLE               stages depending on each other in a circle
 */
export type PlanErrorCode =
  | 'NO_BUILD_STAGE'
  | 'STAGE_NAME_INVALID'
  | 'STAGE_NAME_RESERVED'
  | 'STAGE_NAME_DUPLICATE'
  | 'TARGET_UNKNOWN'
  | 'FROM_INVALID'
  | 'PLATFORM_INVALID'
  | 'EXPANSION_FAILED'
  | 'STAGE_INDEX_INVALID'
  | 'STAGE_FORWARD_REFERENCE'
  | 'STAGE_CYCLE';

/** Failures of the stage graph, found before any I/O; `location` names the FROM line or the `--from` flag. */
export class PlanError extends KilnError {
  declare readonly code: PlanErrorCode;

  constructor(code: PlanErrorCode, message: string, options?: KilnErrorOptions) {
    super(code, message, options);
  }
}
