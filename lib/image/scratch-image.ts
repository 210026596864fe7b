import type { ImageConfig, Platform } from '../oci/index.ts';
import { type Image, type ImageFormat, composeImage } from './image.ts';

/**
 * An image with no layers and no history (Dockerfile `FROM scratch`): its
 * config holds only the platform and an empty rootfs. Defaults such as a
 * PATH or a working directory are the builder's business, not this value's.
 */
export function scratchImage(opts: { platform: Platform; format?: ImageFormat }): Image {
  const { platform } = opts;
  const config: ImageConfig = {
    architecture: platform.architecture,
    os: platform.os,
    'os.version': platform['os.version'],
    'os.features': platform['os.features'],
    variant: platform.variant,
    config: {},
    rootfs: { type: 'layers', diff_ids: [] },
  };
  return composeImage({ format: opts.format ?? 'oci', config: dropUndefined(config), layers: [] });
}

function dropUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
