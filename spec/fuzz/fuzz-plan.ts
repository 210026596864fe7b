/**
 * The planner's stage for fuzz-dockerfile.ts (`--stage plan`): every input
 * that parses (up to its first bad instruction) is planned for the default
 * target and for its first named stage, with build args and platforms set,
 * and deferred warnings are resolved against an image environment. Only
 * KilnErrors (PlanError, or the parser's own) may escape.
 */
import { parseDockerfile, ShellLexer, toInstructionsUntilError } from '../../lib/dockerfile/index.ts';
import { planBuild, type PlanOptions, resolveDeferred } from '../../lib/plan/index.ts';

const BUILD_ARGS = new Map([
  ['B', 'busybox'],
  ['TAG', '1.36'],
  ['http_proxy', 'http://proxy:3128'],
  ['TARGETARCH', 'arm64'],
  ['UNUSED', 'x'],
]);

/** Parses `input` and plans it; throws only KilnErrors on bad input. */
export function planStage(input: Uint8Array): void {
  const parsed = parseDockerfile(input, 'Dockerfile');
  const { instructions } = toInstructionsUntilError(parsed);
  const lexer = new ShellLexer(parsed.escapeToken);
  const opts: PlanOptions = {
    file: 'Dockerfile',
    buildArgs: BUILD_ARGS,
    targetPlatform: { os: 'linux', architecture: 'arm', variant: 'v7' },
    buildPlatform: { os: 'linux', architecture: 'amd64' },
    expand: (w, env) => lexer.processWord(w, env),
    lines: parsed.lines,
  };
  const plan = planBuild(instructions, opts);
  for (const stage of plan.stages) resolveDeferred(stage.deferredWarnings, ['PATH', 'HOME', 'GOPATH']);
  const named = plan.stages.find((s) => s.name !== undefined && s.index !== plan.target.index);
  if (named?.name !== undefined) planBuild(instructions, { ...opts, target: named.name });
}
