export * from './image-ref.ts';
