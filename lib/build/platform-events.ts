/** Progress of a multi-platform build: one executor run per platform, reported as one build. */
import type { BuildProgress } from '../build.ts';
import type { BuildEvent } from '../executor/index.ts';
import type { Platform } from '../oci/index.ts';
import { formatPlatform, type Plan } from '../plan/index.ts';

/**
 * The label BuildKit puts before a stage's name in a multi-platform build:
 * the target platform (`linux/arm64`), or, for a stage that runs on another
 * platform (`FROM --platform=$BUILDPLATFORM`), both (`linux/amd64->arm64`).
 */
export function platformLabel(stage: Platform, target: Platform): string {
  const same = stage.os === target.os && stage.architecture === target.architecture && (stage.variant ?? '') === (target.variant ?? '');
  if (same) return formatPlatform(target);
  const to = stage.os === target.os ? [target.architecture, target.variant].filter((s) => s !== undefined && s !== '').join('/') : formatPlatform(target);
  return `${formatPlatform(stage)}->${to}`;
}

/**
 * Numbers the steps of successive executor runs as one sequence (each run
 * counts from #1) and labels each step with its platform. Call `next(plan)`
 * before each run; it returns that run's emitter.
 */
export class PlatformEvents {
  readonly #emit: (e: BuildProgress) => void;
  #offset = 0;
  #last = 0;

  constructor(emit: (e: BuildProgress) => void) {
    this.#emit = emit;
  }

  next(plan: Plan): (e: BuildEvent) => void {
    this.#offset = this.#last;
    const offset = this.#offset;
    const target = plan.platforms.target;
    return (e) => {
      if (e.kind === 'step') {
        this.#last = Math.max(this.#last, e.id + offset);
        const stage = plan.stages.find((s) => s.index === e.stage);
        const label = platformLabel(stage?.platform ?? target, target);
        this.#emit({ ...e, id: e.id + offset, stageName: `${label} ${e.stageName}` });
      } else if (e.kind === 'step-done') this.#emit({ ...e, id: e.id + offset });
      else this.#emit(e);
    };
  }
}
