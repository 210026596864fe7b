import { mkdir, readdir, readFile, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { ContentStore } from '../content/index.ts';
import type { Digest } from '../digest/index.ts';
import { type Image, MAX_JSON_BLOB, imageFromStore, uncompressedSizeOf } from '../image/index.ts';
import { type Descriptor, type Index, MediaType, type Platform, canonicalJsonBytes, hostPlatform, parseIndex, parseManifest } from '../oci/index.ts';
import { type ImageRef, formatRef, parseRef } from '../ref/index.ts';
import { copyImageBlobs } from './copy-image-blobs.ts';
import { IMAGE_MANIFEST_TYPES, INDEX_TYPES, type ManifestNode } from './manifest-node.ts';
import { pickPlatform, platformText } from './select-node.ts';
import { withFileLock } from './file-lock.ts';
import { CREATED, REF_NAME, indexEntry } from './layout-index.ts';
import { LAYOUT_HEADER, replaceFile } from './oci-layout.ts';
import { TransportError } from './transport-error.ts';

/** kiln's own index annotation: the sum of the image's uncompressed layer sizes, in bytes (decimal). */
export const SIZE_ANNOTATION = 'dev.kiln.image.size';

/** One image as {@link LocalStore.list} reports it. */
export interface LocalImageSummary {
  /** The tag, or undefined for an untagged (dangling) image or a name kiln did not write. */
  ref: ImageRef | undefined;
  /** The raw `org.opencontainers.image.ref.name`, when there is one. */
  name: string | undefined;
  /** The manifest's descriptor (as listed in index.json). */
  descriptor: Descriptor;
  created?: string;
  /** Sum of the uncompressed layer sizes, in bytes. */
  size: number;
  /** The image ID; for a multi-platform index, the index's digest (as docker's containerd store shows it). */
  configDigest: Digest;
  /** A multi-platform index's platforms (`os/arch[/variant]`), in its order; undefined for a single image. */
  platforms?: string[];
  /** Why the entry cannot be read (its manifest missing or damaged): listed anyway, so it can be seen and removed. */
  problem?: string;
}

/**
 * kiln's local image store at `$KILN_HOME` (the CLI resolves the default
 * `~/.local/share/kiln`). The folder is itself an OCI image layout —
 * `oci-layout`, `index.json`, `blobs/sha256/*` — so `skopeo copy
 * oci:$KILN_HOME:docker.io/library/x:1 …` reads it. Each tag is one index
 * entry whose `org.opencontainers.image.ref.name` is the canonical reference
 * (`docker.io/library/nginx:1`); an image that lost its last tag to another
 * image stays listed without a name (dangling) until removed.
 *
 * Writes put blobs first and then replace index.json atomically; every
 * index change is one read-modify-write in `#updateIndex`, under a lock
 * file shared with other kiln processes (`index.json.lock`). Blobs are
 * only deleted by garbage collection ({@link removeBlobsExcept}, for
 * `kiln prune`).
 */
export class LocalStore {
  readonly root: string;
  readonly content: ContentStore;

  constructor(root: string) {
    this.root = root;
    this.content = new ContentStore(root);
  }

  /**
   * Stores `image` and points each of `refs` (tagged, no digest) at it. A
   * tag held by another image moves; that image stays, untagged, if nothing
   * else names it. With no refs the image is stored untagged.
   */
  async putImage(image: Image, refs: readonly ImageRef[] = []): Promise<void> {
    const names = refs.map(tagName);
    await copyImageBlobs(this.content, image);
    const size = await this.#imageSize(image);
    const annotations: Record<string, string> = { [SIZE_ANNOTATION]: String(size) };
    if (image.config.created !== undefined) annotations[CREATED] = image.config.created;
    await this.#ensureLayout();
    await this.#updateIndex((manifests) => retag(manifests, indexEntry(image, annotations), names));
  }

  /**
   * Stores a multi-platform index (a tree of {@link indexNode}: every child
   * an image) and points each of `refs` at it, as {@link putImage} does for
   * one image: the images' blobs first, then their manifests and the index,
   * then index.json. The entry records the images' summed size.
   */
  async putIndex(node: ManifestNode, refs: readonly ImageRef[] = []): Promise<void> {
    const images = node.children.map((c) => c.image);
    if (!INDEX_TYPES.has(node.descriptor.mediaType) || images.length === 0 || images.some((i) => i === undefined)) {
      throw new TransportError('INDEX_INVALID', `putIndex takes an index of images, not ${node.descriptor.mediaType} ${node.descriptor.digest}`);
    }
    let size = 0;
    for (const image of images as Image[]) {
      await copyImageBlobs(this.content, image);
      size += await this.#imageSize(image);
    }
    for (const m of [...node.children, node]) await this.content.putBytes(m.bytes, { digest: m.descriptor.digest, size: m.descriptor.size });
    const created = images.map((i) => i!.config.created).filter((c): c is string => c !== undefined).sort().pop();
    const { mediaType, digest, size: bytes } = node.descriptor;
    const entry: Descriptor = { mediaType, digest, size: bytes, annotations: { [SIZE_ANNOTATION]: String(size), ...(created !== undefined ? { [CREATED]: created } : {}) } };
    await this.tagStored(entry, refs);
  }

  /**
   * Every entry: one per tag, plus untagged images. Reads each manifest to
   * learn the image ID; a multi-platform index is one entry, its platforms
   * listed (an image of an index whose blobs are missing counts as 0).
   */
  async list(): Promise<LocalImageSummary[]> {
    const out: LocalImageSummary[] = [];
    for (const d of (await this.readIndex()).manifests) {
      const name = d.annotations?.[REF_NAME];
      const created = d.annotations?.[CREATED];
      let summary: LocalImageSummary;
      try {
        const read = await this.#summary(d, name);
        if (read === undefined) continue;
        summary = read;
      } catch (err) {
        // A broken entry (`kiln fsck` says why; --repair drops it) stays visible and removable.
        summary = { ref: canonicalRef(name), name, descriptor: d, size: 0, configDigest: d.digest, problem: (err as Error).message };
      }
      if (created !== undefined) summary.created = created;
      out.push(summary);
    }
    return out;
  }

  /** One entry of {@link list}, read from its manifest or index; undefined for an entry that is neither. */
  async #summary(d: Descriptor, name: string | undefined): Promise<LocalImageSummary | undefined> {
    if (IMAGE_MANIFEST_TYPES.has(d.mediaType)) {
      const configDigest = parseManifest(await this.content.readBytes(d.digest, MAX_JSON_BLOB), { allowEmptyLayers: true }).config.digest;
      return { ref: canonicalRef(name), name, descriptor: d, size: await this.#entrySize(d), configDigest };
    }
    if (!INDEX_TYPES.has(d.mediaType)) return undefined;
    const index = parseIndex(await this.content.readBytes(d.digest, MAX_JSON_BLOB));
    const recorded = Number(d.annotations?.[SIZE_ANNOTATION]);
    let size = d.annotations?.[SIZE_ANNOTATION] !== undefined && Number.isSafeInteger(recorded) && recorded >= 0 ? recorded : undefined;
    // An index another command stored (kiln copy --all-platforms): its images' sizes, those whose blobs are here.
    if (size === undefined) {
      size = 0;
      for (const m of index.manifests) if (IMAGE_MANIFEST_TYPES.has(m.mediaType)) size += await this.#entrySize(m).catch(() => 0);
    }
    const platforms = index.manifests.flatMap((m) => (m.platform !== undefined ? [platformText(m.platform)] : []));
    return { ref: canonicalRef(name), name, descriptor: d, size, configDigest: d.digest, platforms };
  }

  /**
   * The image named by a reference (`nginx`, `docker.io/library/nginx:1`,
   * `name@sha256:…` by manifest digest) or by its ID: the config digest in
   * full (`sha256:…`, or 64 hex) or as a prefix of at least 12 hex digits.
   * A name is tried before an ID prefix, as docker does. Undefined when
   * nothing matches; ID_AMBIGUOUS when a prefix matches several images.
   */
  async resolve(nameOrId: string, platform: Platform = hostPlatform()): Promise<Image | undefined> {
    const found = await this.resolveDescriptor(nameOrId);
    if (found === undefined) return undefined;
    // Of a multi-platform index, `platform`'s image.
    const read = (d: Descriptor): Promise<Buffer> => this.content.readBytes(d.digest, MAX_JSON_BLOB);
    const chosen = INDEX_TYPES.has(found.mediaType) ? (await pickPlatform(read, found, await read(found), platform, nameOrId)).descriptor : found;
    return imageFromStore(this.content, chosen);
  }

  /**
   * The descriptor of the manifest (or index) a name or ID names, by the
   * rules of {@link resolve}; `{mediaType, digest, size}` only. Undefined
   * when nothing matches; ID_AMBIGUOUS as resolve.
   */
  async resolveDescriptor(nameOrId: string): Promise<Descriptor | undefined> {
    const id = /^(sha256:)?([a-f0-9]{12,64})$/.exec(nameOrId);
    const onlyId = id !== null && (id[1] !== undefined || id[2]!.length === 64);
    if (!onlyId) {
      const found = await this.#findByRef(parseRef(nameOrId));
      if (found !== undefined || id === null) return found && bare(found);
    }
    const prefix = id![2]!;
    const matches = new Map<Digest, Descriptor>();
    for (const { descriptor, configDigest } of await this.#imageEntries()) {
      if (configDigest.startsWith(`sha256:${prefix}`)) matches.set(descriptor.digest, descriptor);
    }
    // A multi-platform index's ID is its own digest (see list).
    for (const d of (await this.readIndex()).manifests) if (INDEX_TYPES.has(d.mediaType) && d.digest.startsWith(`sha256:${prefix}`)) matches.set(d.digest, d);
    if (matches.size > 1) {
      throw new TransportError('ID_AMBIGUOUS', `image ID prefix ${prefix} matches ${matches.size} images`, { id: prefix });
    }
    const [match] = matches.values();
    return match && bare(match);
  }

  /**
   * Points each of `refs` (tagged, no digest) at a manifest or index whose
   * bytes and referenced blobs are already in {@link content} (an index's
   * manifests too), as {@link putImage} does for an Image. `entry` is the
   * index.json entry to write (its annotations and platform kept).
   */
  async tagStored(entry: Descriptor, refs: readonly ImageRef[] = []): Promise<void> {
    const names = refs.map(tagName);
    if ((await this.content.stat(entry.digest))?.size !== entry.size) {
      throw new TransportError('IMAGE_NOT_FOUND', `manifest ${entry.digest} is not in the local store`, { digest: entry.digest });
    }
    await this.#ensureLayout();
    await this.#updateIndex((manifests) => retag(manifests, entry, names));
  }

  /**
   * Removes a tag (or, for `name@digest`, every entry of that manifest).
   * Returns false when nothing matched. Blobs stay until garbage collection.
   */
  async remove(ref: ImageRef): Promise<boolean> {
    let removed = false;
    await this.#updateIndex((manifests) => {
      const name = formatRef(ref);
      const kept = manifests.filter((d) => (ref.digest !== undefined ? d.digest !== ref.digest : d.annotations?.[REF_NAME] !== name));
      removed = kept.length !== manifests.length;
      return kept;
    });
    return removed;
  }

  /** Removes every index entry of the manifest `digest` (its tags and any untagged entry); returns how many. */
  async removeDigest(digest: Digest): Promise<number> {
    let removed = 0;
    await this.#updateIndex((manifests) => {
      const kept = manifests.filter((d) => d.digest !== digest);
      removed = manifests.length - kept.length;
      return kept;
    });
    return removed;
  }

  /** Removes the untagged (dangling) entries from index.json; returns how many there were. */
  async removeUntagged(): Promise<number> {
    let removed = 0;
    if ((await this.readIndex()).manifests.every((d) => d.annotations?.[REF_NAME] !== undefined)) return 0;
    await this.#updateIndex((manifests) => {
      const kept = manifests.filter((d) => d.annotations?.[REF_NAME] !== undefined);
      removed = manifests.length - kept.length;
      return kept;
    });
    return removed;
  }

  /**
   * Every blob the images of index.json need: their manifests (an index's
   * manifests too), configs and layers. Blobs the store lacks are left out;
   * a manifest that cannot be read keeps only itself.
   */
  async referencedBlobs(): Promise<Set<Digest>> {
    const keep = new Set<Digest>();
    const visit = async (d: Descriptor): Promise<void> => {
      if (keep.has(d.digest) || !(await this.content.has(d.digest))) return;
      keep.add(d.digest);
      if (d.mediaType === MediaType.OciIndex || d.mediaType === MediaType.DockerManifestList) {
        const index = await this.content.readBytes(d.digest, MAX_JSON_BLOB).then((b) => parseIndex(b)).catch(() => undefined);
        for (const m of index?.manifests ?? []) await visit(m);
        return;
      }
      if (d.mediaType !== MediaType.OciManifest && d.mediaType !== MediaType.DockerManifest) return;
      const manifest = await this.content.readBytes(d.digest, MAX_JSON_BLOB).then((b) => parseManifest(b, { allowEmptyLayers: true })).catch(() => undefined);
      for (const blob of manifest === undefined ? [] : [manifest.config, ...manifest.layers]) keep.add(blob.digest);
    };
    for (const d of (await this.readIndex()).manifests) await visit(d);
    return keep;
  }

  /**
   * Deletes every blob not in `keep`; returns how many and their bytes.
   * Garbage collection, for `kiln prune`: a build or pull writing to this
   * store at the same time could lose the blobs it has not referenced yet.
   */
  async removeBlobsExcept(keep: ReadonlySet<string>): Promise<{ count: number; bytes: number }> {
    const dir = join(this.root, 'blobs', 'sha256');
    const names = await readdir(dir).catch(() => [] as string[]);
    let count = 0;
    let bytes = 0;
    for (const name of names) {
      if (keep.has(`sha256:${name}`)) continue;
      const path = join(dir, name);
      const size = (await stat(path).catch(() => undefined))?.size;
      if (size === undefined) continue;
      await unlink(path);
      count++;
      bytes += size;
    }
    return { count, bytes };
  }

  /** The store's index.json; an empty index when the store does not exist yet. Throws LAYOUT_INVALID. */
  async readIndex(): Promise<Index> {
    let bytes: Buffer;
    try {
      bytes = await readFile(join(this.root, 'index.json'));
    } catch (err) {
      if ((err as { code?: unknown }).code === 'ENOENT') return { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] };
      throw new TransportError('LAYOUT_INVALID', `cannot read ${join(this.root, 'index.json')}`, { cause: err });
    }
    try {
      return parseIndex(bytes);
    } catch (cause) {
      throw new TransportError('LAYOUT_INVALID', `the local store's index.json is invalid`, { cause, path: this.root });
    }
  }

  /** One read-modify-write of index.json, under the store's lock (other kiln processes wait). */
  async #updateIndex(change: (manifests: Descriptor[]) => Descriptor[]): Promise<void> {
    await mkdir(this.root, { recursive: true });
    await withFileLock(join(this.root, 'index.json.lock'), async () => {
      const index = await this.readIndex();
      const next: Index = { ...index, schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: change([...index.manifests]) };
      await replaceFile(join(this.root, 'index.json'), canonicalJsonBytes(next));
    });
  }

  async #ensureLayout(): Promise<void> {
    const path = join(this.root, 'oci-layout');
    const existing = await readFile(path).catch(() => undefined);
    if (existing === undefined) await replaceFile(path, LAYOUT_HEADER);
  }

  /** Index entries of single images, each with its config digest (read from its manifest). */
  async #imageEntries(): Promise<{ descriptor: Descriptor; configDigest: Digest }[]> {
    const configs = new Map<Digest, Digest>();
    const out: { descriptor: Descriptor; configDigest: Digest }[] = [];
    for (const d of (await this.readIndex()).manifests) {
      if (d.mediaType !== MediaType.OciManifest && d.mediaType !== MediaType.DockerManifest) continue;
      let configDigest = configs.get(d.digest);
      if (configDigest === undefined) {
        // An entry whose manifest cannot be read has no ID to match (list shows it, by its digest).
        configDigest = await this.content.readBytes(d.digest, MAX_JSON_BLOB).then((b) => parseManifest(b, { allowEmptyLayers: true }).config.digest, () => undefined);
        if (configDigest === undefined) continue;
        configs.set(d.digest, configDigest);
      }
      out.push({ descriptor: d, configDigest });
    }
    return out;
  }

  async #findByRef(ref: ImageRef): Promise<Descriptor | undefined> {
    const { manifests } = await this.readIndex();
    if (ref.digest !== undefined) return manifests.find((d) => d.digest === ref.digest);
    const name = formatRef(ref);
    return manifests.find((d) => d.annotations?.[REF_NAME] === name);
  }

  async #imageSize(image: Image): Promise<number> {
    const { manifests } = await this.readIndex();
    const known = manifests.find((d) => d.digest === image.descriptor.digest && d.annotations?.[SIZE_ANNOTATION] !== undefined);
    if (known !== undefined) return Number(known.annotations![SIZE_ANNOTATION]);
    let total = 0;
    for (const layer of image.layers) total += await uncompressedSizeOf(layer);
    return total;
  }

  /** The recorded size, or (for entries another tool wrote) the layers decompressed and counted. */
  async #entrySize(d: Descriptor): Promise<number> {
    const recorded = Number(d.annotations?.[SIZE_ANNOTATION]);
    if (Number.isSafeInteger(recorded) && recorded >= 0 && d.annotations?.[SIZE_ANNOTATION] !== undefined) return recorded;
    return this.#imageSize(await imageFromStore(this.content, bare(d)));
  }
}

