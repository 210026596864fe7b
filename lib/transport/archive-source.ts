import { createReadStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { posix } from 'node:path';
import type { Readable } from 'node:stream';
import { type TarHeader, detectCompression, normalizeTarPath, readTar } from '../archive/index.ts';
import type { ContentStore } from '../content/index.ts';
import { type Digest, sha256 } from '../digest/index.ts';
import { MAX_JSON_BLOB } from '../image/index.ts';
import { type Descriptor, type Index, type Manifest, MediaType, canonicalJsonBytes, layerMediaType, parseImageConfig, parseIndex } from '../oci/index.ts';
import { type ImageRef, formatRef, parseRef } from '../ref/index.ts';
import { readAll } from './content-readers.ts';
import { TransportError } from './transport-error.ts';

/** An OCI archive unpacked into a content store: its index, its blobs in the store. */
export interface UnpackedOciArchive {
  index: Index;
}

/**
 * Reads an `oci-archive` once from start to end: every `blobs/sha256/<hex>`
 * member goes into `store`, verified against its name (blobs the store
 * already holds are skipped); `index.json` is returned. Throws
 * IMAGE_NOT_FOUND for a missing file, ARCHIVE_INVALID for an archive that is
 * no OCI layout, and the store's DIGEST_MISMATCH for a corrupt blob.
 */
export async function unpackOciArchive(file: string, store: ContentStore): Promise<UnpackedOciArchive> {
  let indexBytes: Buffer | undefined;
  let layout = false;
  await readTar(await openArchive(file), async (h, body) => {
    if (h.type !== 'file') return;
    const m = /^blobs\/sha256\/([a-f0-9]{64})$/.exec(h.name);
    if (m !== null) {
      const digest = `sha256:${m[1]}` as Digest;
      if ((await store.stat(digest))?.size === h.size) return;
      await store.put(body, { digest, size: h.size });
    } else if (h.name === 'index.json') {
      indexBytes = await readSmall(body, h, file);
    } else if (h.name === 'oci-layout') {
      layout = true;
    }
  });
  if (indexBytes === undefined || !layout) throw new TransportError('ARCHIVE_INVALID', `${file} is not an oci-archive: it has no ${layout ? 'index.json' : 'oci-layout'}`, { path: file });
  try {
    return { index: parseIndex(indexBytes) };
  } catch (cause) {
    throw new TransportError('ARCHIVE_INVALID', `${file}: its index.json is invalid`, { cause, path: file });
  }
}

/** One image of a docker-archive, as found in its manifest.json. */
interface DockerArchiveEntry {
  Config: string;
  RepoTags?: string[] | null;
  Layers: string[];
}

/** A docker-archive image made into an OCI image: its manifest (not stored), blobs in the store. */
export interface DockerArchiveImage {
  descriptor: Descriptor;
  manifestBytes: Buffer;
  /** The first of its RepoTags, when it has one. */
  name: ImageRef | undefined;
}

/**
 * Reads one image of a docker-archive (`docker save`, skopeo, kiln) into
 * `store`: its config (bytes unchanged, so the image ID stays) and its layer
 * tars. Layers are kept as they are in the archive: uncompressed tars
 * become `application/vnd.oci.image.layer.v1.tar` layers, so their digests
 * are their diffIDs and no CPU goes into compressing them; gzip or zstd
 * members keep their compression. The manifest is kiln's canonical OCI
 * manifest over those blobs, so the same archive always gives the same
 * manifest digest. `pick` chooses by RepoTag or position; without one the
 * archive must hold a single image. Reads the file twice (manifest.json may
 * come last). Throws ARCHIVE_INVALID, IMAGE_NOT_FOUND.
 */
export async function readDockerArchive(file: string, store: ContentStore, pick: { ref?: ImageRef | undefined; index?: number | undefined }): Promise<DockerArchiveImage> {
  const links = new Map<string, string>();
  let manifestJson: Buffer | undefined;
  await readTar(await openArchive(file), async (h, body) => {
    if (h.type === 'symlink' && h.linkname !== undefined) links.set(h.name, normalizeTarPath(posix.join(posix.dirname(h.name), h.linkname)));
    if (h.type === 'hardlink' && h.linkname !== undefined) links.set(h.name, h.linkname);
    if (h.type === 'file' && h.name === 'manifest.json') manifestJson = await readSmall(body, h, file);
  });
  if (manifestJson === undefined) throw new TransportError('ARCHIVE_INVALID', `${file} is not a docker-archive: it has no manifest.json`, { path: file });
  const entry = pickEntry(file, parseEntries(file, manifestJson), pick);
  const resolve = (name: string): string => {
    let path = normalizeTarPath(name);
    for (let hops = 0; links.has(path) && hops < 8; hops++) path = links.get(path)!;
    return path;
  };
  const configPath = resolve(entry.Config);
  const layerPaths = entry.Layers.map(resolve);
  let configBytes: Buffer | undefined;
  const stored = new Map<string, { digest: Digest; size: number }>();
  await readTar(await openArchive(file), async (h, body) => {
    if (h.type !== 'file') return;
    if (h.name === configPath) configBytes = await readSmall(body, h, file);
    else if (layerPaths.includes(h.name) && !stored.has(h.name)) stored.set(h.name, await store.put(body, { size: h.size }));
  });
  if (configBytes === undefined) throw missingMember(file, entry.Config);
  const config = parseImageConfig(configBytes);
  const diffIds = config.rootfs.diff_ids;
  if (diffIds.length !== layerPaths.length) {
    throw new TransportError('ARCHIVE_INVALID', `${file}: the image lists ${layerPaths.length} layers but its config ${diffIds.length} diff_ids`, { path: file });
  }
  const layers: Descriptor[] = [];
  for (const [i, path] of layerPaths.entries()) {
    const blob = stored.get(path);
    if (blob === undefined) throw missingMember(file, entry.Layers[i]!);
    const compression = detectCompression(await head(store.path(blob.digest)));
    if (compression === 'none' && blob.digest !== diffIds[i]) {
      throw new TransportError('ARCHIVE_INVALID', `${file}: layer ${entry.Layers[i]} hashes to ${blob.digest}, but the config's diff_id is ${diffIds[i]}`, { path: file });
    }
    layers.push({ mediaType: layerMediaType(compression, 'oci'), digest: blob.digest, size: blob.size });
  }
  const stConfig = await store.putBytes(configBytes);
  const manifest: Manifest = { schemaVersion: 2, mediaType: MediaType.OciManifest, config: { mediaType: MediaType.OciConfig, digest: stConfig.digest, size: stConfig.size }, layers };
  const manifestBytes = canonicalJsonBytes(manifest);
  const tag = (entry.RepoTags ?? [])[0];
  return {
    descriptor: { mediaType: MediaType.OciManifest, digest: sha256(manifestBytes), size: manifestBytes.length },
    manifestBytes,
    name: tag === undefined ? undefined : tryRef(tag),
  };
}

function parseEntries(file: string, bytes: Buffer): DockerArchiveEntry[] {
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch (cause) {
    throw new TransportError('ARCHIVE_INVALID', `${file}: manifest.json is not JSON`, { cause, path: file });
  }
  const ok = Array.isArray(doc) && doc.every((e: unknown) => {
    const x = e as Partial<DockerArchiveEntry> | null;
    return x !== null && typeof x === 'object' && typeof x.Config === 'string' && Array.isArray(x.Layers) && x.Layers.every((l) => typeof l === 'string')
      && (x.RepoTags === undefined || x.RepoTags === null || (Array.isArray(x.RepoTags) && x.RepoTags.every((t) => typeof t === 'string')));
  });
  if (!ok) throw new TransportError('ARCHIVE_INVALID', `${file}: manifest.json is not a list of {Config, RepoTags, Layers}`, { path: file });
  return doc as DockerArchiveEntry[];
}

function pickEntry(file: string, entries: DockerArchiveEntry[], pick: { ref?: ImageRef | undefined; index?: number | undefined }): DockerArchiveEntry {
  if (pick.index !== undefined) {
    const e = entries[pick.index];
    if (e === undefined) throw new TransportError('IMAGE_NOT_FOUND', `${file} holds ${entries.length} image(s): there is no @${pick.index}`, { path: file });
    return e;
  }
  if (pick.ref !== undefined) {
    const want = formatRef(pick.ref);
    const e = entries.find((x) => (x.RepoTags ?? []).some((t) => {
      const r = tryRef(t);
      return r !== undefined && formatRef(r) === want;
    }));
    if (e === undefined) throw new TransportError('IMAGE_NOT_FOUND', `${file} has no image tagged ${want}`, { path: file, ref: want });
    return e;
  }
  if (entries.length !== 1) {
    throw new TransportError('IMAGE_NOT_FOUND', `${file} holds ${entries.length} images: name one with docker-archive:${file}:NAME:TAG or :@N`, { path: file });
  }
  return entries[0]!;
}

function tryRef(s: string): ImageRef | undefined {
  try {
    return parseRef(s);
  } catch {
    return undefined;
  }
}

function missingMember(file: string, name: string): TransportError {
  return new TransportError('ARCHIVE_INVALID', `${file}: manifest.json names ${name}, which the archive does not hold`, { path: file });
}

/** The archive file as a stream; IMAGE_NOT_FOUND when it cannot be opened. */
async function openArchive(file: string): Promise<Readable> {
  try {
    const s = await stat(file);
    if (!s.isFile()) throw new Error('not a file');
  } catch (cause) {
    throw new TransportError('IMAGE_NOT_FOUND', `cannot read the archive ${file}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause, path: file });
  }
  return createReadStream(file, { highWaterMark: 1 << 20 });
}

async function readSmall(body: Readable, h: TarHeader, file: string): Promise<Buffer> {
  if (h.size > MAX_JSON_BLOB) throw new TransportError('ARCHIVE_INVALID', `${file}: ${h.name} is larger than ${MAX_JSON_BLOB} bytes`, { path: file, entry: h.name });
  return readAll(body);
}

async function head(path: string): Promise<Buffer> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(4);
    const { bytesRead } = await fh.read(buf, 0, 4, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}
