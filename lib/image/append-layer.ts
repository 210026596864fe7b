import type { HistoryEntry, ImageConfig } from '../oci/index.ts';
import { type Image, composeImage } from './image.ts';
import type { Layer } from './layer.ts';
import { layerForFormat } from './with-format.ts';

/**
 * A new image with `layer` on top: its diffID appended to the config's
 * `rootfs.diff_ids`, its descriptor (retyped into the image's format, bytes
 * untouched) to the manifest, and `history` (as a non-empty entry) to the
 * config's history. Throws FORMAT_INCOMPATIBLE when a docker image is given a
 * layer that is not gzip.
 */
export function appendLayer(img: Image, layer: Layer, history: HistoryEntry): Image {
  const entry: HistoryEntry = { ...history };
  delete entry.empty_layer;
  const config: ImageConfig = {
    ...img.config,
    rootfs: { type: 'layers', diff_ids: [...img.config.rootfs.diff_ids, layer.diffId] },
    history: [...(img.config.history ?? []), entry],
  };
  return composeImage({
    format: img.format,
    config,
    layers: [...img.layers, layerForFormat(layer, img.format)],
    annotations: img.manifest.annotations,
  });
}

/** A new image whose config history ends with `entry` marked `empty_layer: true` (a metadata-only step). */
export function appendHistory(img: Image, entry: HistoryEntry): Image {
  const config: ImageConfig = { ...img.config, history: [...(img.config.history ?? []), { ...entry, empty_layer: true }] };
  return composeImage({ format: img.format, config, layers: img.layers, annotations: img.manifest.annotations });
}
