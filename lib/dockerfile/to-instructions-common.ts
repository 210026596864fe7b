/** Helpers shared by the to-instructions*.ts converters. */
import type { AstNode } from './ast.ts';
import type { Command } from './instructions.ts';
import { trimGo } from './parser-text.ts';
import { ShellLexer } from './shell-lexer.ts';
import type { EscapeToken } from './shell-lexer.ts';
import type { EnvLookup } from './shell-env.ts';

/** The fields every instruction carries. */
export function base(node: AstNode): { range: AstNode['range']; original: string } {
  return { range: node.range, original: trimGo(node.original) };
}

/** Exec form for a JSON array, else the shell form (args joined by one space). */
export function command(args: readonly string[], json: boolean): Command {
  return json ? { form: 'exec', args: [...args] } : { form: 'shell', script: args.join(' ') };
}

/** What converters know about the file beyond the node. */
export interface ConvertContext {
  escape: EscapeToken;
}

const NO_ENV: EnvLookup = () => undefined;

/**
 * Whether `word` means the same before and after variable expansion: it
 * references no variable and has no quote or escape to remove. Such values
 * can be validated at parse time; others only once the build's variables are
 * known. Throws the lexer's ShellError for malformed expansions.
 */
export function isStaticWord(word: string, escape: EscapeToken): boolean {
  if (!/[$'"\\`]/.test(word)) return true;
  const result = new ShellLexer(escape).processWord(word, NO_ENV);
  return result.word === word && result.matched.size === 0 && result.unmatched.size === 0;
}
