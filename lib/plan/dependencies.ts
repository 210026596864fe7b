/**
 * `COPY --from` and `RUN --mount=from=` → edges of the stage graph
 * (BuildKit's toCommand and detectRunMount): a stage name (any case) is
 * that stage, wherever it is defined (the graph check refuses later ones);
 * for COPY a number is a stage index; `scratch` is the empty image; anything
 * else is an image reference. Nothing is fetched here. (A variable in
 * `--from` is refused by the parser already, as BuildKit refuses it.)
 */
import type { Instruction } from '../dockerfile/index.ts';
import type { SourceLocation } from '../errors.ts';
import { parseRef } from '../ref/index.ts';
import { PlanError } from './plan-error.ts';
import type { BaseRef } from './resolve-from.ts';
import type { RawStage } from './split-stages.ts';
import type { SourceText } from './source-text.ts';
import { suggest } from './suggest.ts';

/** One `--from` edge of a stage. */
export interface Dependency {
  /** The COPY/RUN that names it; for a trigger inherited from the base stage, its ONBUILD. */
  readonly instruction: Instruction;
  /** RUN only: which `--mount` (0-based). */
  readonly mount?: number;
  /** The value as written. */
  readonly from: string;
  readonly source: BaseRef;
  readonly location: SourceLocation;
  /** For an image reference that reads like a stage name: why it is not one, to add to a failed pull. */
  readonly hint?: string;
}

const LOOKS_LIKE_STAGE = /^[a-z][a-z0-9-_.]*$/i;
const INDEX = /^[+-]?\d+$/;

interface Edge {
  instruction: Instruction;
  runs: Instruction;
  mount?: number;
  from: string;
  index: boolean;
}

/**
 * The `--from` edges of `stage`: its own COPY/RUN instructions, then the
 * ONBUILD triggers of its base stage (they run in this stage).
 */
export function dependenciesOf(stage: RawStage, base: BaseRef, stages: readonly RawStage[], src: SourceText): Dependency[] {
  const edges: Edge[] = [];
  for (const ins of stage.instructions) if (ins.kind !== 'ONBUILD') edges.push(...edgesOf(ins, ins));
  if (base.kind === 'stage') {
    for (const ins of stages[base.index]!.instructions) if (ins.kind === 'ONBUILD') edges.push(...edgesOf(ins, ins.instruction));
  }
  return edges.map((e) => resolveEdge(e, stages, src));
}

function edgesOf(instruction: Instruction, runs: Instruction): Edge[] {
  if (runs.kind === 'COPY' || runs.kind === 'ADD') return runs.from !== undefined ? [{ instruction, runs, from: runs.from, index: true }] : [];
  if (runs.kind !== 'RUN') return [];
  return runs.mountSpecs.flatMap((m, mount) => (m.from !== undefined ? [{ instruction, runs, mount, from: m.from, index: false }] : []));
}

function resolveEdge(e: Edge, stages: readonly RawStage[], src: SourceText): Dependency {
  const location = e.mount === undefined ? src.find(e.instruction.range, '--from') : src.find(e.instruction.range, '--mount', e.mount);
  const dep = { instruction: e.instruction, ...(e.mount !== undefined ? { mount: e.mount } : {}), from: e.from, location };
  if (e.index && INDEX.test(e.from)) {
    const i = Number(e.from);
    if (!Number.isSafeInteger(i) || i < 0 || i >= stages.length) {
      throw new PlanError('STAGE_INDEX_INVALID', `invalid stage index ${e.from} in --from: the Dockerfile has stages 0 to ${stages.length - 1}`, { location });
    }
    return { ...dep, source: { kind: 'stage', index: i } };
  }
  const named = stages.find((s) => s.name !== undefined && s.name === e.from.toLowerCase());
  if (named !== undefined) return { ...dep, source: { kind: 'stage', index: named.index } };
  if (e.from === 'scratch') return { ...dep, source: { kind: 'scratch' } };
  const hint = hintFor(e, stages);
  try {
    return { ...dep, source: { kind: 'image', ref: parseRef(e.from), name: e.from }, ...(hint !== undefined ? { hint } : {}) };
  } catch (cause) {
    const why = hint ?? (cause as Error).message;
    throw new PlanError('FROM_INVALID', `--from=${e.from} names no stage and no valid image: ${why}`, { location, cause });
  }
}

function hintFor(e: Edge, stages: readonly RawStage[]): string | undefined {
  if (!e.index && INDEX.test(e.from)) return `${JSON.stringify(e.from)} is read as an image: RUN --mount from= takes stage names, not indexes (as BuildKit)`;
  if (!LOOKS_LIKE_STAGE.test(e.from)) return undefined;
  const names = stages.filter((s) => s.name !== undefined).map((s) => s.name!);
  const near = suggest(e.from, names, false);
  return `${JSON.stringify(e.from)} is not a stage defined before line ${e.instruction.range.start}${near !== undefined ? `; did you mean ${JSON.stringify(near)}?` : ''}`;
}
