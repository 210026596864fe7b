/** kiln's public API: what cli/ (and library users) may use. */
export { build, checkReproducible, sweepHome, fsck, type FsckProblem, type FsckResult, type ReproducibilityReport, prune, type PruneResult, copyFromImage, runImage, listContext, parseFile, planFile, type PlanFileOptions, hostPlatform, BuildError, type BuildEvent, type BuildOptions, type BuildProgress, type BuildResult, type OutputSpec, parseCacheFrom, parseCacheTo, type CacheExport, type CacheImport } from './build.ts';
export { KilnError, type SourceLocation } from './errors.ts';
export { LocalStore, type LocalImageSummary } from './transport/index.ts';
export { parseRef, formatRef, familiarName, type ImageRef } from './ref/index.ts';
export type { Image } from './image/index.ts';
export { canonicalJson } from './oci/index.ts';
export type { Plan, Stage } from './plan/index.ts';
export type { LintWarning } from './dockerfile/index.ts';
export {
  parseLocation, formatLocation, copyImage, TransportError,
  type ImageLocation, type CopyImageOptions, type CopyImageResult, type PlatformChoice, type TransportEvent, type BlobOutcome,
} from './transport/index.ts';
export { RegistryClient, RegistryError, CredentialStore, parseMirrors, type RegistryClientOptions, type RegistryEvent, type Credentials } from './registry/index.ts';
export { parsePlatform, formatPlatform } from './plan/index.ts';
export type { Platform } from './oci/index.ts';
export { rootlessUserNamespace, BINFMT_PLATFORMS, BinfmtError, type BinfmtEntry, type BinfmtPlatform, type Emulation, type InstallReport, emulationFor, formatBinfmtPlatform, hostArchitecture, installBinfmt, readBinfmt, uninstallBinfmt } from './sandbox/index.ts';
