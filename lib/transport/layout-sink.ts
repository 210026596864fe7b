import { rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { type TarWriteEntry, tarStream } from '../archive/index.ts';
import { ContentStore } from '../content/index.ts';
import { digestHex } from '../digest/index.ts';
import { type Descriptor, type Index, MediaType, canonicalJsonBytes } from '../oci/index.ts';
import { checkWritableDir, destKind, writeDirAtomic, writeFileAtomic } from './atomic-output.ts';
import { lazyReadable } from './lazy-readable.ts';
import { REF_NAME, checkRefName, platformOf } from './layout-index.ts';
import { type BlobSource, type ManifestNode, bareDescriptor, childManifests, uniqueBlobs } from './manifest-node.ts';
import { fileEntry } from './oci-archive.ts';
import { LAYOUT_HEADER, isLayout, readLayoutIndex, replaceFile, writeNew } from './oci-layout.ts';
import { type TransferContext, counted, stageBlobs } from './stage-blobs.ts';
import type { BlobOutcome } from './transport-event.ts';
import { unwritable, writeFailed } from './transport-error.ts';

/**
 * The index.json entry for the tree's top manifest: its bare descriptor,
 * the platform of a single image (from its config, as image-spec asks), and
 * the name.
 */
export function layoutEntry(node: ManifestNode, refName: string | undefined): Descriptor {
  const entry = bareDescriptor(node.descriptor);
  if (node.image !== undefined) entry.platform = platformOf(node.image);
  if (refName !== undefined) entry.annotations = { [REF_NAME]: refName };
  return entry;
}

/** `base` with `entry` added: an entry holding the same name loses it to the new one; an unnamed duplicate is not listed twice. */
export function withEntry(base: Index | undefined, entry: Descriptor): Index {
  const name = entry.annotations?.[REF_NAME];
  const kept = (base?.manifests ?? []).filter((d) => name === undefined || d.annotations?.[REF_NAME] !== name);
  const duplicate = name === undefined && kept.some((d) => d.digest === entry.digest && d.annotations?.[REF_NAME] === undefined);
  return { ...base, schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: duplicate ? kept : [...kept, entry] };
}

/** Throws OUTPUT_UNWRITABLE unless `dir` can become or already is an OCI layout (checked before any transfer). */
export async function preflightLayout(dir: string): Promise<void> {
  const kind = await destKind(dir);
  if (kind === 'other' || (kind === 'dir' && !(await isLayout(dir)))) {
    throw unwritable(dir, undefined, 'it exists and is not an OCI image layout or an empty directory');
  }
  if (kind === 'dir') await checkWritableDir(dir);
}

/**
 * Writes the tree into the OCI layout `dir` under `refName` (or unnamed).
 * A missing or empty `dir` is built in a temp folder next to it and renamed
 * into place; an existing layout gets the blobs first (in parallel, skipped
 * when present, each atomic) and then a new index.json, atomically — as
 * {@link writeOciLayout}. On failure `dir` is as it was (at most whole,
 * unreferenced blobs remain in an existing layout).
 */
export async function writeLayoutNode(dir: string, node: ManifestNode, refName: string | undefined, outcome: BlobOutcome, ctx: TransferContext): Promise<void> {
  if (refName !== undefined) checkRefName(refName);
  const entry = layoutEntry(node, refName);
  await preflightLayout(dir);
  const fill = async (root: string): Promise<void> => {
    const store = new ContentStore(root);
    await stageBlobs(store, uniqueBlobs(node), outcome, ctx);
    await putManifests(store, node, ctx);
    await rmdir(join(root, '.kiln-tmp')).catch(() => undefined);
  };
  if ((await destKind(dir)) !== 'dir') {
    await writeDirAtomic(dir, async (tmp) => {
      await fill(tmp);
      await writeNew(join(tmp, 'index.json'), canonicalJsonBytes(withEntry(undefined, entry)));
      await writeNew(join(tmp, 'oci-layout'), LAYOUT_HEADER);
    });
    return;
  }
  try {
    const base = await readLayoutIndex(dir);
    await fill(dir);
    await replaceFile(join(dir, 'index.json'), canonicalJsonBytes(withEntry(base, entry)));
  } catch (err) {
    throw writeFailed(dir, err);
  }
}

/** Stores every manifest of the tree, children before the index that names them. */
export async function putManifests(store: ContentStore, node: ManifestNode, ctx: Pick<TransferContext, 'emit'>): Promise<void> {
  for (const m of [...childManifests(node), node]) {
    const { digest, size, mediaType } = m.descriptor;
    await store.putBytes(m.bytes, { digest, size });
    ctx.emit({ kind: 'manifest-written', digest, mediaType, size });
  }
}

/**
 * Writes the tree as an `oci-archive` (the layout of {@link writeLayoutNode}
 * as one deterministic tar, as {@link writeOciArchive} writes it). Blobs are
 * read one at a time, in path order, verified. Atomic (temp file + rename).
 */
export async function writeOciArchiveNode(file: string, node: ManifestNode, refName: string | undefined, outcome: BlobOutcome, ctx: TransferContext): Promise<void> {
  if (refName !== undefined) checkRefName(refName);
  const index = canonicalJsonBytes(withEntry(undefined, layoutEntry(node, refName)));
  const entries: TarWriteEntry[] = [];
  for (const blob of uniqueBlobs(node)) {
    entries.push(fileEntry(`blobs/sha256/${digestHex(blob.descriptor.digest)}`, blob.descriptor.size, () => lazyReadable(() => reportedOpen(blob, outcome, ctx))));
  }
  const seen = new Set(entries.map((e) => e.name));
  for (const m of [...childManifests(node), node]) {
    const name = `blobs/sha256/${digestHex(m.descriptor.digest)}`;
    if (seen.has(name)) continue;
    seen.add(name);
    entries.push(fileEntry(name, m.bytes.length, () => m.bytes));
  }
  entries.push(fileEntry('oci-layout', LAYOUT_HEADER.length, () => LAYOUT_HEADER));
  entries.push(fileEntry('index.json', index.length, () => index));
  for (const dir of ['blobs', 'blobs/sha256']) entries.push({ name: dir, type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: 0, size: 0 });
  await writeFileAtomic(file, tarStream(entries));
}

/** Opens a blob, reporting its transfer (start, progress, done) as it is read. */
async function reportedOpen(blob: BlobSource, outcome: BlobOutcome, ctx: TransferContext): Promise<Readable> {
  const { digest, size, mediaType } = blob.descriptor;
  ctx.emit({ kind: 'blob-start', digest, size, mediaType });
  const stream = counted(await blob.open(ctx.signal), (bytes) => ctx.emit({ kind: 'blob-progress', digest, bytes, size }), ctx.signal);
  stream.on('end', () => ctx.emit({ kind: 'blob-done', digest, size, mediaType, outcome }));
  return stream;
}
