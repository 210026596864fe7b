import type { RegistryErrorCode } from './registry-error.ts';

/**
 * What the client tells its caller about while it works (the library never
 * prints): a retry after a transient failure, a mirror skipped for the next
 * one or the origin. Safe to show: no secrets, no URLs with queries.
 */
export type RegistryEvent =
  | { kind: 'retry'; registry: string; repository: string | undefined; code: string; delayMs: number; message: string }
  | { kind: 'mirror-fallback'; registry: string; mirror: string; code: RegistryErrorCode | string; message: string };

export type RegistryEventSink = (event: RegistryEvent) => void;
