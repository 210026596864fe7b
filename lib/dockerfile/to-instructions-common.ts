/** Helpers shared by the to-instructions*.ts converters. */
import type { AstNode } from './ast.ts';
import type { Command } from './instructions.ts';
import { trimGo } from './parser-text.ts';

/** The fields every instruction carries. */
export function base(node: AstNode): { range: AstNode['range']; original: string } {
  return { range: node.range, original: trimGo(node.original) };
}

/** Exec form for a JSON array, else the shell form (args joined by one space). */
export function command(args: readonly string[], json: boolean): Command {
  return json ? { form: 'exec', args: [...args] } : { form: 'shell', script: args.join(' ') };
}
