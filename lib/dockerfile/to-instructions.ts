/**
 * AST → typed Instruction values, with the validation BuildKit does when it
 * builds its instruction structs (instructions/parse.go): argument counts and
 * forms, declared flags, HEALTHCHECK options, ONBUILD triggers. Words stay
 * unexpanded.
 */
import { goQuote } from './ast.ts';
import type { AstNode, ParseResult } from './ast.ts';
import { DockerfileError, InstructionError } from './errors.ts';
import type {
  ArgInstruction, ExposeInstruction, FromInstruction, Instruction, KeyValue, OnbuildInstruction,
  ShellInstruction, VolumeInstruction,
} from './instructions.ts';
import { trimGo } from './parser-text.ts';
import { base, command } from './to-instructions-common.ts';
import { parseFlags, withSuggestion } from './to-instructions-flags.ts';
import { toAdd, toCopy } from './to-instructions-files.ts';
import { toHealthcheck } from './to-instructions-healthcheck.ts';
import { toRun } from './to-instructions-run.ts';
import type { ConvertContext } from './to-instructions-common.ts';
import { findAnchor } from './source-location.ts';

const STAGE_NAME = /^[a-z][a-z0-9-_.]*$/;

/** What toInstruction may know about the file a node came from. */
export interface ToInstructionOptions {
  /** The file's physical lines (ParseResult.lines), to point errors at the offending word. */
  lines?: readonly string[];
  /** The escape token in force (default `\\`). */
  escape?: '\\' | '`';
}

/**
 * Converts every node of a parse result, in order. Throws DockerfileError
 * (INSTRUCTION_UNKNOWN, INSTRUCTION_INVALID, FLAG_UNKNOWN, FLAG_INVALID)
 * located at the offending flag or word when it can be found as written,
 * else at the keyword: `line`/`column` 1-based, `endLine` the node's last line.
 */
export function toInstructions(result: ParseResult, file: string = result.file): Instruction[] {
  const options = { lines: result.lines, escape: result.escapeToken };
  return result.nodes.map((node) => toInstruction(node, file, options));
}

/**
 * Like toInstructions, but returns the instructions before the first failing
 * node together with its error, so warnings for the part that parsed can be
 * reported before the error (as BuildKit does). Errors other than
 * DockerfileError are thrown.
 */
export function toInstructionsUntilError(
  result: ParseResult, file: string = result.file,
): { instructions: Instruction[]; error?: DockerfileError } {
  const options = { lines: result.lines, escape: result.escapeToken };
  const instructions: Instruction[] = [];
  for (const node of result.nodes) {
    try {
      instructions.push(toInstruction(node, file, options));
    } catch (err) {
      if (err instanceof DockerfileError) return { instructions, error: err };
      throw err;
    }
  }
  return { instructions };
}

/** Converts one node; see toInstructions. */
export function toInstruction(node: AstNode, file: string, options: ToInstructionOptions = {}): Instruction {
  try {
    return convert(node, node.heredocs, { escape: options.escape ?? '\\' });
  } catch (err) {
    if (!(err instanceof InstructionError)) throw err;
    const found = err.anchor === undefined || options.lines === undefined ? undefined : findAnchor(options.lines, node, err.anchor);
    const at = found ?? { line: node.range.start, column: node.column };
    throw new DockerfileError(err.code, err.message, { file, line: at.line, endLine: node.range.end, column: at.column });
  }
}

function invalid(message: string): InstructionError {
  return new InstructionError('INSTRUCTION_INVALID', message);
}

/** Requires exactly one argument and returns it. */
function single(node: AstNode, name: string): string {
  const [only] = node.args;
  if (node.args.length !== 1 || only === undefined) throw invalid(`${name} requires exactly one argument`);
  return only;
}

function atLeastOne(node: AstNode, name: string): void {
  if (node.args.length === 0) throw invalid(`${name} requires at least one argument`);
}

type Converter = (node: AstNode, heredocs: AstNode['heredocs'], ctx: ConvertContext) => Instruction;

/** One converter per keyword; flags are checked only where BuildKit checks them. */
const CONVERTERS: Record<string, Converter> = {
  from: toFrom,
  run: toRun,
  cmd: (node) => (parseFlags(node.flags, {}), { kind: 'CMD', ...base(node), command: command(node.args, node.json) }),
  entrypoint: (node) => (parseFlags(node.flags, {}), { kind: 'ENTRYPOINT', ...base(node), command: command(node.args, node.json) }),
  shell: toShell,
  env: (node) => (parseFlags(node.flags, {}), { kind: 'ENV', ...base(node), pairs: keyValues(node.args, 'ENV') }),
  label: (node) => (parseFlags(node.flags, {}), { kind: 'LABEL', ...base(node), pairs: keyValues(node.args, 'LABEL') }),
  maintainer: (node) => {
    const name = single(node, 'MAINTAINER');
    parseFlags(node.flags, {});
    return { kind: 'MAINTAINER', ...base(node), name };
  },
  expose: toExpose,
  add: toAdd,
  copy: toCopy,
  volume: toVolume,
  user: (node) => {
    const user = single(node, 'USER');
    parseFlags(node.flags, {});
    return { kind: 'USER', ...base(node), user };
  },
  workdir: (node) => {
    const path = single(node, 'WORKDIR');
    parseFlags(node.flags, {});
    return { kind: 'WORKDIR', ...base(node), path };
  },
  arg: toArg,
  onbuild: toOnbuild,
  // BuildKit does not look at STOPSIGNAL's flags at all.
  stopsignal: (node) => ({ kind: 'STOPSIGNAL', ...base(node), signal: single(node, 'STOPSIGNAL') }),
  healthcheck: toHealthcheck,
};

