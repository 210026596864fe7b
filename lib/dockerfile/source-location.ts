/**
 * Line and column of a word inside an instruction, for error messages. The
 * AST keeps words with quotes and continuations removed, so this searches the
 * physical lines of the instruction for the word as it is usually written;
 * callers fall back to the keyword's column when it is not found.
 */
import type { AstNode } from './ast.ts';
import type { ErrorAnchor } from './errors.ts';

/** 1-based position in a file. */
export interface LineColumn {
  line: number;
  column: number;
}

/**
 * Finds `anchor` in `lines` (the whole file, `lines[0]` = line 1) within the
 * node's range, after its keyword. Undefined when it is not there as written.
 */
export function findAnchor(lines: readonly string[], node: AstNode, anchor: ErrorAnchor): LineColumn | undefined {
  if (anchor.text === '') return undefined;
  let remaining = anchor.occurrence ?? 0;
  for (let n = node.range.start; n <= node.range.end; n++) {
    const text = lines[n - 1];
    if (text === undefined) break;
    let from = n === node.range.start ? keywordEnd(text, node) : 0;
    for (;;) {
      const at = text.indexOf(anchor.text, from);
      if (at === -1) break;
      if (remaining === 0) return { line: n, column: 1 + codePoints(text.slice(0, at)) };
      remaining--;
      from = at + anchor.text.length;
    }
  }
  return undefined;
}

/** UTF-16 offset just after the node's keyword on its first line. */
function keywordEnd(text: string, node: AstNode): number {
  let offset = 0;
  let column = 1;
  for (const ch of text) {
    if (column === node.column) break;
    offset += ch.length;
    column++;
  }
  return offset + node.rawKeyword.length;
}

function codePoints(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}
