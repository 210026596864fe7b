/** Writing a build's result to its `-o` outputs: one image, or the index of a multi-platform build. */
import { tarStream } from '../archive/index.ts';
import type { OutputSpec } from '../build.ts';
import type { Image, ImageFormat } from '../image/index.ts';
import type { Platform } from '../oci/index.ts';
import { formatPlatform } from '../plan/index.ts';
import { formatRef, type ImageRef } from '../ref/index.ts';
import { indexNode, type LocalStore, type ManifestNode, nodeFromImage, preflightOutput, writeDirAtomic, writeDockerArchive, writeFileAtomic, writeLayoutNode, writeOciArchive, writeOciArchiveNode, writeOciLayout } from '../transport/index.ts';
import { changesToEntries, clampMtimes, diff, type DirNode, emptyDir, materialize, setNode } from '../vfs/index.ts';
import { BuildError } from './build-error.ts';

/**
 * Checks every output before anything is built: each destination must be
 * writable, and a multi-platform build (more than one of `platforms`)
 * cannot go to `type=docker`, which holds single images
 * (MULTI_PLATFORM_OUTPUT, as buildx refuses it). `local` and `tar` take one
 * folder per platform, as BuildKit's exporters do.
 */
export async function preflightOutputs(outputs: readonly OutputSpec[], platforms: readonly Platform[]): Promise<void> {
  for (const out of outputs) {
    if (out.type === 'image') continue;
    if (platforms.length > 1 && out.type === 'docker') {
      const names = platforms.map(formatPlatform).join(', ');
      throw new BuildError('MULTI_PLATFORM_OUTPUT', `-o type=docker holds one image, and this build makes ${platforms.length} (${names}): build one with --platform, or use type=oci or type=registry`, { path: out.dest });
    }
    await preflightOutput(out.dest, out.type === 'local' || (out.type === 'oci' && !out.tar) ? 'dir' : 'file');
  }
}

/** The name an image gets inside an OCI layout or archive: the first name's tag (`latest` when it has none). */
function layoutName(refs: readonly ImageRef[]): string | undefined {
  return refs[0]?.tag ?? (refs[0] ? 'latest' : undefined);
}

/** One platform's result: its image, and its filesystem made on demand (a build from the cache has none until asked). */
export interface PlatformResult {
  platform: Platform;
  image: Image;
  tree: () => Promise<DirNode>;
}

/**
 * Writes a build's result to every output and returns it as the tree the
 * store and the pushes take: one image, or the index of several
 * (MULTI_PLATFORM_CONFLICT when two come out for one platform). Filesystem
 * outputs get their mtimes clamped to `epoch`; with several platforms, one
 * folder each (linux_amd64/, linux_arm64/), as BuildKit's exporters.
 */
export async function writeResult(outputs: readonly OutputSpec[], results: readonly PlatformResult[], refs: readonly ImageRef[], epoch: number | undefined, format: ImageFormat): Promise<ManifestNode> {
  const needsTree = outputs.some((o) => o.type === 'local' || o.type === 'tar');
  const treeOf = async (r: PlatformResult): Promise<DirNode> => {
    const raw = await r.tree();
    return epoch === undefined ? raw : clampMtimes(raw, epoch);
  };
  if (results.length === 1) {
    const { image } = results[0]!;
    await writeOutputs(outputs, image, needsTree ? await treeOf(results[0]!) : emptyDir(), refs);
    return nodeFromImage(image);
  }
  checkDistinctPlatforms(results);
  const node = indexNode(results.map((r) => r.image), format);
  let trees = emptyDir();
  for (const r of needsTree ? results : []) trees = setNode(trees, [formatPlatform(r.platform).replaceAll('/', '_')], await treeOf(r));
  await writeIndexOutputs(outputs, node, trees, refs);
  return node;
}

/**
 * An index holds one image per platform: two targets whose images came out
 * for the same platform (a final stage `FROM --platform=linux/arm64 …`)
 * cannot share one (MULTI_PLATFORM_CONFLICT; BuildKit's lint rule
 * FromPlatformFlagConstDisallowed warns of the same).
 */
function checkDistinctPlatforms(results: readonly PlatformResult[]): void {
  const seen = new Map<string, string>();
  for (const { image, platform } of results) {
    const made = formatPlatform(image.config);
    const target = formatPlatform(platform);
    const other = seen.get(made);
    if (other !== undefined) {
      throw new BuildError('MULTI_PLATFORM_CONFLICT', `the builds for ${other} and ${target} both made a ${made} image (the final stage's FROM --platform fixes its platform), and an index holds one image per platform: remove that --platform, or build one platform`, { platform: made });
    }
    seen.set(made, target);
  }
}

/** Writes every requested output of a single-platform build, each atomically (temp name, then rename). */
async function writeOutputs(outputs: readonly OutputSpec[], image: Image, tree: DirNode, refs: readonly ImageRef[]): Promise<void> {
  const refName = layoutName(refs);
  for (const out of outputs) {
    switch (out.type) {
      case 'oci': {
        const images = [{ image, ...(refName !== undefined ? { refName } : {}) }];
        await (out.tar ? writeOciArchive(out.dest, images) : writeOciLayout(out.dest, images));
        break;
      }
      case 'docker':
        await writeDockerArchive(out.dest, [{ image, tags: refs.map((r) => formatRef(r)) }]);
        break;
      case 'local':
      case 'tar':
        await writeTree(out, tree);
        break;
      case 'image':
        break; // named in the local store, pushed after that
    }
  }
}

/**
 * Writes a multi-platform build to its outputs: the index to OCI layouts
 * and archives; `trees` (one folder per platform) to `local` and `tar`.
 */
async function writeIndexOutputs(outputs: readonly OutputSpec[], node: ManifestNode, trees: DirNode, refs: readonly ImageRef[]): Promise<void> {
  const refName = layoutName(refs);
  const ctx = { concurrency: 4, emit: () => {} };
  for (const out of outputs) {
    if (out.type === 'oci') await (out.tar ? writeOciArchiveNode(out.dest, node, refName, 'copied', ctx) : writeLayoutNode(out.dest, node, refName, 'copied', ctx));
    else if (out.type === 'local' || out.type === 'tar') await writeTree(out, trees);
    else if (out.type === 'docker') throw new BuildError('INTERNAL', 'a multi-platform result reached -o type=docker');
  }
}

/** A filesystem output: a folder, or one tar of it. */
async function writeTree(out: Extract<OutputSpec, { type: 'local' | 'tar' }>, tree: DirNode): Promise<void> {
  if (out.type === 'local') await writeDirAtomic(out.dest, (tmp: string) => materialize(tree, tmp));
  else await writeFileAtomic(out.dest, tarStream(changesToEntries(tree, diff(emptyDir(), tree))));
}

/** How many of the images' layer blobs the local store lacks (layers no step read: imported cache hits, unread base layers). */
export async function layersNotIn(store: LocalStore, images: readonly Image[]): Promise<number> {
  let n = 0;
  for (const image of images) for (const l of image.layers) if ((await store.content.stat(l.descriptor.digest))?.size !== l.descriptor.size) n++;
  return n;
}
