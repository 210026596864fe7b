/**
 * COPY and ADD: sources, destination, heredoc sources and their flags
 * (BuildKit's parseCopy/parseAdd/parseSourcesAndDest).
 */
import type { AstNode } from './ast.ts';
import { readChmod } from './chmod.ts';
import type { ChmodSpec } from './chmod.ts';
import { InstructionError } from './errors.ts';
import { heredocWordOrUndefined } from './heredoc.ts';
import type { AddInstruction, CopyInstruction, Heredoc } from './instructions.ts';
import { base, isStaticWord } from './to-instructions-common.ts';
import type { ConvertContext } from './to-instructions-common.ts';
import { flagAnchor, parseFlags } from './to-instructions-flags.ts';
import { ShellError } from './shell-error.ts';
import { ShellLexer } from './shell-lexer.ts';
import type { FlagValues } from './to-instructions-flags.ts';

interface SourcesAndDest {
  sources: string[];
  dest: string;
  heredocs: Heredoc[];
}

function sourcesAndDest(node: AstNode, heredocs: readonly Heredoc[], name: 'COPY' | 'ADD'): SourcesAndDest {
  const dest = node.args[node.args.length - 1] ?? '';
  if (heredocWordOrUndefined(dest) !== undefined) {
    throw new InstructionError('INSTRUCTION_INVALID', `${name} cannot accept a heredoc as a destination`);
  }
  const bodies = new Map(heredocs.map((h) => [h.name, h.content]));
  const sources: string[] = [];
  const docs: Heredoc[] = [];
  for (const src of node.args.slice(0, -1)) {
    const opener = heredocWordOrUndefined(src);
    if (opener === undefined) sources.push(src);
    else docs.push({ ...opener, content: bodies.get(opener.name) ?? '' });
  }
  return { sources, dest, heredocs: docs };
}

function requireDestination(node: AstNode, name: 'COPY' | 'ADD'): void {
  if (node.args.length < 2) {
    throw new InstructionError(
      'INSTRUCTION_INVALID',
      `${name} requires at least two arguments, but only one was provided. Destination could not be determined`,
    );
  }
}

/** Optional string flag: absent or empty → omitted (BuildKit treats "" as unset). */
function optional<K extends string>(flags: FlagValues, flag: string, key: K): Partial<Record<K, string>> {
  const value = flags.used.get(flag);
  return value === undefined || value === '' ? {} : ({ [key]: value } as Partial<Record<K, string>>);
}

function optionalBool<K extends string>(flags: FlagValues, flag: string, key: K): Partial<Record<K, boolean>> {
  const value = flags.used.get(flag);
  return value === undefined ? {} : ({ [key]: value === 'true' } as Partial<Record<K, boolean>>);
}

/**
 * `--chmod` parsed now when its value needs no expansion (a bad value is a
 * parse-time FLAG_INVALID); otherwise the executor parses it after expansion.
 */
function chmodSpec(flags: FlagValues, ctx: ConvertContext): { chmodSpec?: ChmodSpec } {
  const value = flags.used.get('chmod');
  if (value === undefined || value === '' || !staticValue(value, ctx, 'chmod')) return {};
  try {
    return { chmodSpec: readChmod(value) };
  } catch (err) {
    throw err instanceof InstructionError ? err.at(flagAnchor('chmod')) : err;
  }
}

function staticValue(value: string, ctx: ConvertContext, flag: string): boolean {
  try {
    return isStaticWord(value, ctx.escape);
  } catch (err) {
    if (err instanceof ShellError) throw new InstructionError('FLAG_INVALID', err.message, flagAnchor(flag));
    throw err;
  }
}

/**
 * BuildKit (dockerfile2llb toCommand) refuses a `--from` that changes under
 * expansion with no variables set: stages are resolved before any ARG is.
 */
function checkFrom(value: string | undefined, ctx: ConvertContext): void {
  if (value === undefined || value === '') return;
  let expanded: string;
  try {
    expanded = new ShellLexer(ctx.escape).processWord(value, () => undefined).word;
  } catch (err) {
    if (err instanceof ShellError) throw new InstructionError('FLAG_INVALID', err.message, flagAnchor('from'));
    throw err;
  }
  if (expanded === value) return;
  throw new InstructionError(
    'FLAG_INVALID',
    'variable expansion is not supported for --from, define a new stage with FROM using ARG from global scope as a workaround' +
      ` (e.g. ARG SRC=… before the first FROM, then "FROM \${SRC} AS src" and "COPY --from=src …")`,
    flagAnchor('from'),
  );
}

/** COPY [--from] [--chown] [--chmod] [--link] [--parents] [--exclude]… src… dest */
export function toCopy(node: AstNode, heredocs: readonly Heredoc[], ctx: ConvertContext): CopyInstruction {
  requireDestination(node, 'COPY');
  const flags = parseFlags(node.flags, {
    chown: 'string', from: 'string', chmod: 'string', link: 'bool', exclude: 'strings', parents: 'bool',
  });
  checkFrom(flags.used.get('from'), ctx);
  return {
    kind: 'COPY',
    ...base(node),
    ...sourcesAndDest(node, heredocs, 'COPY'),
    ...optional(flags, 'from', 'from'),
    ...optional(flags, 'chown', 'chown'),
    ...optional(flags, 'chmod', 'chmod'),
    ...chmodSpec(flags, ctx),
    link: flags.used.get('link') === 'true',
    parents: flags.used.get('parents') === 'true',
    exclude: flags.lists.get('exclude') ?? [],
  };
}

/** ADD [--chown] [--chmod] [--link] [--keep-git-dir] [--checksum] [--unpack] [--exclude]… src… dest */
export function toAdd(node: AstNode, heredocs: readonly Heredoc[], ctx: ConvertContext): AddInstruction {
  requireDestination(node, 'ADD');
  const flags = parseFlags(node.flags, {
    chown: 'string', chmod: 'string', link: 'bool', 'keep-git-dir': 'bool', checksum: 'string', unpack: 'bool', exclude: 'strings',
  });
  return {
    kind: 'ADD',
    ...base(node),
    ...sourcesAndDest(node, heredocs, 'ADD'),
    ...optional(flags, 'chown', 'chown'),
    ...optional(flags, 'chmod', 'chmod'),
    ...chmodSpec(flags, ctx),
    ...optional(flags, 'checksum', 'checksum'),
    link: flags.used.get('link') === 'true',
    parents: false,
    exclude: flags.lists.get('exclude') ?? [],
    ...optionalBool(flags, 'keep-git-dir', 'keepGitDir'),
    ...optionalBool(flags, 'unpack', 'unpack'),
  };
}
