import { type Readable, pipeline } from 'node:stream';
import { tarStream, type TarWriteEntry } from '../archive/index.ts';
import { VerifyingStream, digestHex } from '../digest/index.ts';
import { canonicalJsonBytes } from '../oci/index.ts';
import { writeFileAtomic } from './atomic-output.ts';
import { lazyReadable } from './lazy-readable.ts';
import { type LayoutImage, layoutIndex } from './layout-index.ts';
import { LAYOUT_HEADER } from './oci-layout.ts';
import { TransportError } from './transport-error.ts';

/**
 * Writes `images` as an `oci-archive`: the OCI image layout of
 * {@link writeOciLayout} as one tar (uncompressed). Entries are sorted by
 * path, owned by 0:0 with mtime 0, so equal images give equal bytes. Layer
 * blobs are streamed from their sources one at a time and verified on the
 * way. Atomic: written to a temp file next to `file` and renamed at the end;
 * on failure nothing is left. Throws OUTPUT_UNWRITABLE when `file` cannot
 * be created.
 */
export async function writeOciArchive(file: string, images: readonly LayoutImage[]): Promise<void> {
  const index = layoutIndex(images);
  await writeFileAtomic(file, ociArchiveStream(images, canonicalJsonBytes(index)));
}

function ociArchiveStream(images: readonly LayoutImage[], indexBytes: Buffer): Readable {
  const entries = new Map<string, TarWriteEntry>();
  const blob = (hex: string, size: number, body: () => Readable | Buffer): void => {
    const name = `blobs/sha256/${hex}`;
    const existing = entries.get(name);
    if (existing === undefined) entries.set(name, fileEntry(name, size, body));
    else if (existing.size !== size) {
      throw new TransportError('DESCRIPTOR_CONFLICT', `two descriptors of sha256:${hex} disagree on its size (${existing.size}, ${size})`);
    }
  };
  for (const { image } of images) {
    for (const layer of image.layers) {
      const { digest, size } = layer.descriptor;
      // Layers promise verified streams; checking again costs little and means
      // no archive ever names bytes that are not what it says.
      blob(digestHex(digest), size, () => lazyReadable(async () => pipeline(await layer.open(), new VerifyingStream({ digest, size }), () => undefined)));
    }
    blob(digestHex(image.configDescriptor.digest), image.configBytes.length, () => image.configBytes);
    blob(digestHex(image.descriptor.digest), image.manifestBytes.length, () => image.manifestBytes);
  }
  entries.set('oci-layout', fileEntry('oci-layout', LAYOUT_HEADER.length, () => LAYOUT_HEADER));
  entries.set('index.json', fileEntry('index.json', indexBytes.length, () => indexBytes));
  for (const dir of ['blobs', 'blobs/sha256']) entries.set(dir, { name: dir, type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: 0, size: 0 });
  return tarStream([...entries.values()]);
}

/** A regular-file tar entry owned by root with mtime 0. */
export function fileEntry(name: string, size: number, body: () => Readable | Buffer): TarWriteEntry {
  return { name, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size, body };
}