/**
 * The new index entries after naming `entry`'s image `names`: entries with
 * those names move to it; an image left with no entry stays, untagged; an
 * image that has a name loses its untagged entry.
 */
export function retag(manifests: readonly Descriptor[], entry: Descriptor, names: readonly string[]): Descriptor[] {
  const moving = new Set(names);
  const nameOf = (d: Descriptor): string | undefined => d.annotations?.[REF_NAME];
  const out = manifests.filter((d) => !moving.has(nameOf(d) ?? ''));
  for (const old of manifests) {
    if (!moving.has(nameOf(old) ?? '') || old.digest === entry.digest) continue;
    if (out.some((d) => d.digest === old.digest)) continue;
    const annotations = { ...old.annotations };
    delete annotations[REF_NAME];
    out.push({ ...old, annotations });
  }
  for (const name of names) out.push({ ...entry, annotations: { ...entry.annotations, [REF_NAME]: name } });
  const tagged = out.some((d) => d.digest === entry.digest && nameOf(d) !== undefined);
  if (tagged) return out.filter((d) => d.digest !== entry.digest || nameOf(d) !== undefined);
  if (!out.some((d) => d.digest === entry.digest)) out.push(entry);
  return out;
}

function tagName(ref: ImageRef): string {
  if (ref.tag === undefined || ref.digest !== undefined) {
    throw new TransportError('REF_INVALID', `the local store tags images by name:tag, not ${formatRef(ref)}`, { ref: formatRef(ref) });
  }
  return formatRef(ref);
}

/** The reference a ref.name holds, when it is one in kiln's canonical form. */
function canonicalRef(name: string | undefined): ImageRef | undefined {
  if (name === undefined) return undefined;
  try {
    const ref = parseRef(name, { defaultTag: false });
    return formatRef(ref) === name ? ref : undefined;
  } catch {
    return undefined;
  }
}

function bare(d: Descriptor): Descriptor {
  return { mediaType: d.mediaType, digest: d.digest, size: d.size };
}
