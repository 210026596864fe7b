import type { Instruction } from '../dockerfile/index.ts';
import { parseDockerfile, toInstruction } from '../dockerfile/index.ts';
import type { Image, Layer } from '../image/index.ts';
import { withConfig } from '../image/index.ts';
import type { Platform } from '../oci/index.ts';
import { DEFAULT_PATH } from '../plan/index.ts';
import type { ImageRef } from '../ref/index.ts';
import { applyLayer, type DirNode, emptyDir, type SpillDir } from '../vfs/index.ts';
import { BuildStepError } from './errors.ts';
import { indexLayer, type LayerIndex, lowestNeededLayer } from './layer-scan.ts';
import type { SourceLocation } from '../errors.ts';

/** Finds a base image for `FROM <image>` or `COPY --from=<image>`; injected by the composition root (local store, registry…). */
export interface ImageResolver {
  resolve(ref: ImageRef, platform: Platform, signal?: AbortSignal): Promise<Image>;
}

/** Layers fetched at once when a whole image is needed. */
const FETCH_CONCURRENCY = 4;

/**
 * Base images of one build: each resolved once per reference and platform,
 * and its filesystem built once (every layer applied in order, file bytes
 * spilled to `spill`, never held in memory), however many stages use it.
 * Layers are opened only when needed: an image whose layers come from a
 * registry downloads them then (see {@link treeFor}).
 */
export class BaseImages {
  readonly #images = new Map<string, Promise<Image>>();
  readonly #trees = new Map<string, Promise<DirNode>>();
  readonly #indexes = new Map<string, Promise<LayerIndex>>();

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

  /** The image's whole filesystem; every layer is fetched first, several at once. */
  tree(image: Image): Promise<DirNode> {
    return this.#layersFrom(image, 0);
  }

  /**
   * A filesystem that holds `paths` (root-relative, `/`-separated, no
   * wildcards; a directory with everything below it) exactly as the whole
   * image does: the layers are read from the top down only until every path
   * is decided (see {@link lowestNeededLayer}), and only those layers are
   * fetched and applied. Other paths may be missing or incomplete. When the
   * whole image is built already, or a layer cannot be applied on its own
   * (a hardlink into a lower layer), the whole filesystem.
   */
  async treeFor(image: Image, paths: readonly string[]): Promise<DirNode> {
    const whole = this.#trees.get(`${image.descriptor.digest} 0`);
    if (whole !== undefined) return whole;
    const from = await lowestNeededLayer(image.layers, paths, (layer) => this.#index(layer));
    if (from === 0) return this.tree(image);
    return this.#layersFrom(image, from).catch(() => this.tree(image));
  }

  #index(layer: Layer): Promise<LayerIndex> {
    let p = this.#indexes.get(layer.descriptor.digest);
    if (p === undefined) {
      p = indexLayer(layer);
      this.#indexes.set(layer.descriptor.digest, p);
    }
    return p;
  }

  #layersFrom(image: Image, from: number): Promise<DirNode> {
    const key = `${image.descriptor.digest} ${from}`;
    let p = this.#trees.get(key);
    if (p === undefined) {
      p = (async () => {
        const layers = image.layers.slice(from);
        // The first layer is read as it downloads (one pass: download, decompress, apply); the
        // others download meanwhile, several at once, and are applied from the store in order.
        const rest = fetchAll(layers.slice(1));
        rest.catch(() => {}); // awaited below
        try {
          let tree = emptyDir();
          for (const layer of layers) tree = await applyLayer(tree, await layer.openUncompressed(), { spill: this.spill, name: layer.descriptor.digest });
          return tree;
        } finally {
          await rest.catch(() => {}); // nothing keeps downloading behind a failure; a fetch's own failure reached its apply
        }
      })();
      this.#trees.set(key, p);
    }
    return p;
  }
}

/** Opens every layer (which fetches those that come from a registry), several at once, and closes them again. */
async function fetchAll(layers: readonly Layer[]): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < layers.length) (await layers[next++]!.open()).destroy();
  };
  await Promise.all(Array.from({ length: Math.min(FETCH_CONCURRENCY, layers.length) }, worker));
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
