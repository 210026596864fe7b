/**
 * The build plan: what `kiln plan` prints and the executor runs. Pure: no
 * I/O, only references (base images are named, never fetched).
 */
import { type CheckDirective, type FromInstruction, type Instruction, type LintWarning, lintRuleEnabled, lintWarning, ShellLexer } from '../dockerfile/index.ts';
import type { SourceLocation } from '../errors.ts';
import type { Platform } from '../oci/index.ts';
import { formatRef, type ImageRef } from '../ref/index.ts';
import { type ArgScope, automaticArgs, type Expand, type GlobalArgs, globalArgs, proxyEnv, unusedBuildArgs } from './args.ts';
import { type Dependency, dependenciesOf } from './dependencies.ts';
import { PlanError } from './plan-error.ts';
import { defaultPlatform, formatPlatformAll } from './platform.ts';
import { type BaseRef, resolveFrom } from './resolve-from.ts';
import { SourceText } from './source-text.ts';
import { type RawStage, splitStages } from './split-stages.ts';
import { checkCycles, checkForwardReferences, type GraphNode, levelsOf, needsOf, reachableFrom } from './stage-graph.ts';
import { suggest } from './suggest.ts';
import { dedupe, type DeferredUndefinedVar, initialVarState, resolveDeferred, type VarState, walkStage } from './undefined-vars.ts';

/** One `FROM … [AS name]` block. */
export interface Stage {
  readonly index: number;
  /** Lower-cased `AS` name, if any. */
  readonly name: string | undefined;
  /** The name, else `stage-<index>` (BuildKit's progress name). */
  readonly displayName: string;
  readonly from: FromInstruction;
  /** The stage's instructions after FROM, in order. */
  readonly instructions: readonly Instruction[];
  /** Where the FROM is. */
  readonly location: SourceLocation;
  /** The FROM line resolved: scratch, an earlier stage, or an image reference (not fetched). */
  readonly base: BaseRef;
  /** `FROM --platform`, else the base stage's platform, else the target platform. */
  readonly platform: Platform;
  /** `COPY --from` / `RUN --mount=from=` edges, including ONBUILD triggers of the base stage. */
  readonly dependencies: readonly Dependency[];
  /** Stages that must be built before this one: the base stage and `--from` stages. */
  readonly needs: readonly number[];
  /** Whether the target needs this stage; an unreachable stage is neither checked further nor built. */
  readonly reachable: boolean;
  /**
   * UndefinedVar findings that depend on a base image's ENV (stages whose
   * chain of bases ends in an image): the executor turns them into warnings
   * with resolveDeferred once the starting config is known. Empty otherwise.
   */
  readonly deferredWarnings: readonly DeferredUndefinedVar[];
}

/** An image the build would fetch. */
export interface PlannedImage {
  readonly ref: ImageRef;
  /** As written after expansion. */
  readonly name: string;
  readonly platform: Platform;
  /** Stages that use it (as base or through `--from`). */
  readonly stages: readonly number[];
}

export interface Plan {
  readonly file: string;
  readonly stages: readonly Stage[];
  /** The stage whose result is the build's output. */
  readonly target: Stage;
  /** The ARGs before the first FROM with their values (build arg, else expanded default; undefined: none). */
  readonly globalArgs: ReadonlyMap<string, string | undefined>;
  /** How a stage's ARGs resolve; see stageArgValue. */
  readonly args: ArgScope;
  readonly platforms: { readonly target: Platform; readonly build: Platform };
  /** Reachable stages in levels: each level's stages need only stages of earlier levels. */
  readonly levels: readonly (readonly number[])[];
  /** The levels flattened: a valid order to build the reachable stages one by one. */
  readonly order: readonly number[];
  /** Images the reachable stages use, each once per platform, in first-use order. */
  readonly images: readonly PlannedImage[];
  /** Proxy build args (HTTP_PROXY…): for RUN's environment, kept out of history unless declared. */
  readonly proxyEnv: ReadonlyMap<string, string>;
  /** Build args nothing consumes (see unusedBuildArgsMessage). */
  readonly unusedBuildArgs: readonly string[];
  /** Build-check warnings that need ARG scoping: UndefinedVar, UndefinedArgInFrom. */
  readonly warnings: readonly LintWarning[];
}

