import { KilnError, type KilnErrorOptions } from '../errors.ts';

/**
 * Stable codes of {@link ShellError}:
 * - SHELL_SYNTAX         unterminated quote, missing `}` or `/`, bad substitution (`${}`, `${:x}`), unsupported modifier (`${v=x}`, `${v:#x}`)
 * - SHELL_VAR_REQUIRED   `${v?msg}` / `${v:?msg}` with `v` unset (or empty for `:?`); the message is in `fields.detail`
 * - SHELL_BAD_PATTERN    a `#`, `%` or `/` pattern with an escape other than `\*`, `\?`, `\\`
 */
export type ShellErrorCode = 'SHELL_SYNTAX' | 'SHELL_VAR_REQUIRED' | 'SHELL_BAD_PATTERN';

/**
 * A shell word that cannot be expanded. The message follows BuildKit's
 * wording (`failed to process "<word>": <detail>`); `fields.word` is the
 * input, `fields.detail` the part after the colon, and `fields.variable` the
 * variable name for SHELL_VAR_REQUIRED.
 */
export class ShellError extends KilnError {
  declare readonly code: ShellErrorCode;

  constructor(code: ShellErrorCode, message: string, options?: KilnErrorOptions) {
    super(code, message, options);
  }
}

/**
 * @internal Raised inside the lexer before the failing word is known to the
 * raiser; `ShellLexer` turns it into a {@link ShellError}. Not exported from
 * the package.
 */
export class ShellFailure extends Error {
  constructor(
    readonly code: ShellErrorCode,
    readonly detail: string,
    readonly variable?: string,
  ) {
    super(detail);
  }
}
