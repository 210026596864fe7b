import { KilnError, type KilnErrorOptions } from '../errors.ts';

/** Stable codes of {@link OciError}. */
export type OciErrorCode =
  | 'JSON_INVALID'
  | 'DESCRIPTOR_INVALID'
  | 'MANIFEST_INVALID'
  | 'INDEX_INVALID'
  | 'CONFIG_INVALID'
  | 'LAYOUT_INVALID'
  | 'MEDIA_TYPE_UNSUPPORTED'
  | 'CHAIN_ID_EMPTY';

/**
 * A malformed OCI document or a misuse of the OCI helpers. Validation errors
 * carry `problems`: every `pointer: message` found, the first of which is in
 * the message.
 */
export class OciError extends KilnError {
  declare readonly code: OciErrorCode;

  constructor(code: OciErrorCode, message: string, options?: KilnErrorOptions) {
    super(code, message, options);
  }
}