export interface PlanOptions {
  file: string;
  /** `--target`: a stage name (any case); default the last stage. */
  target?: string;
  /** `--build-arg` values. Default none. */
  buildArgs?: ReadonlyMap<string, string>;
  /** Default: the host's platform (Linux). */
  targetPlatform?: Platform;
  /** Default: the host's platform (Linux). */
  buildPlatform?: Platform;
  /** The Dockerfile's shell lexer (`(w, env) => lexer.processWord(w, env)`). Default: a lexer with the `\` escape. */
  expand?: Expand;
  /** The Dockerfile's lines (ParseResult.lines): gives locations a column. */
  lines?: readonly string[];
  /** The `# check=` settings (checkDirectiveOf): rules it skips are not reported. */
  check?: CheckDirective;
}

/**
 * Plans a build, before any I/O: splits stages, resolves global ARGs (with
 * build args and the automatic platform ARGs), every FROM and `--from`,
 * checks the stage graph, picks the stages the target needs and orders them.
 * Throws PlanError (see PlanErrorCode) with the file, line and column.
 */
export function planBuild(instructions: readonly Instruction[], opts: PlanOptions): Plan {
  const src = new SourceText(opts.file, opts.lines);
  const buildArgs = opts.buildArgs ?? new Map<string, string>();
  const host = defaultPlatform();
  const platforms = { target: opts.targetPlatform ?? host, build: opts.buildPlatform ?? opts.targetPlatform ?? host };
  const expand = opts.expand ?? defaultExpand();

  const { globals, stages: raw } = splitStages(instructions, src);
  const target = targetOf(raw, opts.target);
  const automatic = automaticArgs(platforms.target, platforms.build, opts.target ?? raw[raw.length - 1]!.name ?? '', buildArgs);
  const global = globalArgs(globals, automatic, buildArgs, expand, src);
  const args: ArgScope = { buildArgs, inherited: global.scope };

  const { nodes, warnings } = resolveStages(raw, global, expand, src, platforms);
  checkCycles(nodes);
  const reachable = reachableFrom(nodes, target.index);
  checkForwardReferences(nodes, reachable);
  const levels = levelsOf(nodes, reachable);

  const vars = walkStages(raw, nodes, reachable, args, expand, src);
  warnings.push(...vars.warnings);
  const stages = raw.map((s) => toStage(s, nodes[s.index]!, reachable, vars.deferred.get(s.index) ?? [], src));
  const declared = new Set([...global.declared.keys(), ...raw.filter((s) => reachable.has(s.index)).flatMap(argKeys)]);
  const check = opts.check;
  return Object.freeze({
    file: opts.file,
    stages,
    target: stages[target.index]!,
    globalArgs: global.declared,
    args,
    platforms,
    levels,
    order: levels.flat(),
    images: imagesOf(stages, platforms.target),
    proxyEnv: proxyEnv(buildArgs),
    unusedBuildArgs: unusedBuildArgs(buildArgs, declared),
    warnings: byLine(dedupe(check === undefined ? warnings : warnings.filter((w) => lintRuleEnabled(check, w.rule as Parameters<typeof lintRuleEnabled>[1])))),
  });
}

function defaultExpand(): Expand {
  const lexer = new ShellLexer('\\');
  return (w, env) => lexer.processWord(w, env);
}

/** Warnings in file order (stable: one line's keep their order). */
function byLine(warnings: LintWarning[]): LintWarning[] {
  return warnings.sort((a, b) => a.location.line - b.location.line || (a.location.column ?? 0) - (b.location.column ?? 0));
}

type Node = GraphNode & { platform: Platform };

/**
 * Every stage's FROM (base, platform) and `--from` edges, resolved whether
 * the target needs the stage or not (BuildKit checks them all); with the
 * UndefinedArgInFrom warnings of the FROM lines.
 */
function resolveStages(raw: readonly RawStage[], global: GlobalArgs, expand: Expand, src: SourceText, platforms: Plan['platforms']): { nodes: Node[]; warnings: LintWarning[] } {
  const warnings: LintWarning[] = [];
  const fromKeys = new Set([...global.scope.keys(), ...global.declared.keys()]);
  const nodes: Node[] = [];
  for (const stage of raw) {
    const r = resolveFrom(stage, raw.slice(0, stage.index), { scope: global.scope, expand, src, buildPlatform: platforms.build });
    for (const name of r.unmatched) {
      if (!fromKeys.has(name)) warnings.push(lintWarning('UndefinedArgInFrom', warningLocation(src.at(stage.from.range)), name, ...optional(suggest(name, fromKeys, true))));
    }
    nodes.push({
      index: stage.index,
      displayName: stage.name ?? `stage-${stage.index}`,
      line: stage.from.range.start,
      base: r.base,
      baseLocation: src.firstArgument(stage.from.range),
      dependencies: dependenciesOf(stage, r.base, raw, src),
      // BuildKit's dispatchState.init: a stage FROM another runs on that stage's platform
      platform: r.base.kind === 'stage' ? nodes[r.base.index]!.platform : (r.platform ?? platforms.target),
    });
  }
  return { nodes, warnings };
}

