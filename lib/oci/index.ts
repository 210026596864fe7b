export * from './media-types.ts';
export * from './types.ts';
export * from './canonical-json.ts';
