import type { Digest } from '../digest/index.ts';
import type { Descriptor } from '../oci/index.ts';
import { type ImageRef, normalizeRegistry, parseRef } from '../ref/index.ts';
import type { RegistryClient } from '../registry/index.ts';
import { type ManifestNode, childManifests, uniqueBlobs } from './manifest-node.ts';
import { type TransferContext, forEachLimited } from './stage-blobs.ts';

export interface PushOptions extends TransferContext {
  /** A repository of the destination registry that may hold the blobs: mount them from there. */
  mountFrom?: string | undefined;
}

/**
 * Pushes the tree to `dest`: every blob in parallel (a HEAD skips those the
 * repository has; with `mountFrom` the registry is asked to mount them; the
 * rest are uploaded and verified as they are sent), then the manifests of an
 * index by digest, then the top manifest under `dest`'s tag (or digest). The
 * manifest bytes go up unchanged, so the digest stays; the digest the
 * registry answers is checked. Returns the top manifest's descriptor as the
 * registry stored it.
 */
export async function pushNode(client: RegistryClient, dest: ImageRef, node: ManifestNode, opts: PushOptions): Promise<Descriptor> {
  await forEachLimited(uniqueBlobs(node), opts.concurrency, opts.signal, async (blob, signal) => {
    const { digest, size, mediaType } = blob.descriptor;
    let started = false;
    const outcome = await client.pushBlob(dest, blob.descriptor, () => {
      if (!started) opts.emit({ kind: 'blob-start', digest, size, mediaType });
      started = true;
      return blob.open(signal);
    }, {
      mountFrom: blob.origin !== undefined && normalizeRegistry(blob.origin.registry) === normalizeRegistry(dest.registry) ? blob.origin.repository : opts.mountFrom,
      signal,
      onProgress: (bytes) => opts.emit({ kind: 'blob-progress', digest, bytes, size }),
    });
    opts.emit({ kind: 'blob-done', digest, size, mediaType, outcome });
  });
  for (const child of childManifests(node)) {
    await client.putManifest(atDigest(dest, child.descriptor.digest), child.bytes, child.descriptor.mediaType, { signal: opts.signal });
    opts.emit({ kind: 'manifest-written', digest: child.descriptor.digest, mediaType: child.descriptor.mediaType, size: child.bytes.length });
  }
  const stored = await client.putManifest(dest, node.bytes, node.descriptor.mediaType, { signal: opts.signal });
  opts.emit({ kind: 'manifest-written', digest: stored.digest, mediaType: stored.mediaType, size: stored.size });
  return stored;
}

/** The same repository, by digest. */
export function atDigest(ref: Pick<ImageRef, 'registry' | 'repository'>, digest: Digest): ImageRef {
  return parseRef(`${ref.registry}/${ref.repository}@${digest}`);
}
