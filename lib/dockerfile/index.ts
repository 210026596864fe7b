/**
 * Dockerfile front end: text → AST (parseDockerfile) → typed, unexpanded
 * instructions (toInstructions). Expansion happens later with the shell lexer.
 */
export type * from './instructions.ts';
export type { AstNode, Directives, ParseResult, ParseWarning } from './ast.ts';
export { dumpAst, goQuote } from './ast.ts';
export { detectSyntax, findDirective, parseDirectives } from './directives.ts';
export type { Directive, DirectiveMatch } from './directives.ts';
export { DockerfileError } from './errors.ts';
export type { DockerfileErrorCode } from './errors.ts';
export { chompHeredoc, heredocsFromLine, parseHeredocWord } from './heredoc.ts';
export { parseDockerfile } from './parser.ts';
export { parseJsonArray, parseWords } from './parser-args.ts';
export { toInstruction, toInstructions, toInstructionsUntilError } from './to-instructions.ts';
export { parseGoDuration } from './to-instructions-flags.ts';
export type { ToInstructionOptions } from './to-instructions.ts';
export { isLintRuleName, lintRule, lintWarning } from './lint-rules.ts';
export type { LintRuleInfo, LintRuleName, LintWarning } from './lint-rules.ts';
export { checkDirectiveOf, lintDockerfile, lintRuleEnabled, lintViolationMessage, parseCheckDirective, withCommentCheck } from './lint.ts';
export type { CheckDirective, LintOptions } from './lint.ts';
export { parseRunMount, resolveMountTarget } from './run-mount.ts';
export type { BindMount, CacheMount, MountSharing, RunMount, RunMountSpec, RunMountType, SecretMount, SshMount, TmpfsMount } from './run-mount.ts';
export { applyChmod, isValidChmod, parseChmod } from './chmod.ts';
export type { ChmodOp, ChmodSpec } from './chmod.ts';
// exports of shell-lexer.ts and dockerignore.ts are added by their author
export { ShellLexer } from './shell-lexer.ts';
export type { EscapeToken, ProcessWordResult, ShellLexerOptions } from './shell-lexer.ts';
export { envFromList, lookupEnv } from './shell-env.ts';
export type { EnvLookup } from './shell-env.ts';
export { ShellError } from './shell-error.ts';
export type { ShellErrorCode } from './shell-error.ts';
export { IgnoreMatcher, readDockerignore } from './dockerignore.ts';
export type { IgnorePattern } from './dockerignore.ts';
export { DockerignoreError } from './dockerignore-error.ts';
export type { DockerignoreErrorCode } from './dockerignore-error.ts';
