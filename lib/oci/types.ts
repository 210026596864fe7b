import type { Digest } from '../digest/index.ts';
import type { MediaTypeString } from './media-types.ts';

/** OCI image-spec image-index.md "platform" / config.md os+architecture. */
export interface Platform {
  architecture: string;
  os: string;
  'os.version'?: string;
  'os.features'?: string[];
  variant?: string;
  features?: string[];
}

/** OCI content descriptor (descriptor.md). */
export interface Descriptor {
  mediaType: MediaTypeString;
  digest: Digest;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  data?: string;
  platform?: Platform;
  artifactType?: string;
}

/** OCI image manifest, or a Docker schema2 manifest (same shape). */
export interface Manifest {
  schemaVersion: 2;
  mediaType?: MediaTypeString;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

/** OCI image index, or a Docker manifest list (same shape). */
export interface Index {
  schemaVersion: 2;
  mediaType?: MediaTypeString;
  artifactType?: string;
  manifests: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

/** `oci-layout` file of an image layout. */
export interface LayoutHeader {
  imageLayoutVersion: string;
}

export interface HealthConfig {
  Test?: string[];
  Interval?: number;
  Timeout?: number;
  StartPeriod?: number;
  StartInterval?: number;
  Retries?: number;
}

/**
 * The execution parameters of an image config (config.md "config"), plus the
 * Docker extensions BuildKit writes (Healthcheck, Shell, OnBuild).
 */
export interface RunConfig {
  User?: string;
  ExposedPorts?: Record<string, Record<string, never>>;
  Env?: string[];
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  Volumes?: Record<string, Record<string, never>>;
  WorkingDir?: string;
  Labels?: Record<string, string>;
  StopSignal?: string;
  ArgsEscaped?: boolean;
  Healthcheck?: HealthConfig;
  Shell?: string[];
  OnBuild?: string[] | null;
}

export interface HistoryEntry {
  created?: string;
  created_by?: string;
  author?: string;
  comment?: string;
  empty_layer?: boolean;
}

/** OCI image config (config.md). */
export interface ImageConfig extends Platform {
  created?: string;
  author?: string;
  config?: RunConfig;
  rootfs: { type: 'layers'; diff_ids: Digest[] };
  history?: HistoryEntry[];
}
