import type { Instruction } from '../dockerfile/index.ts';
import { parseDockerfile, toInstruction } from '../dockerfile/index.ts';
import type { Image } from '../image/index.ts';
import { withConfig } from '../image/index.ts';
import type { Platform } from '../oci/index.ts';
import { DEFAULT_PATH } from '../plan/index.ts';
import type { ImageRef } from '../ref/index.ts';
import { applyLayer, type DirNode, emptyDir, type SpillDir } from '../vfs/index.ts';
import { BuildStepError } from './errors.ts';
import type { SourceLocation } from '../errors.ts';

/** Finds a base image for `FROM <image>` or `COPY --from=<image>`; injected by the composition root (local store, registry…). */
export interface ImageResolver {
  resolve(ref: ImageRef, platform: Platform, signal?: AbortSignal): Promise<Image>;
}

/**
 * Base images of one build: each resolved once per reference and platform,
 * and its filesystem built once (every layer applied in order, file bytes
 * spilled to `spill`, never held in memory), however many stages use it.
 */
export class BaseImages {
  readonly #images = new Map<string, Promise<Image>>();
  readonly #trees = new Map<string, Promise<DirNode>>();

  constructor(
    private readonly resolver: ImageResolver,
    private readonly spill: SpillDir,
  ) {}

  image(ref: ImageRef, platform: Platform, location: SourceLocation): Promise<Image> {
    const key = `${ref.registry}/${ref.repository}:${ref.tag ?? ''}@${ref.digest ?? ''} ${platform.os}/${platform.architecture}/${platform.variant ?? ''}`;
    let p = this.#images.get(key);
    if (p === undefined) {
      p = this.resolver.resolve(ref, platform).catch((cause: unknown) => {
        throw withLocation(cause, location);
      });
      this.#images.set(key, p);
    }
    return p;
  }

  tree(image: Image): Promise<DirNode> {
    let p = this.#trees.get(image.descriptor.digest);
    if (p === undefined) {
      p = (async () => {
        let tree = emptyDir();
        for (const layer of image.layers) tree = await applyLayer(tree, await layer.openUncompressed(), { spill: this.spill });
        return tree;
      })();
      this.#trees.set(image.descriptor.digest, p);
    }
    return p;
  }
}

function withLocation(cause: unknown, location: SourceLocation): unknown {
  if (cause instanceof Error && 'code' in cause && typeof cause.code === 'string') {
    return new BuildStepError(cause.code, cause.message, { location, cause });
  }
  return cause;
}

/**
 * The image a stage starts from: BuildKit adds the default PATH when the base
 * has none, and takes the base's ONBUILD triggers out of the config (they run
 * in this stage and are not passed on to grandchildren).
 */
export function stageBaseImage(base: Image): { image: Image; triggers: readonly string[] } {
  const triggers = base.config.config?.OnBuild ?? [];
  const env = base.config.config?.Env ?? [];
  const needsPath = !env.some((e) => e.startsWith('PATH='));
  if (triggers.length === 0 && !needsPath) return { image: base, triggers };
  const image = withConfig(base, (c) => {
    const cfg = { ...(c.config ?? {}) };
    if (needsPath) cfg.Env = [...env, `PATH=${DEFAULT_PATH}`];
    delete cfg.OnBuild;
    return { ...c, config: cfg };
  });
  return { image, triggers };
}

/** Parses a base image's ONBUILD trigger text into an instruction (located at the FROM line). */
export function parseTrigger(trigger: string, location: SourceLocation): Instruction {
  try {
    const parsed = parseDockerfile(trigger, location.file);
    const node = parsed.nodes[0];
    if (node === undefined || parsed.nodes.length !== 1) throw new Error('expected exactly one instruction');
    const ins = toInstruction(node, location.file);
    return { ...ins, range: { start: location.line, end: location.line } };
  } catch (cause) {
    throw new BuildStepError('ONBUILD_INVALID', `invalid ONBUILD trigger ${JSON.stringify(trigger)} in the base image: ${(cause as Error).message}`, { location, cause });
  }
}
