import { KilnError } from '../errors.ts';

/** A content digest `algorithm:encoded`. Only {@link parseDigest} and the hashers make one. */
export type Digest = string & { readonly __digest: unique symbol };

export class DigestError extends KilnError {}

// OCI image-spec descriptor.md: algorithm and encoded grammar, plus the exact
// encodings of the registered algorithms.
const GRAMMAR = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;
const REGISTERED: Record<string, RegExp> = {
  sha256: /^[a-f0-9]{64}$/,
  sha512: /^[a-f0-9]{128}$/,
};

/** True when `s` is a syntactically valid digest (registered algorithms checked exactly). */
export function isDigest(s: string): s is Digest {
  if (!GRAMMAR.test(s)) return false;
  const colon = s.indexOf(':');
  const exact = REGISTERED[s.slice(0, colon)];
  return exact === undefined || exact.test(s.slice(colon + 1));
}

/** Parses a digest string; throws `DIGEST_INVALID` otherwise. */
export function parseDigest(s: unknown, what = 'digest'): Digest {
  if (typeof s !== 'string' || !isDigest(s)) {
    throw new DigestError('DIGEST_INVALID', `invalid ${what}: ${JSON.stringify(s)}`);
  }
  return s;
}

/** The algorithm part (`sha256`). */
export function digestAlgorithm(d: Digest): string {
  return d.slice(0, d.indexOf(':'));
}

/** The encoded part (hex for sha256). */
export function digestHex(d: Digest): string {
  return d.slice(d.indexOf(':') + 1);
}

/** Builds a sha256 digest from a 64-char lower-case hex string. */
export function sha256FromHex(hex: string): Digest {
  return parseDigest(`sha256:${hex}`);
}
