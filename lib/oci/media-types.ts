/** Media types kiln reads and writes (OCI image-spec and Docker schema2). */
export const MediaType = {
  OciDescriptor: 'application/vnd.oci.descriptor.v1+json',
  OciLayoutHeader: 'application/vnd.oci.layout.header.v1+json',
  OciManifest: 'application/vnd.oci.image.manifest.v1+json',
  OciIndex: 'application/vnd.oci.image.index.v1+json',
  OciConfig: 'application/vnd.oci.image.config.v1+json',
  OciLayer: 'application/vnd.oci.image.layer.v1.tar',
  OciLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  OciLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  OciEmpty: 'application/vnd.oci.empty.v1+json',
  DockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  DockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  DockerConfig: 'application/vnd.docker.container.image.v1+json',
  DockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  DockerForeignLayerGzip: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
} as const;

export type KnownMediaType = (typeof MediaType)[keyof typeof MediaType];
/** Any RFC 6838 media type string; known ones are in {@link MediaType}. */
export type MediaTypeString = KnownMediaType | (string & {});

export type Compression = 'gzip' | 'zstd' | 'none';

/** The layer media type for a compression in the OCI or Docker family. */
export function layerMediaType(compression: Compression, format: 'oci' | 'docker'): MediaTypeString {
  if (format === 'docker') {
    if (compression !== 'gzip') throw new Error(`docker schema2 layers must be gzip, not ${compression}`);
    return MediaType.DockerLayerGzip;
  }
  switch (compression) {
    case 'gzip': return MediaType.OciLayerGzip;
    case 'zstd': return MediaType.OciLayerZstd;
    case 'none': return MediaType.OciLayer;
  }
}

/** Compression of a layer media type, or undefined when it is not a layer type kiln knows. */
export function layerCompression(mediaType: string): Compression | undefined {
  switch (mediaType) {
    case MediaType.OciLayer: return 'none';
    case MediaType.OciLayerGzip:
    case MediaType.DockerLayerGzip:
    case MediaType.DockerForeignLayerGzip: return 'gzip';
    case MediaType.OciLayerZstd: return 'zstd';
    default: return undefined;
  }
}
