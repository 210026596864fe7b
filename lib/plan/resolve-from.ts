/**
 * FROM lines → typed bases (BuildKit's buildDispatchStates and addState):
 * the image word and `--platform` are expanded with the global scope; the
 * exact word `scratch` is the empty image, the name of an EARLIER stage is
 * that stage, anything else must be an image reference.
 */
import type { SourceLocation } from '../errors.ts';
import type { Platform } from '../oci/index.ts';
import { type ImageRef, parseRef } from '../ref/index.ts';
import type { Expand } from './args.ts';
import { PlanError } from './plan-error.ts';
import { parsePlatform } from './platform.ts';
import type { RawStage } from './split-stages.ts';
import type { SourceText } from './source-text.ts';
import { suggest } from './suggest.ts';

/** What a stage (or a `--from`) starts from. `name` is the image word after expansion. */
export type BaseRef = { kind: 'scratch' } | { kind: 'stage'; index: number } | { kind: 'image'; ref: ImageRef; name: string };

export interface ResolvedFrom {
  base: BaseRef;
  /** `--platform`, parsed; undefined when absent. */
  platform: Platform | undefined;
  /** Variables the image word and `--platform` referenced that were unset (UndefinedArgInFrom). */
  unmatched: string[];
}

export interface FromContext {
  scope: ReadonlyMap<string, string>;
  expand: Expand;
  src: SourceText;
  buildPlatform: Platform;
}

/** Resolves one stage's FROM. Throws PlanError EXPANSION_FAILED, FROM_INVALID, PLATFORM_INVALID. */
export function resolveFrom(stage: RawStage, earlier: readonly RawStage[], ctx: FromContext): ResolvedFrom {
  const ins = stage.from;
  const imageAt = ctx.src.firstArgument(ins.range);
  const image = expandWord(ins.image, ctx, imageAt);
  const unmatched = [...image.unmatched];
  let platform: Platform | undefined;
  if (ins.platform !== undefined) {
    const at = ctx.src.find(ins.range, '--platform');
    const p = expandWord(ins.platform, ctx, at);
    unmatched.push(...p.unmatched);
    platform = platformOf(ins.platform, p, ctx, at);
  }
  if (image.word === '') throw new PlanError('FROM_INVALID', `base name (${ins.image}) should not be blank`, { location: imageAt });
  return { base: baseOf(image.word, earlier, imageAt), platform, unmatched };
}

function expandWord(word: string, ctx: FromContext, at: SourceLocation): { word: string; unmatched: ReadonlySet<string> } {
  try {
    return ctx.expand(word, ctx.scope);
  } catch (cause) {
    throw new PlanError('EXPANSION_FAILED', (cause as Error).message, { location: at, cause });
  }
}

function platformOf(word: string, expanded: { word: string; unmatched: ReadonlySet<string> }, ctx: FromContext, at: SourceLocation): Platform {
  // As BuildKit's wrapSuggestAny: a misspelt variable is the likely cause.
  let hint = '';
  for (const v of expanded.unmatched) {
    const s = suggest(v, ctx.scope.keys(), true);
    if (s !== undefined) {
      hint = ` (did you mean ${s}?)`;
      break;
    }
  }
  if (expanded.word === '') throw new PlanError('PLATFORM_INVALID', `empty platform value from expression ${word}${hint}`, { location: at });
  try {
    return parsePlatform(expanded.word, ctx.buildPlatform);
  } catch (cause) {
    throw new PlanError('PLATFORM_INVALID', `failed to parse platform ${word}: ${(cause as Error).message}${hint}`, { location: at, cause });
  }
}

function baseOf(name: string, earlier: readonly RawStage[], at: SourceLocation): BaseRef {
  if (name === 'scratch') return { kind: 'scratch' };
  // BuildKit's addState: the expanded word against the lower-cased names of earlier stages, exactly
  const stage = earlier.find((s) => s.name === name);
  if (stage !== undefined) return { kind: 'stage', index: stage.index };
  try {
    return { kind: 'image', ref: parseRef(name), name };
  } catch (cause) {
    const sameButCase = earlier.find((s) => s.name === name.toLowerCase());
    const hint = sameButCase !== undefined ? `; FROM matches stage names exactly: write ${JSON.stringify(sameButCase.name)} for the stage on line ${sameButCase.from.range.start}` : '';
    throw new PlanError('FROM_INVALID', `failed to parse stage name ${JSON.stringify(name)}: ${(cause as Error).message}${hint}`, { location: at, cause });
  }
}
