/**
 * BuildKit's build checks that need no ARG/ENV values: the parse-level rules
 * (instructions/parse.go), the stage-wide casing check (validations.go) and
 * the per-stage dispatch rules that do not depend on variables (convert.go).
 * UndefinedVar and the FROM-argument rules need ARG scoping and are the
 * planner's. Every stage is checked, reachable from the target or not (as
 * `docker build --check` does).
 */
import { goQuote } from './ast.ts';
import type { AstNode, ParseResult } from './ast.ts';
import { DirectiveScanner } from './directives.ts';
import { DockerfileError } from './errors.ts';
import type { Instruction } from './instructions.ts';
import { lintRule, lintWarning } from './lint-rules.ts';
import type { LintRuleName, LintWarning } from './lint-rules.ts';
import { ShellLexer } from './shell-lexer.ts';
import type { SourceLocation } from '../errors.ts';

/** The `# check=` directive (BuildKit's linter.Config). */
export interface CheckDirective {
  /** `skip=all`. */
  skipAll: boolean;
  /** `skip=Rule1,Rule2`, names as written (trimmed). */
  skip: string[];
  /** `experimental=all`. */
  experimentalAll: boolean;
  /** `experimental=Rule1,…`: experimental rules to run. */
  experimental: string[];
  /** `error=true`: any warning fails the build (see lintViolationMessage). */
  error: boolean;
}

/** Options of lintDockerfile. */
export interface LintOptions {
  /** Replaces the file's `# check=` directive (BuildKit: the client's BUILDKIT_DOCKERFILE_CHECK). */
  check?: CheckDirective;
}

const NO_CHECKS: CheckDirective = { skipAll: false, skip: [], experimentalAll: false, experimental: [], error: false };
const GO_BOOL: Record<string, boolean> = {
  1: true, t: true, T: true, TRUE: true, true: true, True: true,
  0: false, f: false, F: false, FALSE: false, false: false, False: false,
};

/**
 * Parses a `check` directive value like BuildKit's ParseLintOptions: up to
 * three `;`-separated `key=value` options, keys `skip`, `experimental`,
 * `error`. Throws DockerfileError DIRECTIVE_INVALID with BuildKit's message
 * (`failed to parse check options: invalid check option "x"`).
 */
export function parseCheckDirective(value: string, location?: SourceLocation): CheckDirective {
  const config: CheckDirective = { ...NO_CHECKS, skip: [], experimental: [] };
  const text = value.trim();
  if (text === '') return config;
  const fail = (message: string): never => {
    throw new DockerfileError('DIRECTIVE_INVALID', `failed to parse check options: ${message}`, location);
  };
  for (const part of splitN(text, ';', 3)) {
    const eq = part.indexOf('=');
    if (eq === -1) fail(`invalid check option ${goQuote(part)}`);
    const key = part.slice(0, eq).trim();
    const v = part.slice(eq + 1).trim();
    if (key === 'skip' || key === 'experimental') {
      const all = v === 'all';
      const names = all ? [] : v.split(',').map((name) => name.trim());
      if (key === 'skip') [config.skipAll, config.skip] = [all, names];
      else [config.experimentalAll, config.experimental] = [all, names];
    } else if (key === 'error') {
      const flag = Object.hasOwn(GO_BOOL, v) ? GO_BOOL[v] : undefined;
      if (flag === undefined) fail(`failed to parse check option ${goQuote(part)}: strconv.ParseBool: parsing ${goQuote(v)}: invalid syntax`);
      config.error = flag ?? false;
    } else {
      fail(`invalid check option ${goQuote(key)}`);
    }
  }
  return config;
}

/** Go's strings.SplitN. */
function splitN(text: string, sep: string, n: number): string[] {
  const parts = text.split(sep);
  return parts.length <= n ? parts : [...parts.slice(0, n - 1), parts.slice(n - 1).join(sep)];
}

/** The file's `# check=` directive, parsed (no directive → nothing skipped). */
export function checkDirectiveOf(result: ParseResult, file: string = result.file): CheckDirective {
  const value = result.directives.check;
  if (value === undefined) return parseCheckDirective('');
  const line = result.directives.checkLine ?? 1;
  return parseCheckDirective(value, { file, line, column: 1 });
}

/** Whether `rule` runs under `check` (BuildKit's Linter.Run filter). */
export function lintRuleEnabled(check: CheckDirective, rule: LintRuleName): boolean {
  if (lintRule(rule).experimental) return check.experimentalAll || check.experimental.includes(rule);
  return !check.skipAll && !check.skip.includes(rule);
}

/**
 * BuildKit's error for `check=error=true` when `warnings` is not empty:
 * `lint violation found for rules: A, B` (rule names sorted); undefined when
 * there is nothing to report.
 */
