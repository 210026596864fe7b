export * from './image-ref.ts';
export * from './registry-host.ts';