function targetOf(stages: readonly RawStage[], target: string | undefined): RawStage {
  if (target === undefined) return stages[stages.length - 1]!;
  const found = stages.find((s) => s.name === target.toLowerCase());
  if (found !== undefined) return found;
  const names = stages.flatMap((s) => (s.name !== undefined ? [s.name] : []));
  const near = suggest(target, names, true);
  const listed = names.length > 0 ? `; the stages are: ${names.join(', ')}` : '; the Dockerfile names no stages (use FROM … AS name)';
  throw new PlanError('TARGET_UNKNOWN', `target stage ${JSON.stringify(target)} could not be found${near !== undefined ? ` (did you mean ${near}?)` : ''}${listed}`, {
    target,
    stages: names,
  });
}

function argKeys(stage: RawStage): string[] {
  return stage.instructions.flatMap((i) => (i.kind === 'ARG' ? i.args.map((a) => a.key) : []));
}

function optional(s: string | undefined): string[] {
  return s === undefined ? [] : [s];
}

function warningLocation(at: SourceLocation): LintWarning['location'] {
  return { file: at.file, line: at.line, ...(at.column !== undefined ? { column: at.column } : {}) };
}

/**
 * UndefinedVar over the reachable stages, in order: a stage FROM an earlier
 * stage starts from that stage's declared ARGs and variables (BuildKit
 * inherits both); findings in image-based chains are deferred.
 */
function walkStages(raw: readonly RawStage[], nodes: readonly GraphNode[], reachable: ReadonlySet<number>, args: ArgScope, expand: Expand, src: SourceText) {
  const ends = new Map<number, VarState>();
  const onImage = new Map<number, boolean>();
  const warnings: LintWarning[] = [];
  const deferred = new Map<number, DeferredUndefinedVar[]>();
  for (const stage of raw) {
    if (!reachable.has(stage.index)) continue;
    const base = nodes[stage.index]!.base;
    const start = base.kind === 'stage' ? ends.get(base.index)! : initialVarState();
    const image = base.kind === 'stage' ? onImage.get(base.index)! : base.kind === 'image';
    const { end, refs } = walkStage(stage.instructions, start, args, expand, src);
    ends.set(stage.index, end);
    onImage.set(stage.index, image);
    if (image) deferred.set(stage.index, refs);
    else warnings.push(...resolveDeferred(refs, []));
  }
  return { warnings, deferred };
}

function toStage(s: RawStage, node: Node, reachable: ReadonlySet<number>, deferred: readonly DeferredUndefinedVar[], src: SourceText): Stage {
  return Object.freeze({
    index: s.index,
    name: s.name,
    displayName: node.displayName,
    from: s.from,
    instructions: s.instructions,
    location: src.at(s.from.range),
    base: node.base,
    platform: node.platform,
    dependencies: node.dependencies,
    needs: needsOf(node),
    reachable: reachable.has(s.index),
    deferredWarnings: deferred,
  });
}

function imagesOf(stages: readonly Stage[], targetPlatform: Platform): PlannedImage[] {
  const byKey = new Map<string, { ref: ImageRef; name: string; platform: Platform; stages: number[] }>();
  const add = (ref: ImageRef, name: string, platform: Platform, stage: number): void => {
    const key = `${formatRef(ref)} ${formatPlatformAll(platform)}`;
    const entry = byKey.get(key) ?? { ref, name, platform, stages: [] };
    if (!entry.stages.includes(stage)) entry.stages.push(stage);
    byKey.set(key, entry);
  };
  for (const s of stages) {
    if (!s.reachable) continue;
    if (s.base.kind === 'image') add(s.base.ref, s.base.name, s.platform, s.index);
    // BuildKit resolves `--from` images for the target platform
    for (const d of s.dependencies) if (d.source.kind === 'image') add(d.source.ref, d.source.name, targetPlatform, s.index);
  }
  return [...byKey.values()];
}
