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
  let desc = top;
  let body = bytes ?? (await reader.readManifest(top, signal));
  for (let depth = 0; choice.kind === 'platform' && INDEX_TYPES.has(desc.mediaType); depth++) {
    const index = parseIndex(body);
    const chosen = depth < 3 ? resolvePlatform(index, choice.platform) : undefined;
    if (chosen === undefined) {
      const offered = index.manifests.flatMap((d) => (d.platform ? [platformText(d.platform)] : [])).join(', ') || 'none';
      throw new TransportError('PLATFORM_UNAVAILABLE', `${where}: no image for platform ${platformText(choice.platform)} (the index offers: ${offered})`, {
        platform: platformText(choice.platform),
      });
    }
    desc = chosen;
    body = await reader.readManifest(chosen, signal);
  }
  return { node: await loadNode(reader, desc, body, signal), namedDigest: top.digest };
}

/** `os/arch[/variant]`. */
export function platformText(p: Pick<Platform, 'os' | 'architecture' | 'variant'>): string {
  return [p.os, p.architecture, p.variant].filter((s) => s !== undefined && s !== '').join('/');
}
