export * from './archive-error.ts';
export * from './compression.ts';
export * from './expansion-limits.ts';
export * from './layer-pipeline.ts';
export * from './tar-entry.ts';
export * from './tar-path.ts';
export * from './tar-reader.ts';
export * from './tar-writer.ts';
