/**
 * Secrets must never reach an error message, a field or a log line. These
 * helpers scrub the text kiln did not write itself (registry error bodies,
 * credential helper output) and strip URLs down to what is safe to show.
 */

// Authorization schemes followed by their credentials, JWT-shaped strings,
// and `key=value` pairs whose key names a secret (query strings, form bodies).
const PATTERNS: readonly RegExp[] = [
  /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/gi,
  /\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}(?:\.[A-Za-z0-9_-]*)?/g,
  /\b((?:access_|refresh_|id_|identity)?token|password|passwd|secret|signature|x-amz-signature|x-amz-credential|x-amz-security-token|sig|auth)(["']?\s*[:=]\s*["']?)[^\s"'&,}]+/gi,
];

/** `text` with anything that looks like a credential replaced by `[REDACTED]`. */
export function redact(text: string): string {
  let out = text;
  out = out.replace(PATTERNS[0]!, (_m, scheme: string) => `${scheme} [REDACTED]`);
  out = out.replace(PATTERNS[1]!, '[REDACTED]');
  out = out.replace(PATTERNS[2]!, (_m, key: string, sep: string) => `${key}${sep}[REDACTED]`);
  return out;
}

/**
 * A URL as it may be shown: scheme, host and path only. Query strings carry
 * presigned signatures and upload state, user info carries passwords.
 */
export function safeUrl(url: URL | string): string {
  try {
    const u = typeof url === 'string' ? new URL(url) : url;
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return '[invalid URL]';
  }
}

/** Shortens registry-supplied text for a one-line message. */
export function clip(text: string, max = 300): string {
  const one = text.replace(/\s+/g, ' ').trim();
  return one.length > max ? `${one.slice(0, max)}…` : one;
}