function convert(node: AstNode, heredocs: AstNode['heredocs'], ctx: ConvertContext): Instruction {
  const converter = Object.hasOwn(CONVERTERS, node.keyword) ? CONVERTERS[node.keyword] : undefined;
  if (converter !== undefined) return converter(node, heredocs, ctx);
  throw new InstructionError(
    'INSTRUCTION_UNKNOWN',
    withSuggestion(`unknown instruction: ${node.rawKeyword}`, node.rawKeyword, Object.keys(CONVERTERS), false),
  );
}

function toFrom(node: AstNode): FromInstruction {
  const { args } = node;
  let stageName: string | undefined;
  if (args.length === 3 && args[1]?.toLowerCase() === 'as') {
    stageName = (args[2] ?? '').toLowerCase();
    if (!STAGE_NAME.test(stageName)) {
      throw invalid(`invalid name for build stage: ${goQuote(args[2] ?? '')}, name can't start with a number or contain symbols`);
    }
  } else if (args.length !== 1) {
    throw invalid('FROM requires either one or three arguments');
  }
  const flags = parseFlags(node.flags, { platform: 'string' });
  const platform = flags.used.get('platform');
  return {
    kind: 'FROM',
    ...base(node),
    image: args[0] ?? '',
    ...(stageName === undefined ? {} : { stageName }),
    ...(platform === undefined || platform === '' ? {} : { platform }),
  };
}

function toShell(node: AstNode): ShellInstruction {
  parseFlags(node.flags, {});
  atLeastOne(node, 'SHELL');
  if (!node.json) throw invalid('SHELL requires the arguments to be in JSON form');
  return { kind: 'SHELL', ...base(node), command: { form: 'exec', args: [...node.args] } };
}

/** (name, value, separator) triples → pairs; BuildKit's parseKvps. */
function keyValues(args: readonly string[], name: string): KeyValue[] {
  if (args.length === 0) throw invalid(`${name} requires at least one argument`);
  if (args.length % 3 !== 0) throw invalid(`Bad input to ${name}, too many arguments`);
  const pairs: KeyValue[] = [];
  for (let i = 0; i < args.length; i += 3) {
    const key = args[i] ?? '';
    if (key === '') throw invalid(`${name} names can not be blank`);
    pairs.push({ key, value: args[i + 1] ?? '' });
  }
  return pairs;
}

function toExpose(node: AstNode): ExposeInstruction {
  atLeastOne(node, 'EXPOSE');
  parseFlags(node.flags, {});
  // BuildKit sorts the unexpanded words (byte order).
  const ports = [...node.args].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return { kind: 'EXPOSE', ...base(node), ports };
}

function toVolume(node: AstNode): VolumeInstruction {
  atLeastOne(node, 'VOLUME');
  parseFlags(node.flags, {});
  const paths = node.args.map(trimGo);
  if (paths.some((p) => p === '')) throw invalid('VOLUME specified can not be an empty string');
  return { kind: 'VOLUME', ...base(node), paths };
}

function toArg(node: AstNode): ArgInstruction {
  atLeastOne(node, 'ARG');
  // BuildKit does not look at ARG's flags at all.
  const args = node.args.map((word) => {
    const eq = word.indexOf('=');
    if (eq === -1) return { key: word };
    if (eq === 0) throw invalid('ARG names can not be blank');
    return { key: word.slice(0, eq), value: word.slice(eq + 1) };
  });
  return { kind: 'ARG', ...base(node), args };
}

const ONBUILD_PREFIX = /^[\t\n\f\r ]*ONBUILD[\t\n\f\r ]*/i;

function toOnbuild(node: AstNode, heredocs: AstNode['heredocs'], ctx: ConvertContext): OnbuildInstruction {
  const child = node.child;
  if (child === undefined) throw invalid('ONBUILD requires at least one argument');
  parseFlags(node.flags, {});
  const trigger = trimGo(child.rawKeyword).toUpperCase();
  if (trigger === 'ONBUILD') throw invalid('Chaining ONBUILD via `ONBUILD ONBUILD` isn\'t allowed');
  if (trigger === 'MAINTAINER' || trigger === 'FROM') throw invalid(`${trigger} isn't allowed as an ONBUILD trigger`);
  let expression = node.original.replace(ONBUILD_PREFIX, '');
  for (const heredoc of heredocs) expression += `\n${heredoc.content}${heredoc.name}`;
  let inner: Instruction;
  try {
    inner = convert({ ...child, original: node.original.replace(ONBUILD_PREFIX, '') }, heredocs, ctx);
  } catch (err) {
    // Point at the trigger keyword unless the error found its own word.
    throw err instanceof InstructionError ? err.at({ text: child.rawKeyword }) : err;
  }
  return { kind: 'ONBUILD', ...base(node), trigger: expression, instruction: inner };
}
