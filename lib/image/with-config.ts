import type { ImageConfig } from '../oci/index.ts';
import { type Image, composeImage } from './image.ts';
import { ImageError } from './layer.ts';

/**
 * A new image whose config is `update(current)`. `update` receives a mutable
 * deep copy and returns the new config (it may return the copy after editing
 * it). The layers are fixed: changing `rootfs` is refused with IMAGE_INVALID
 * (use appendLayer).
 */
export function withConfig(img: Image, update: (config: ImageConfig) => ImageConfig): Image {
  const next = update(structuredClone(img.config) as ImageConfig);
  const before = img.config.rootfs.diff_ids;
  const after = next.rootfs?.diff_ids;
  if (after === undefined || after.length !== before.length || after.some((d, i) => d !== before[i])) {
    throw new ImageError('IMAGE_INVALID', 'withConfig cannot change rootfs.diff_ids; use appendLayer');
  }
  return composeImage({ format: img.format, config: next, layers: img.layers, annotations: img.manifest.annotations });
}

/**
 * A new image whose manifest carries `annotations` (replacing any). Docker
 * schema2 manifests have no annotations, so for a docker image this is
 * refused with FORMAT_INCOMPATIBLE.
 */
export function withManifestAnnotations(img: Image, annotations: Record<string, string>): Image {
  if (img.format === 'docker') {
    throw new ImageError('FORMAT_INCOMPATIBLE', 'docker schema2 manifests cannot carry annotations');
  }
  return composeImage({ format: img.format, config: img.config, layers: img.layers, annotations: { ...annotations } });
}
