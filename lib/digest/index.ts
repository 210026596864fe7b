export * from './digest.ts';
export * from './hash.ts';
