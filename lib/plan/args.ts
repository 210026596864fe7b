/**
 * ARG scoping as BuildKit's dockerfile2llb does it (defaultArgs,
 * buildMetaArgs, dispatchArg): the automatic platform ARGs, global ARGs
 * before the first FROM, `--build-arg` values, and what a stage's
 * `ARG name[=default]` resolves to.
 */
import type { ArgInstruction } from '../dockerfile/index.ts';
import type { SourceLocation } from '../errors.ts';
import type { Platform } from '../oci/index.ts';
import { PlanError } from './plan-error.ts';
import { formatPlatform, formatPlatformAll } from './platform.ts';
import type { SourceText } from './source-text.ts';

/** Expands one shell word against `env` and names the variables it referenced that were unset (the injected shell lexer's `processWord`). */
export type Expand = (word: string, env: ReadonlyMap<string, string>) => { word: string; unmatched: ReadonlySet<string> };

/** Build args that reach RUN's environment without an ARG and stay out of history unless declared. */
export const PROXY_ARGS: readonly string[] = [
  'HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy', 'FTP_PROXY', 'ftp_proxy', 'NO_PROXY', 'no_proxy', 'ALL_PROXY', 'all_proxy',
];

/** The ARGs BuildKit defines from the platforms and the target, in its order. */
export const AUTOMATIC_ARGS: readonly string[] = [
  'BUILDPLATFORM', 'BUILDOS', 'BUILDOSVERSION', 'BUILDARCH', 'BUILDVARIANT',
  'TARGETPLATFORM', 'TARGETOS', 'TARGETOSVERSION', 'TARGETARCH', 'TARGETVARIANT', 'TARGETSTAGE',
];

/** What the executor needs to resolve a stage's `ARG`. */
export interface ArgScope {
  /** `--build-arg` values, as given: they win over every default. */
  readonly buildArgs: ReadonlyMap<string, string>;
  /**
   * What `ARG name` without a default takes when no build arg names it: the
   * automatic platform ARGs and the global ARGs that have a value (BuildKit's
   * `globalArgs`). Never visible in a stage without that `ARG`.
   */
  readonly inherited: ReadonlyMap<string, string>;
}

/** Sets `key` so that it becomes the newest entry, as BuildKit's EnvList orders its keys (used for suggestions). */
export function setVar(env: Map<string, string>, key: string, value: string): void {
  env.delete(key);
  env.set(key, value);
}

/**
 * BuildKit's `defaultArgs`: the automatic ARGs from the build and target
 * platforms and the target stage name (`default` when the target has none),
 * each overridable by a build arg of the same name.
 */
export function automaticArgs(target: Platform, build: Platform, targetStage: string, buildArgs: ReadonlyMap<string, string>): Map<string, string> {
  const values: [string, string][] = [
    ['BUILDPLATFORM', formatPlatform(build)],
    ['BUILDOS', build.os],
    ['BUILDOSVERSION', build['os.version'] ?? ''],
    ['BUILDARCH', build.architecture],
    ['BUILDVARIANT', build.variant ?? ''],
    ['TARGETPLATFORM', formatPlatformAll(target)],
    ['TARGETOS', target.os],
    ['TARGETOSVERSION', target['os.version'] ?? ''],
    ['TARGETARCH', target.architecture],
    ['TARGETVARIANT', target.variant ?? ''],
    ['TARGETSTAGE', targetStage === '' ? 'default' : targetStage],
  ];
  const env = new Map<string, string>();
  for (const [k, v] of values) setVar(env, k, buildArgs.get(k) ?? v);
  return env;
}

/** The global scope after the ARGs before the first FROM. */
export interface GlobalArgs {
  /** Variables FROM lines see, and what stage ARGs inherit: automatic ARGs plus global ARGs with a value. */
  readonly scope: Map<string, string>;
  /** Each global ARG's value (build arg, else expanded default); undefined when it has none. */
  readonly declared: Map<string, string | undefined>;
}

/**
 * BuildKit's `buildMetaArgs`: each global ARG takes its build arg, else its
 * default expanded with the ARGs before it. A default that fails to expand
 * (`${v:?msg}`) fails the build, but only when no build arg replaces it.
 */
export function globalArgs(instructions: readonly ArgInstruction[], automatic: ReadonlyMap<string, string>, buildArgs: ReadonlyMap<string, string>, expand: Expand, src: SourceText): GlobalArgs {
  const scope = new Map(automatic);
  const declared = new Map<string, string | undefined>();
  for (const ins of instructions) {
    for (const a of ins.args) {
      let value = buildArgs.get(a.key);
      if (value === undefined && a.value !== undefined) value = expandOrFail(expand, a.value, scope, () => src.at(ins.range));
      if (value !== undefined) setVar(scope, a.key, value);
      declared.set(a.key, value);
    }
  }
  return { scope, declared };
}

/** Expands a word whose failure fails the plan (global ARG defaults, FROM words). */
function expandOrFail(expand: Expand, word: string, env: ReadonlyMap<string, string>, where: () => SourceLocation): string {
  try {
    return expand(word, env).word;
  } catch (cause) {
    throw new PlanError('EXPANSION_FAILED', (cause as Error).message, { location: where(), cause });
  }
}

/**
 * The value of `ARG key[=default]` inside a stage (BuildKit's
 * `dispatchArg`): the build arg, else the default expanded with the stage's
 * variables at that point, else the inherited global/automatic value, else
 * none. The one rule both the planner and the executor use.
 */
export function stageArgValue(scope: ArgScope, key: string, defaultWord: string | undefined, expandDefault: (word: string) => string): string | undefined {
  const fromCli = scope.buildArgs.get(key);
  if (fromCli !== undefined) return fromCli;
  if (defaultWord !== undefined) return expandDefault(defaultWord);
  return scope.inherited.get(key);
}

/** Build args whose names are proxy ARGs (case-insensitively, as BuildKit's proxyEnvFromBuildArgs), for RUN's environment. */
export function proxyEnv(buildArgs: ReadonlyMap<string, string>): Map<string, string> {
  const names = new Set(PROXY_ARGS.map((n) => n.toLowerCase()));
  return new Map([...buildArgs].filter(([k]) => names.has(k.toLowerCase())).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/**
 * Build args nothing consumed: not declared by a global ARG or an ARG of a
 * stage the target needs, not a proxy ARG (in any case, as proxyEnv reads
 * them) and not an automatic one (those override the platform values).
 * Sorted, as the classic builder prints them.
 */
export function unusedBuildArgs(buildArgs: ReadonlyMap<string, string>, declared: ReadonlySet<string>): string[] {
  const proxies = new Set(PROXY_ARGS.map((n) => n.toLowerCase()));
  const automatic = new Set(AUTOMATIC_ARGS);
  return [...buildArgs.keys()].filter((k) => !declared.has(k) && !automatic.has(k) && !proxies.has(k.toLowerCase())).sort();
}

/** The classic builder's wording: `[Warning] One or more build-args [A B] were not consumed`. */
export function unusedBuildArgsMessage(names: readonly string[]): string {
  return `[Warning] One or more build-args [${names.join(' ')}] were not consumed`;
}
