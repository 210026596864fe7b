import type { Digest } from '../digest/index.ts';
import type { Image } from '../image/index.ts';
import { type Descriptor, type Index, MediaType, type Platform } from '../oci/index.ts';
import { TransportError } from './transport-error.ts';

/** image-spec annotations.md: the name of a manifest in an image layout's index. */
export const REF_NAME = 'org.opencontainers.image.ref.name';
export const CREATED = 'org.opencontainers.image.created';

/** An image to write into a layout, optionally named (`org.opencontainers.image.ref.name`). */
export interface LayoutImage {
  image: Image;
  refName?: string;
}

// image-spec annotations.md, org.opencontainers.image.ref.name grammar.
const REF_NAME_GRAMMAR = /^[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*(?:\/[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*)*$/;

/** Throws REF_INVALID unless `name` follows the OCI ref.name grammar. */
export function checkRefName(name: string): void {
  if (!REF_NAME_GRAMMAR.test(name)) {
    throw new TransportError('REF_INVALID', `invalid OCI layout reference name ${JSON.stringify(name)}`, { ref: name });
  }
}

/** The platform an image's config declares, for its index entry. */
export function platformOf(image: Image): Platform {
  const c = image.config;
  const p: Platform = { architecture: c.architecture, os: c.os };
  if (c.variant !== undefined) p.variant = c.variant;
  if (c['os.version'] !== undefined) p['os.version'] = c['os.version'];
  if (c['os.features'] !== undefined) p['os.features'] = [...c['os.features']];
  return p;
}

/** The index entry for an image: its manifest descriptor, platform and (optional) name. */
export function indexEntry(image: Image, annotations: Record<string, string> = {}): Descriptor {
  const { mediaType, digest, size } = image.descriptor;
  const d: Descriptor = { mediaType, digest, size, platform: platformOf(image) };
  if (Object.keys(annotations).length > 0) d.annotations = { ...annotations };
  return d;
}

/**
 * The index.json of a layout holding `images`, on top of `base` (an existing
 * index): an entry whose name is given again moves to the new image, and an
 * unnamed image already listed is not listed twice. Throws REF_INVALID for a
 * bad or repeated name.
 */
export function layoutIndex(images: readonly LayoutImage[], base?: Index): Index {
  const names = new Set<string>();
  for (const { refName } of images) {
    if (refName === undefined) continue;
    checkRefName(refName);
    if (names.has(refName)) throw new TransportError('REF_INVALID', `reference name ${JSON.stringify(refName)} given twice`, { ref: refName });
    names.add(refName);
  }
  const kept = (base?.manifests ?? []).filter((d) => {
    const name = d.annotations?.[REF_NAME];
    return name === undefined || !names.has(name);
  });
  const manifests = [...kept];
  const listedUnnamed = new Set<Digest>(kept.filter((d) => d.annotations?.[REF_NAME] === undefined).map((d) => d.digest));
  for (const { image, refName } of images) {
    if (refName !== undefined) {
      manifests.push(indexEntry(image, { [REF_NAME]: refName }));
    } else if (!listedUnnamed.has(image.descriptor.digest)) {
      listedUnnamed.add(image.descriptor.digest);
      manifests.push(indexEntry(image));
    }
  }
  return { ...base, schemaVersion: 2, mediaType: MediaType.OciIndex, manifests };
}
