import type { Digest } from '../digest/index.ts';
import { type Descriptor, type Platform, parseIndex } from '../oci/index.ts';
import { resolvePlatform } from '../registry/index.ts';
import { type ContentReader, INDEX_TYPES, type ManifestNode, loadNode } from './manifest-node.ts';
import { TransportError } from './transport-error.ts';

/** What to take from an index: the image for one platform, or everything. */
export type PlatformChoice = { readonly kind: 'platform'; readonly platform: Platform } | { readonly kind: 'all' };

/** What a source hands over: the tree to copy and what the location named. */
export interface Selected {
  /** The chosen image manifest, or the whole index with `all`. */
  node: ManifestNode;
  /** The manifest or index the location names (an index's digest when an image was picked from it). */
  namedDigest: Digest;
}

/**
 * The manifest `top` (bytes given or read) resolved by `choice`: an index
 * with a platform becomes the best-matching image manifest (containerd's
 * matcher, nested indexes followed); with `all` the whole tree is loaded. A
 * single image is taken as it is, whatever its platform. Throws
 * PLATFORM_UNAVAILABLE naming `where` and the platforms on offer.
 */
export async function selectNode(reader: ContentReader, top: Descriptor, bytes: Buffer | undefined, choice: PlatformChoice, where: string, signal?: AbortSignal): Promise<Selected> {
  const body = bytes ?? (await reader.readManifest(top, signal));
  const chosen = choice.kind === 'platform' ? await pickPlatform((d) => reader.readManifest(d, signal), top, body, choice.platform, where) : { descriptor: top, bytes: body };
  return { node: await loadNode(reader, chosen.descriptor, chosen.bytes, signal), namedDigest: top.digest };
}

/**
 * The image manifest for `platform` under `top` (bytes given): an index
 * becomes its best-matching entry (containerd's matcher, nested indexes
 * followed, 3 deep at most); an image manifest is taken as it is. Throws
 * PLATFORM_UNAVAILABLE naming `where` and the platforms on offer.
 */
export async function pickPlatform(readManifest: (d: Descriptor) => Promise<Buffer>, top: Descriptor, bytes: Buffer, platform: Platform, where: string): Promise<{ descriptor: Descriptor; bytes: Buffer }> {
  let desc = top;
  let body = bytes;
  for (let depth = 0; INDEX_TYPES.has(desc.mediaType); depth++) {
    const index = parseIndex(body);
    const chosen = depth < 3 ? resolvePlatform(index, platform) : undefined;
    if (chosen === undefined) {
      const offered = index.manifests.flatMap((d) => (d.platform ? [platformText(d.platform)] : [])).join(', ') || 'none';
      throw new TransportError('PLATFORM_UNAVAILABLE', `${where}: no image for platform ${platformText(platform)} (the index offers: ${offered})`, {
        platform: platformText(platform),
      });
    }
    desc = chosen;
    body = await readManifest(chosen);
  }
  return { descriptor: desc, bytes: body };
}

/** `os/arch[/variant]`. */
export function platformText(p: Pick<Platform, 'os' | 'architecture' | 'variant'>): string {
  return [p.os, p.architecture, p.variant].filter((s) => s !== undefined && s !== '').join('/');
}