export function lintViolationMessage(warnings: readonly LintWarning[]): string | undefined {
  if (warnings.length === 0) return undefined;
  return `lint violation found for rules: ${[...new Set(warnings.map((w) => w.rule))].sort().join(', ')}`;
}

/**
 * The configuration for one instruction: `base` merged with the first
 * `# check=…` comment right above it (BuildKit's
 * WithMergedConfigFromComments; it only adds skipped/experimental rules, and
 * a malformed one is ignored). Applies to every rule fired for that
 * instruction, except the file-wide casing and empty-continuation checks.
 */
export function withCommentCheck(base: CheckDirective, comments: readonly string[]): CheckDirective {
  for (const comment of comments) {
    const directive = new DirectiveScanner('').scan(comment);
    if (directive?.name !== 'check') continue;
    let extra: CheckDirective;
    try {
      extra = parseCheckDirective(directive.value.split(' ')[0] ?? '');
    } catch {
      return base;
    }
    return {
      skipAll: base.skipAll || extra.skipAll,
      skip: [...base.skip, ...extra.skip],
      experimentalAll: base.experimentalAll || extra.experimentalAll,
      experimental: [...base.experimental, ...extra.experimental],
      error: base.error,
    };
  }
  return base;
}

type Emit = (rule: LintRuleName, node: AstNode | { line: number; column?: number }, ...args: string[]) => void;

/**
 * Runs the static build checks on a parsed Dockerfile and its instructions
 * (`instructions[i]` must be the conversion of `result.nodes[i]`, as
 * toInstructions returns). When conversion failed at node k, pass the k
 * instructions before it (see toInstructionsUntilError): like BuildKit, only
 * the checks that run before its parse error are reported then. Honours `# check=skip=…|all` and
 * `experimental=…`, and per-instruction `# check=` comments for the
 * parse-level rules, as BuildKit does. Returns warnings sorted by line;
 * with `error=true` (see checkDirectiveOf) the caller fails the build using
 * lintViolationMessage. Throws DIRECTIVE_INVALID for a malformed directive.
 *
 * Rules: NoEmptyContinuation, MaintainerDeprecated, StageNameCasing,
 * FromAsCasing, InvalidDefinitionDescription (experimental),
 * ConsistentInstructionCasing, LegacyKeyValueFormat, WorkdirRelativePath,
 * JSONArgsRecommended, MultipleInstructionsDisallowed.
 */
export function lintDockerfile(
  result: ParseResult, instructions: readonly Instruction[], file: string = result.file, options: LintOptions = {},
): LintWarning[] {
  const check = options.check ?? checkDirectiveOf(result, file);
  const warnings: LintWarning[] = [];
  const emitWith = (config: CheckDirective): Emit => (rule, at, ...args) => {
    if (!lintRuleEnabled(config, rule)) return;
    const [line, column] = 'range' in at ? [at.range.start, at.column] : [at.line, at.column];
    warnings.push(lintWarning(rule, { file, line, ...(column === undefined ? {} : { column }) }, ...args));
  };
  const emit = emitWith(check);
  for (const w of result.warnings) {
    if (w.code === 'EMPTY_CONTINUATION') emit('NoEmptyContinuation', { line: w.line });
  }
  const emitFor = (node: AstNode): Emit => emitWith(withCommentCheck(check, node.comments));
  const complete = instructions.length >= result.nodes.length;
  for (const node of result.nodes.slice(0, instructions.length + 1)) parseLevel(node, emitFor(node));
  if (!complete) return sortByLine(warnings);
  const stages = splitStages(result.nodes, instructions);
  instructionCasing(stages, emit);
  const done = new Map<string, StageState>();
  for (const stage of stages) {
    const state = dispatchLevel(stage, inherited(stage, done), new ShellLexer(result.escapeToken), emitFor);
    if (stage.from.stageName !== undefined) done.set(stage.from.stageName, state);
  }
  return sortByLine(warnings);
}

function sortByLine(warnings: readonly LintWarning[]): LintWarning[] {
  return warnings
    .map((w, i) => ({ w, i }))
    .sort((a, b) => a.w.location.line - b.w.location.line || a.i - b.i)
    .map(({ w }) => w);
}

/** Rules BuildKit runs while converting each node (ParseInstructionWithLinter). */
function parseLevel(node: AstNode, emit: Emit): void {
  if (node.keyword === 'maintainer') emit('MaintainerDeprecated', node);
  if (node.keyword === 'from') {
    const [, as, name] = node.args;
    if (node.args.length === 3 && name !== undefined && name !== name.toLowerCase()) emit('StageNameCasing', node, name);
    if (node.args.length >= 3 && as !== undefined && !fromMatchesAs(node.rawKeyword, as)) emit('FromAsCasing', node, node.rawKeyword, as);
    if (node.args.length === 3 && name !== undefined) definitionDescription(node, 'FROM', [name.toLowerCase()], emit);
  }
  if (node.keyword === 'arg') {
    const keys = node.args.map((word) => word.split('=')[0] ?? '');
    definitionDescription(node, 'ARG', keys, emit);
  }
}

