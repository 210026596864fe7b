export * from './transport-error.ts';
export { writeOciLayout, readLayoutIndex } from './oci-layout.ts';
export { writeOciArchive } from './oci-archive.ts';
export { writeDockerArchive, type DockerArchiveImage } from './docker-archive.ts';
export { type LayoutImage, REF_NAME, CREATED } from './layout-index.ts';
export * from './local-store.ts';
export { preflightOutput, writeDirAtomic, writeFileAtomic } from './atomic-output.ts';
