import type { Readable } from 'node:stream';
import type { ContentStore } from '../content/index.ts';
import { ImageError, MAX_JSON_BLOB } from '../image/index.ts';
import type { Descriptor } from '../oci/index.ts';
import { type ImageRef, parseRef } from '../ref/index.ts';
import { type RegistryClient, RegistryError, describeContext } from '../registry/index.ts';
import type { ContentReader } from './manifest-node.ts';

/** Reads manifests and blobs from a content store (an OCI layout's `blobs/`); every read is verified. */
export function storeReader(store: ContentStore): ContentReader {
  const readSmall = async (d: Descriptor): Promise<Buffer> => {
    const bytes = await store.readBytes(d.digest, MAX_JSON_BLOB);
    if (bytes.length !== d.size) {
      throw new ImageError('IMAGE_INVALID', `blob ${d.digest} is ${bytes.length} bytes but its descriptor says ${d.size}`, { digest: d.digest });
    }
    return bytes;
  };
  return {
    readManifest: readSmall,
    readBlob: readSmall,
    openBlob: (d) => store.open(d.digest, { size: d.size }),
  };
}

/**
 * Reads manifests (by digest, verified by the client) and blobs (verified
 * streams) from one repository of a registry, its mirrors first.
 */
export function registryReader(client: RegistryClient, repo: Pick<ImageRef, 'registry' | 'repository'>, defaultSignal?: AbortSignal): ContentReader {
  const byDigest = (d: Descriptor): ImageRef => parseRef(`${repo.registry}/${repo.repository}@${d.digest}`);
  return {
    async readManifest(d, signal) {
      const m = await client.getManifest(byDigest(d), { signal: signal ?? defaultSignal });
      if (m.bytes.length !== d.size) {
        const ctx = { registry: repo.registry, repository: repo.repository, reference: d.digest };
        throw new RegistryError('DIGEST_MISMATCH', `pull of ${describeContext(ctx)}: the manifest is ${m.bytes.length} bytes, its descriptor says ${d.size}`, ctx);
      }
      return m.bytes;
    },
    async readBlob(d, signal) {
      const chunks: Buffer[] = [];
      for await (const chunk of await client.openBlob(repo, d, { signal: signal ?? defaultSignal })) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks);
    },
    openBlob: (d, signal) => client.openBlob(repo, d, { signal: signal ?? defaultSignal }),
  };
}

/**
 * `remote`, except that what `store` already holds (by digest: manifests,
 * configs, layers) is read from the store, verified as it always is there.
 */
export function preferStore(store: ContentStore, remote: ContentReader): ContentReader {
  const local = storeReader(store);
  return {
    readManifest: async (d, signal) => ((await store.has(d.digest)) ? local.readManifest(d, signal) : remote.readManifest(d, signal)),
    readBlob: async (d, signal) => ((await store.has(d.digest)) ? local.readBlob(d, signal) : remote.readBlob(d, signal)),
    openBlob: async (d, signal) => ((await store.has(d.digest)) ? local.openBlob(d, signal) : remote.openBlob(d, signal)),
  };
}

/** A stream read to its end, for callers that need the bytes (small blobs only). */
export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
