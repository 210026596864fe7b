/**
 * Instructions → global ARGs and stages, with the name rules: BuildKit's
 * instructions.Parse (stage names ^[a-z][a-z0-9-_.]*$, lower-cased; nothing
 * but ARG before the first FROM) plus kiln's stricter reading of two of
 * BuildKit's lint rules (ReservedStageName, DuplicateStageName), which are
 * errors here because either makes `--from`/`--target` ambiguous.
 */
import type { ArgInstruction, FromInstruction, Instruction } from '../dockerfile/index.ts';
import { PlanError } from './plan-error.ts';
import type { SourceText } from './source-text.ts';

const STAGE_NAME = /^[a-z][a-z0-9-_.]*$/;
const RESERVED = new Set(['scratch', 'context']);

export interface RawStage {
  index: number;
  name: string | undefined;
  from: FromInstruction;
  instructions: Instruction[];
}

/** Splits at FROM; checks names. Throws PlanError NO_BUILD_STAGE, STAGE_NAME_INVALID, STAGE_NAME_RESERVED, STAGE_NAME_DUPLICATE. */
export function splitStages(instructions: readonly Instruction[], src: SourceText): { globals: ArgInstruction[]; stages: RawStage[] } {
  const globals: ArgInstruction[] = [];
  const stages: RawStage[] = [];
  for (const ins of instructions) {
    if (ins.kind === 'FROM') {
      const name = checkName(ins, stages, src);
      stages.push({ index: stages.length, name, from: ins, instructions: [] });
    } else if (stages.length > 0) {
      stages[stages.length - 1]!.instructions.push(ins);
    } else if (ins.kind === 'ARG') {
      globals.push(ins);
    } else {
      throw new PlanError('NO_BUILD_STAGE', `no build stage in current context: ${ins.kind} before the first FROM (only ARG may come before it)`, {
        location: src.at(ins.range),
      });
    }
  }
  if (stages.length === 0) {
    const first = instructions[0];
    throw new PlanError('NO_BUILD_STAGE', 'the Dockerfile contains no stages to build: it has no FROM instruction', {
      location: first !== undefined ? src.at(first.range) : { file: src.file, line: 1 },
    });
  }
  return { globals, stages };
}

function checkName(ins: FromInstruction, earlier: readonly RawStage[], src: SourceText): string | undefined {
  if (ins.stageName === undefined) return undefined;
  const name = ins.stageName.toLowerCase();
  // `AS name` ends the FROM line
  const where = src.lastWord(ins.range);
  if (!STAGE_NAME.test(name)) {
    throw new PlanError('STAGE_NAME_INVALID', `invalid name for build stage: ${JSON.stringify(ins.stageName)}, name can't start with a number or contain symbols`, { location: where });
  }
  if (RESERVED.has(name)) {
    throw new PlanError('STAGE_NAME_RESERVED', `stage name ${JSON.stringify(name)} is reserved (${[...RESERVED].join(', ')} have a meaning of their own in FROM and --from); rename the stage`, { location: where });
  }
  const first = earlier.find((s) => s.name === name);
  if (first !== undefined) {
    throw new PlanError('STAGE_NAME_DUPLICATE', `duplicate stage name ${JSON.stringify(name)}: already used by the stage on line ${first.from.range.start}`, {
      location: where,
      firstLine: first.from.range.start,
    });
  }
  return name;
}
