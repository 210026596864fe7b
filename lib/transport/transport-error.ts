import { KilnError } from '../errors.ts';

/**
 * Failures of sources and sinks. Codes: OUTPUT_UNWRITABLE (the destination
 * cannot be created or replaced), OUTPUT_WRITE_FAILED (writing failed for
 * another reason; nothing was left behind), REF_INVALID, IMAGE_NOT_FOUND,
 * ID_AMBIGUOUS, LAYOUT_INVALID, DESCRIPTOR_CONFLICT (one digest described
 * with two sizes).
 */
export class TransportError extends KilnError {}

/** OUTPUT_UNWRITABLE for a refusal by the file system to create or replace `dest`. */
export function unwritable(dest: string, cause: unknown, why?: string): TransportError {
  const reason = why ?? (cause instanceof Error ? cause.message : String(cause));
  return new TransportError('OUTPUT_UNWRITABLE', `cannot write ${dest}: ${reason}`, { cause, path: dest, errno: errnoOf(cause) });
}

/**
 * A failure while writing `dest`, after the destination was found writable:
 * kiln errors (a layer failing verification, …) pass through unchanged,
 * anything else becomes OUTPUT_WRITE_FAILED.
 */
export function writeFailed(dest: string, err: unknown): Error {
  if (err instanceof KilnError) return err;
  const reason = err instanceof Error ? err.message : String(err);
  return new TransportError('OUTPUT_WRITE_FAILED', `writing ${dest} failed: ${reason}`, { cause: err, path: dest, errno: errnoOf(err) });
}

function errnoOf(err: unknown): string | undefined {
  const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
  return typeof code === 'string' ? code : undefined;
}
