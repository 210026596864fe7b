import { KilnError } from '../errors.ts';
import type { ArgInstruction, FromInstruction, Instruction } from '../dockerfile/index.ts';

/** Failures of the stage graph: no stage, unknown target, duplicate or invalid names, cycles. */
export class PlanError extends KilnError {}

/** One `FROM … [AS name]` block. */
export interface Stage {
  readonly index: number;
  /** Lower-cased `AS` name, if any. */
  readonly name: string | undefined;
  readonly from: FromInstruction;
  /** The stage's instructions after FROM, in order. */
  readonly instructions: readonly Instruction[];
}

export interface Plan {
  readonly file: string;
  /** `ARG`s before the first FROM: visible to FROM lines, and to stages that re-declare them. */
  readonly globalArgs: readonly ArgInstruction[];
  readonly stages: readonly Stage[];
  /** The stage whose result is the build's output. */
  readonly target: Stage;
}

const STAGE_NAME = /^[a-z][a-z0-9-_.]*$/;

/**
 * Splits instructions into stages and picks the target (`--target`, else the
 * last stage). Checked before any I/O: something other than ARG before the
 * first FROM, duplicate or malformed stage names, an unknown target.
 */
export function planBuild(instructions: readonly Instruction[], opts: { file: string; target?: string }): Plan {
  const globalArgs: ArgInstruction[] = [];
  const stages: { index: number; name: string | undefined; from: FromInstruction; instructions: Instruction[] }[] = [];
  const loc = (ins: Instruction) => ({ file: opts.file, line: ins.range.start });
  for (const ins of instructions) {
    if (ins.kind === 'FROM') {
      const name = ins.stageName?.toLowerCase();
      if (name !== undefined) {
        if (!STAGE_NAME.test(name)) throw new PlanError('STAGE_NAME_INVALID', `invalid name for build stage: ${JSON.stringify(ins.stageName)}, name can't start with a number or contain symbols`, { location: loc(ins) });
        if (stages.some((s) => s.name === name)) throw new PlanError('STAGE_NAME_DUPLICATE', `duplicate stage name ${JSON.stringify(name)}`, { location: loc(ins) });
      }
      stages.push({ index: stages.length, name, from: ins, instructions: [] });
    } else if (stages.length === 0) {
      if (ins.kind !== 'ARG') throw new PlanError('NO_BUILD_STAGE', `no build stage in current context: ${ins.kind} before the first FROM`, { location: loc(ins) });
      globalArgs.push(ins);
    } else {
      stages[stages.length - 1]!.instructions.push(ins);
    }
  }
  if (stages.length === 0) throw new PlanError('NO_BUILD_STAGE', 'the Dockerfile has no FROM instruction', { location: { file: opts.file, line: 1 } });
  let target = stages[stages.length - 1]!;
  if (opts.target !== undefined) {
    const t = stages.find((s) => s.name === opts.target!.toLowerCase());
    if (t === undefined) throw new PlanError('TARGET_UNKNOWN', `target stage ${JSON.stringify(opts.target)} could not be found`, { target: opts.target });
    target = t;
  }
  return Object.freeze({ file: opts.file, globalArgs, stages, target });
}

/**
 * The stage a FROM or `--from` name refers to: an earlier stage by name or
 * (for `--from`, `allowIndex`) by index. As BuildKit: `--from` names match
 * case-insensitively; a FROM name must equal the lower-cased stage name
 * (`FROM Build` is an image reference, not stage `build`).
 */
export function findStage(plan: Plan, name: string, before: number, allowIndex: boolean): Stage | undefined {
  const wanted = allowIndex ? name.toLowerCase() : name;
  const byName = plan.stages.find((s) => s.index < before && s.name === wanted);
  if (byName !== undefined) return byName;
  if (allowIndex && /^\d+$/.test(name)) {
    const i = Number(name);
    return i < before ? plan.stages[i] : undefined;
  }
  return undefined;
}
