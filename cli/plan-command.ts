import { type LintWarning, type Plan, planFile, type Stage } from '../lib/index.ts';
import { parseArgs, UsageError } from './args.ts';
import { table } from './format.ts';
import type { Io } from './main.ts';

export const PLAN_HELP = `Usage:  kiln plan [OPTIONS] CONTEXT

Show the stages of a build, what each depends on, which are skipped for the
target, and the base images a build would fetch. Nothing is fetched or built.

Options:
      --build-arg stringArray   Set build-time variables
  -f, --file string             Name of the Dockerfile (default: "CONTEXT/Dockerfile")
      --target string           Set the target build stage
`;

/** `kiln plan [-f FILE] [--target T] [--build-arg K=V] CONTEXT`. */
export async function planCommand(argv: readonly string[], io: Io): Promise<number> {
  const args = parseArgs(argv, [
    { name: 'file', short: 'f', value: true },
    { name: 'target', value: true },
    { name: 'build-arg', value: true, repeat: true },
  ]);
  if (args.positional.length !== 1) throw new UsageError('requires exactly 1 argument (the build context)');
  const buildArgs: Record<string, string> = {};
  for (const kv of args.values.get('build-arg') ?? []) {
    const eq = kv.indexOf('=');
    if (eq > 0) buildArgs[kv.slice(0, eq)] = kv.slice(eq + 1);
    else if (io.env[kv] !== undefined) buildArgs[kv] = io.env[kv]!;
  }
  const file = args.values.get('file')?.[0];
  const target = args.values.get('target')?.[0];
  const { plan, warnings } = planFile({
    contextDir: args.positional[0]!,
    ...(file !== undefined ? { dockerfile: file } : {}),
    ...(target !== undefined ? { target } : {}),
    buildArgs,
  });
  io.out(renderPlan(plan, warnings));
  return 0;
}

const platformText = (p: { os: string; architecture: string; variant?: string }): string => `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`;

function baseText(plan: Plan, stage: Stage): string {
  const b = stage.base;
  switch (b.kind) {
    case 'scratch': return 'scratch';
    case 'stage': return `stage ${plan.stages[b.index]!.displayName}`;
    case 'image': return b.name;
  }
}

/** The plan as people read it: a stage table, the images to fetch, the build order, warnings. */
export function renderPlan(plan: Plan, warnings: readonly LintWarning[]): string {
  const rows = [['STAGE', 'NAME', 'FROM', 'DEPENDS ON', 'STATUS']];
  for (const s of plan.stages) {
    const deps = s.needs.map((i) => plan.stages[i]!.displayName);
    for (const d of s.dependencies) if (d.source.kind === 'image') deps.push(d.source.name);
    const status = !s.reachable ? 'skipped' : s.index === plan.target.index ? 'build (target)' : 'build';
    rows.push([String(s.index), s.name ?? '-', baseText(plan, s), deps.length > 0 ? [...new Set(deps)].join(', ') : '-', status]);
  }
  const out = [`${plan.file}: ${plan.stages.length} stage${plan.stages.length === 1 ? '' : 's'}, target ${plan.target.displayName}, platform ${platformText(plan.platforms.target)}`, '', table(rows), ''];
  out.push('Base images to fetch:');
  if (plan.images.length === 0) out.push('  (none)');
  for (const img of plan.images) out.push(`  ${img.name} (${platformText(img.platform)}) for stage ${img.stages.map((i) => plan.stages[i]!.displayName).join(', ')}`);
  out.push('', 'Build order:');
  plan.levels.forEach((level, i) => out.push(`  ${i + 1}. ${level.map((s) => plan.stages[s]!.displayName).join(', ')}`));
  if (plan.unusedBuildArgs.length > 0) out.push('', `Unused build args: ${plan.unusedBuildArgs.join(' ')}`);
  if (warnings.length > 0) {
    out.push('', 'Warnings:');
    for (const w of warnings) out.push(`  ${w.location.file}:${w.location.line}: ${w.rule}: ${w.message}`);
  }
  return `${out.join('\n')}\n`;
}
