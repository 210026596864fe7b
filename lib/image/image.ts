import { sha256 } from '../digest/index.ts';
import { type Descriptor, type ImageConfig, type Manifest, MediaType, canonicalJsonBytes } from '../oci/index.ts';
import { deepFreeze } from './deep-freeze.ts';
import { ImageError, type Layer } from './layer.ts';

/** Which family of media types an image's manifest, config and layers use. */
export type ImageFormat = 'oci' | 'docker';

/**
 * A single-platform image: an immutable value, in go-containerregistry's
 * style. The parsed objects are deep-frozen; `manifestBytes`/`configBytes`
 * are the exact bytes the descriptors hash (treat them as read-only). Every
 * "mutation" (appendLayer, withConfig, withFormat, …) returns a new Image.
 */
export interface Image {
  readonly format: ImageFormat;
  readonly manifest: Manifest;
  readonly manifestBytes: Buffer;
  /** Descriptor of the manifest (its digest is the image's manifest digest). */
  readonly descriptor: Descriptor;
  readonly config: ImageConfig;
  readonly configBytes: Buffer;
  /** Equal to `manifest.config`; its digest is the image ID docker shows. */
  readonly configDescriptor: Descriptor;
  /** In manifest order; `layers[i].descriptor` equals `manifest.layers[i]`. */
  readonly layers: readonly Layer[];
}

/** Media types of each format. */
export const FORMAT_MEDIA_TYPES = {
  oci: { manifest: MediaType.OciManifest, config: MediaType.OciConfig },
  docker: { manifest: MediaType.DockerManifest, config: MediaType.DockerConfig },
} as const;

/** The format a manifest media type belongs to. */
export function formatOfManifest(mediaType: string | undefined): ImageFormat {
  return mediaType === MediaType.DockerManifest ? 'docker' : 'oci';
}

/**
 * Builds an Image from values: the config and manifest are serialized as
 * canonical JSON, so equal values always give equal digests. The manifest
 * keeps `annotations` from `extra`; layer descriptors come from `layers`.
 */
export function composeImage(parts: {
  format: ImageFormat;
  config: ImageConfig;
  layers: readonly Layer[];
  annotations?: Record<string, string> | undefined;
}): Image {
  const { format, config, layers } = parts;
  if (config.rootfs.diff_ids.length !== layers.length) {
    throw new ImageError('IMAGE_INVALID', `config lists ${config.rootfs.diff_ids.length} diff_ids for ${layers.length} layers`);
  }
  const configBytes = canonicalJsonBytes(config);
  const configDescriptor: Descriptor = { mediaType: FORMAT_MEDIA_TYPES[format].config, digest: sha256(configBytes), size: configBytes.length };
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType: FORMAT_MEDIA_TYPES[format].manifest,
    config: configDescriptor,
    layers: layers.map((l) => l.descriptor),
  };
  // Docker schema2 manifests have no annotations field.
  if (format === 'oci' && parts.annotations && Object.keys(parts.annotations).length > 0) manifest.annotations = { ...parts.annotations };
  const manifestBytes = canonicalJsonBytes(manifest);
  // The values are re-read from the bytes so that they hold exactly what was
  // hashed (no `undefined` members, no non-JSON leftovers from callers).
  return assembleImage({
    format,
    manifest: JSON.parse(manifestBytes.toString('utf8')) as Manifest,
    manifestBytes,
    config: JSON.parse(configBytes.toString('utf8')) as ImageConfig,
    configBytes,
    layers,
  });
}

/**
 * Wraps already-serialized parts (for instance read from a store, where the
 * bytes must be kept exactly as hashed) into a frozen Image. The caller has
 * checked that `manifest`/`config` are what the bytes parse to.
 */
export function assembleImage(parts: {
  format: ImageFormat;
  manifest: Manifest;
  manifestBytes: Buffer;
  config: ImageConfig;
  configBytes: Buffer;
  layers: readonly Layer[];
}): Image {
  const { manifest, config, layers } = parts;
  if (manifest.layers.length !== layers.length || config.rootfs.diff_ids.length !== layers.length) {
    throw new ImageError('IMAGE_INVALID', 'manifest layers, config diff_ids and layers disagree in number');
  }
  const descriptor: Descriptor = {
    mediaType: manifest.mediaType ?? FORMAT_MEDIA_TYPES[parts.format].manifest,
    digest: sha256(parts.manifestBytes),
    size: parts.manifestBytes.length,
  };
  const image: Image = {
    format: parts.format,
    manifest: deepFreeze(structuredClone(manifest)),
    manifestBytes: parts.manifestBytes,
    descriptor: deepFreeze(descriptor),
    config: deepFreeze(structuredClone(config)),
    configBytes: parts.configBytes,
    configDescriptor: deepFreeze(structuredClone(manifest.config)),
    layers: Object.freeze([...layers]),
  };
  return Object.freeze(image);
}
