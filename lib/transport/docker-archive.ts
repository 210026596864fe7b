import { tarStream, type TarWriteEntry } from '../archive/index.ts';
import { type Digest, digestHex } from '../digest/index.ts';
import { type Image, type Layer, uncompressedSizeOf } from '../image/index.ts';
import { canonicalJsonBytes } from '../oci/index.ts';
import { type ImageRef, familiarName, parseRef } from '../ref/index.ts';
import { writeFileAtomic } from './atomic-output.ts';
import { lazyReadable } from './lazy-readable.ts';
import { fileEntry } from './oci-archive.ts';
import { TransportError } from './transport-error.ts';

/** An image to write into a docker-archive, with the tags `docker load` gives it. */
export interface DockerArchiveImage {
  image: Image;
  /** References like `nginx:1`, `registry:5000/a/b:tag`; no digests. */
  tags: readonly string[];
}

/**
 * Writes `images` as a docker-archive, the format `docker load` reads (and
 * `skopeo copy docker-archive:FILE …`):
 * - `manifest.json`: `[{Config, RepoTags, Layers}]`, one object per image;
 * - `<config-hex>.json`: each config, byte for byte;
 * - `<diffid-hex>.tar`: each layer UNCOMPRESSED (docker load checks them
 *   against the config's diff_ids), shared layers stored once;
 * - `repositories`: the legacy `{repo: {tag: id}}` map (loaders use
 *   manifest.json; the id written is the image ID, the config digest hex).
 * Entries are sorted by name, owned by 0:0, mode 0644, mtime 0. Layers whose
 * uncompressed size is unknown are decompressed once beforehand to learn it
 * (and verified against their diffID). Atomic like {@link writeOciArchive}.
 * Throws REF_INVALID for a bad tag, OUTPUT_UNWRITABLE for an unwritable file.
 */
export async function writeDockerArchive(file: string, images: readonly DockerArchiveImage[]): Promise<void> {
  const tagged = images.map(({ image, tags }) => ({ image, refs: tags.map(parseTag) }));
  const seenTags = new Set<string>();
  for (const tag of tagged.flatMap((t) => t.refs.map(repoTag))) {
    if (seenTags.has(tag)) throw new TransportError('REF_INVALID', `tag ${tag} given twice`, { ref: tag });
    seenTags.add(tag);
  }
  const layers = uniqueLayers(images.map((i) => i.image));
  const sizes = new Map<Digest, number>();
  for (const layer of layers) sizes.set(layer.diffId, await uncompressedSizeOf(layer));
  const entries: TarWriteEntry[] = [];
  for (const layer of layers) {
    entries.push(fileEntry(`${digestHex(layer.diffId)}.tar`, sizes.get(layer.diffId)!, () => lazyReadable(() => layer.openUncompressed())));
  }
  const configs = new Set<string>();
  for (const { image } of images) {
    const name = `${digestHex(image.configDescriptor.digest)}.json`;
    if (configs.has(name)) continue;
    configs.add(name);
    entries.push(fileEntry(name, image.configBytes.length, () => image.configBytes));
  }
  const manifestJson = canonicalJsonBytes(tagged.map(({ image, refs }) => ({
    Config: `${digestHex(image.configDescriptor.digest)}.json`,
    RepoTags: refs.map(repoTag),
    Layers: image.layers.map((l) => `${digestHex(l.diffId)}.tar`),
  })));
  const repositories = canonicalJsonBytes(repositoriesMap(tagged));
  entries.push(fileEntry('manifest.json', manifestJson.length, () => manifestJson));
  entries.push(fileEntry('repositories', repositories.length, () => repositories));
  await writeFileAtomic(file, tarStream(entries));
}

function parseTag(tag: string): ImageRef {
  const ref = parseRef(tag);
  if (ref.digest !== undefined) {
    throw new TransportError('REF_INVALID', `a docker-archive tag cannot hold a digest: ${JSON.stringify(tag)}`, { ref: tag });
  }
  return ref;
}

/** `name:tag` in the familiar form `docker images` shows (`nginx:1`, `r:5000/a/b:t`). */
function repoTag(ref: ImageRef): string {
  return `${familiarName(ref)}:${ref.tag ?? 'latest'}`;
}

function repositoriesMap(images: readonly { image: Image; refs: readonly ImageRef[] }[]): Record<string, Record<string, string>> {
  const repos: Record<string, Record<string, string>> = {};
  for (const { image, refs } of images) {
    for (const ref of refs) {
      const tags = (repos[familiarName(ref)] ??= {});
      tags[ref.tag ?? 'latest'] = digestHex(image.configDescriptor.digest);
    }
  }
  return repos;
}

/** Every distinct layer (by diffID) of `images`, first appearance first. */
function uniqueLayers(images: readonly Image[]): Layer[] {
  const seen = new Map<Digest, Layer>();
  for (const image of images) for (const layer of image.layers) if (!seen.has(layer.diffId)) seen.set(layer.diffId, layer);
  return [...seen.values()];
}