function fromMatchesAs(from: string, as: string): boolean {
  if (from === from.toLowerCase()) return as === as.toLowerCase();
  if (from === from.toUpperCase()) return as === as.toUpperCase();
  return true; // mixed-case FROM is ConsistentInstructionCasing's business
}

function definitionDescription(node: AstNode, instruction: string, keys: readonly string[], emit: Emit): void {
  const last = node.comments[node.comments.length - 1];
  if (last === undefined || keys.length === 0) return;
  if (keys.includes(last.split(' ')[0] ?? '')) return;
  emit('InvalidDefinitionDescription', node, instruction, keys.length > 1 ? '<arg_key>' : (keys[0] ?? ''));
}

/** A build stage: its FROM and the commands up to the next FROM. */
interface Stage {
  node: AstNode;
  from: Extract<Instruction, { kind: 'FROM' }>;
  commands: { node: AstNode; ins: Instruction }[];
}

function splitStages(nodes: readonly AstNode[], instructions: readonly Instruction[]): Stage[] {
  const stages: Stage[] = [];
  nodes.forEach((node, i) => {
    const ins = instructions[i];
    if (ins === undefined) return;
    if (ins.kind === 'FROM') stages.push({ node, from: ins, commands: [] });
    else stages[stages.length - 1]?.commands.push({ node, ins });
  });
  return stages;
}

function instructionCasing(stages: readonly Stage[], emit: Emit): void {
  const names = stages.flatMap((s) => [s.node, ...s.commands.map((c) => c.node)]);
  let lower = 0;
  let upper = 0;
  for (const node of names) {
    const name = node.rawKeyword;
    if (name === name.toLowerCase()) lower++;
    else if (name === name.toUpperCase()) upper++;
  }
  const majorityLower = lower > upper;
  for (const node of names) {
    const name = node.rawKeyword;
    if (majorityLower && name !== name.toLowerCase()) emit('ConsistentInstructionCasing', node, name, 'lowercase');
    else if (!majorityLower && name !== name.toUpperCase()) emit('ConsistentInstructionCasing', node, name, 'uppercase');
  }
}

/** What a stage passes on to stages built FROM it. */
interface StageState {
  workdirSet: boolean;
  shellSet: boolean;
}

function inherited(stage: Stage, done: ReadonlyMap<string, StageState>): StageState {
  const base = done.get(stage.from.image.toLowerCase());
  return base === undefined ? { workdirSet: false, shellSet: false } : { ...base };
}

const NO_ENV = (): undefined => undefined;

/** The rules BuildKit runs while dispatching a stage's commands, where no variable value is needed. */
function dispatchLevel(stage: Stage, state: StageState, lexer: ShellLexer, emitFor: (node: AstNode) => Emit): StageState {
  const once = new Map<string, AstNode>();
  for (const { node, ins } of stage.commands) {
    const emit = emitFor(node);
    switch (ins.kind) {
      case 'ENV':
      case 'LABEL':
        for (let i = 2; i < node.args.length; i += 3) {
          if (node.args[i] === '') emit('LegacyKeyValueFormat', node, node.rawKeyword);
        }
        break;
      case 'WORKDIR': {
        const path = literal(lexer, ins.path);
        if (!state.workdirSet && path !== undefined && !path.startsWith('/')) emit('WorkdirRelativePath', node, path);
        state.workdirSet = true;
        break;
      }
      case 'SHELL':
        state.shellSet = true;
        break;
      case 'CMD':
      case 'ENTRYPOINT':
      case 'HEALTHCHECK': {
        const previous = once.get(ins.kind);
        if (previous !== undefined) emit('MultipleInstructionsDisallowed', previous, node.rawKeyword);
        once.set(ins.kind, node);
        if (ins.kind !== 'HEALTHCHECK' && ins.command.form === 'shell' && !state.shellSet) emit('JSONArgsRecommended', node, node.rawKeyword);
        break;
      }
      default:
        break;
    }
  }
  return state;
}

/** The word's value when it uses no variable (quotes removed); undefined otherwise. */
function literal(lexer: ShellLexer, word: string): string | undefined {
  try {
    const result = lexer.processWord(word, NO_ENV);
    return result.matched.size === 0 && result.unmatched.size === 0 ? result.word : undefined;
  } catch {
    return undefined;
  }
}
