import { MediaType, layerCompression } from '../oci/index.ts';
import { type Image, type ImageFormat, composeImage } from './image.ts';
import { ImageError, type Layer, withLayerMediaType } from './layer.ts';

/**
 * The same image in another media-type family. OCI (the default) uses the
 * `application/vnd.oci.*` types; docker uses schema2
 * (`application/vnd.docker.distribution.manifest.v2+json`, config
 * `application/vnd.docker.container.image.v1+json`, layers
 * `application/vnd.docker.image.rootfs.diff.tar.gzip`). Layer bytes never
 * change, so a layer that is not gzip cannot become docker: that throws
 * FORMAT_INCOMPATIBLE. Manifest annotations are dropped for docker (schema2
 * has none). Returns `img` itself when it already has that format.
 */
export function withFormat(img: Image, format: ImageFormat): Image {
  if (img.format === format) return img;
  return composeImage({
    format,
    config: img.config,
    layers: img.layers.map((l) => layerForFormat(l, format)),
    annotations: img.manifest.annotations,
  });
}

/** `layer` described with its media type in `format`'s family; throws FORMAT_INCOMPATIBLE when impossible. */
export function layerForFormat(layer: Layer, format: ImageFormat): Layer {
  const mediaType = layer.descriptor.mediaType;
  // Foreign (non-distributable) layers keep their type: there is no exact twin.
  if (mediaType === MediaType.DockerForeignLayerGzip) return layer;
  const compression = layerCompression(mediaType);
  if (format === 'oci') {
    return compression === 'gzip' ? withLayerMediaType(layer, MediaType.OciLayerGzip) : layer;
  }
  if (compression !== 'gzip') {
    throw new ImageError('FORMAT_INCOMPATIBLE', `a docker image cannot hold the ${mediaType} layer ${layer.descriptor.digest}: docker schema2 layers are gzip`, {
      digest: layer.descriptor.digest,
      mediaType,
    });
  }
  return withLayerMediaType(layer, MediaType.DockerLayerGzip);
}
