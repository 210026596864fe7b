import { ContentStore } from '../content/index.ts';
import { type Descriptor, type Index } from '../oci/index.ts';
import { type ImageRef, formatRef, normalizeRegistry, parseRef } from '../ref/index.ts';
import type { RegistryClient } from '../registry/index.ts';
import { readDockerArchive, unpackOciArchive } from './archive-source.ts';
import { preferStore, registryReader, storeReader } from './content-readers.ts';
import type { ImageLocation } from './image-location.ts';
import { REF_NAME } from './layout-index.ts';
import { LocalStore } from './local-store.ts';
import { readLayoutIndex } from './oci-layout.ts';
import { type PlatformChoice, type Selected, selectNode } from './select-node.ts';
import { TransportError } from './transport-error.ts';

/** What a source needs: a registry client (for `docker://`), the local store, a scratch store for unpacking archives. */
export interface SourceContext {
  client: () => RegistryClient;
  home: string;
  /** A content store archives are unpacked into (the local store's when that is the destination). */
  scratch: () => Promise<ContentStore>;
  signal?: AbortSignal | undefined;
  /** A store whose manifests and configs (by digest) are used instead of fetching them again from a registry. */
  known?: ContentStore | undefined;
}

/** An image (or index) read from a location, ready to copy. */
export interface SourceImage extends Selected {
  /** The name the source gives the image (a registry reference, a local tag, an archive's RepoTag). */
  name: ImageRef | undefined;
  /** True when blobs come over the network (worth staging before a sink that reads them twice). */
  remote: boolean;
  /** For a registry source: its registry and repository (for cross-repository mounts). */
  repository: Pick<ImageRef, 'registry' | 'repository'> | undefined;
}

/**
 * Reads what `loc` names and resolves it by `choice` (see {@link selectNode}).
 * Manifests and configs are read now; layer blobs stay lazy. Throws
 * IMAGE_NOT_FOUND when nothing is at the location, the registry's errors
 * for registries, LAYOUT_INVALID / ARCHIVE_INVALID for broken layouts and
 * archives.
 */
export async function readSource(loc: ImageLocation, choice: PlatformChoice, ctx: SourceContext): Promise<SourceImage> {
  switch (loc.kind) {
    case 'registry': {
      const client = ctx.client();
      const m = await client.getManifest(loc.ref, { signal: ctx.signal });
      const top: Descriptor = { mediaType: m.mediaType, digest: m.digest, size: m.bytes.length };
      const remote = registryReader(client, loc.ref, ctx.signal);
      const selected = await selectNode(ctx.known ? preferStore(ctx.known, remote) : remote, top, m.bytes, choice, `pull of ${formatRef(loc.ref)}`, ctx.signal);
      return { ...selected, name: loc.ref, remote: true, repository: { registry: normalizeRegistry(loc.ref.registry), repository: loc.ref.repository } };
    }
    case 'local': {
      const store = new LocalStore(ctx.home);
      const top = await store.resolveDescriptor(loc.name);
      if (top === undefined) throw new TransportError('IMAGE_NOT_FOUND', `no such image in the local store: ${loc.name}`, { ref: loc.name });
      const selected = await selectNode(storeReader(store.content), top, undefined, choice, loc.name, ctx.signal);
      return { ...selected, name: localName(loc.name), remote: false, repository: undefined };
    }
    case 'oci': {
      const top = pickEntry(await readLayoutIndex(loc.dir), loc.tag, `oci:${loc.dir}`);
      const selected = await selectNode(storeReader(new ContentStore(loc.dir)), top, undefined, choice, `oci:${loc.dir}`, ctx.signal);
      return { ...selected, name: undefined, remote: false, repository: undefined };
    }
    case 'oci-archive': {
      const scratch = await ctx.scratch();
      const { index } = await unpackOciArchive(loc.file, scratch);
      const top = pickEntry(index, loc.tag, `oci-archive:${loc.file}`);
      const selected = await selectNode(storeReader(scratch), top, undefined, choice, `oci-archive:${loc.file}`, ctx.signal);
      return { ...selected, name: undefined, remote: false, repository: undefined };
    }
    case 'docker-archive': {
      const scratch = await ctx.scratch();
      const image = await readDockerArchive(loc.file, scratch, { ref: loc.ref, index: loc.index });
      const selected = await selectNode(storeReader(scratch), image.descriptor, image.manifestBytes, choice, `docker-archive:${loc.file}`, ctx.signal);
      return { ...selected, name: image.name, remote: false, repository: undefined };
    }
  }
}

/**
 * The index.json entry a layout location names: the one whose ref.name is
 * `tag`, or the only entry when no tag is given (as skopeo). Throws
 * IMAGE_NOT_FOUND otherwise.
 */
export function pickEntry(index: Index, tag: string | undefined, where: string): Descriptor {
  if (tag !== undefined) {
    const hit = index.manifests.find((d) => d.annotations?.[REF_NAME] === tag);
    if (hit === undefined) throw new TransportError('IMAGE_NOT_FOUND', `${where} has no image named ${JSON.stringify(tag)}`, { ref: tag });
    return hit;
  }
  if (index.manifests.length === 1) return index.manifests[0]!;
  const why = index.manifests.length === 0 ? 'holds no image' : `holds ${index.manifests.length} images: name one with ${where}:NAME`;
  throw new TransportError('IMAGE_NOT_FOUND', `${where} ${why}`, {});
}

/** The reference a local store name stands for; undefined for an image ID. */
function localName(name: string): ImageRef | undefined {
  if (/^(sha256:)?[a-f0-9]{12,64}$/.test(name)) return undefined;
  try {
    return parseRef(name);
  } catch {
    return undefined;
  }
}
