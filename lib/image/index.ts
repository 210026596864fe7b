export * from './layer.ts';
export * from './image.ts';
export * from './scratch-image.ts';
export * from './append-layer.ts';
export * from './with-config.ts';
export * from './with-format.ts';
export * from './image-from-store.ts';
