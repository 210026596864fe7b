export * from './media-types.ts';
export * from './types.ts';
export * from './canonical-json.ts';
export * from './oci-error.ts';
export * from './json-rules.ts';
export * from './validate.ts';
export * from './chain-id.ts';
export * from './normalize-arch.ts';
