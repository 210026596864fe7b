import type { Credentials } from './credential-store.ts';
import { header, type HttpTransport, readText } from './http-transport.ts';
import { clip, redact } from './redact.ts';
import { type RegistryContext, RegistryError, describeContext, errorFromResponse, parseErrorBody } from './registry-error.ts';
import { parseRetryAfter } from './retry.ts';
import { formatScope, type Scope } from './scope.ts';

export interface TokenRequest {
  realm: URL;
  service: string | undefined;
  scopes: readonly Scope[];
  credentials: Credentials | undefined;
  signal?: AbortSignal | undefined;
}

export interface TokenAnswer {
  token: string;
  /** Seconds; at least 60 (Docker's token spec default and floor). */
  expiresIn: number;
}

const CLIENT_ID = 'kiln';

/**
 * Asks a token server for a bearer token (Docker token auth). With an
 * identity token: the OAuth2 refresh-token grant (form POST). Otherwise a
 * GET, with Basic credentials when there are some, anonymous otherwise.
 * Several scopes go into one request. A refusal is UNAUTHORIZED naming the
 * registry; no secret is ever part of an error.
 */
export async function fetchToken(transport: HttpTransport, req: TokenRequest, ctx: RegistryContext): Promise<TokenAnswer> {
  const creds = req.credentials;
  const scope = req.scopes.map(formatScope);
  let res;
  if (creds?.kind === 'identity-token') {
    const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: creds.identityToken, client_id: CLIENT_ID });
    if (req.service !== undefined) form.set('service', req.service);
    if (scope.length > 0) form.set('scope', scope.join(' '));
    res = await transport.send(
      { method: 'POST', url: req.realm, headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form.toString(), signal: req.signal },
      ctx,
    );
  } else {
    const url = new URL(req.realm);
    if (req.service !== undefined) url.searchParams.set('service', req.service);
    for (const s of scope) url.searchParams.append('scope', s);
    const headers: Record<string, string> = {};
    if (creds?.kind === 'basic') {
      url.searchParams.set('account', creds.username);
      headers.authorization = `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
    }
    res = await transport.send({ method: 'GET', url, headers, signal: req.signal }, ctx);
  }
  const text = await readText(res, ctx, 1 << 20);
  if (res.status === 401 || res.status === 403) {
    const reason = tokenErrorText(text);
    const said = reason !== '' ? `: ${clip(redact(reason), 200)}` : '';
    const how = creds === undefined ? 'anonymous access was refused; log in first' : 'the credentials were rejected';
    throw new RegistryError('UNAUTHORIZED', `${describeContext(ctx)}: authentication failed: ${how} (token server HTTP ${res.status})${said}`, { ...ctx, status: res.status });
  }
  if (res.status !== 200) {
    throw errorFromResponse(res.status, text, ctx, { action: 'token request for', retryAfterMs: parseRetryAfter(header(res, 'retry-after')) });
  }
  return parseTokenAnswer(text, ctx);
}

/** The reason in a token server's error body: distribution errors, `details`, OAuth2 `error_description`. */
function tokenErrorText(text: string): string {
  const first = parseErrorBody(text).message;
  if (first !== undefined) return first;
  try {
    const doc = JSON.parse(text) as { details?: unknown; error_description?: unknown; error?: unknown };
    for (const v of [doc.details, doc.error_description, doc.error]) if (typeof v === 'string' && v !== '') return v;
  } catch {
    // not JSON: the text itself
  }
  return text;
}

function parseTokenAnswer(text: string, ctx: RegistryContext): TokenAnswer {
  let doc: { token?: unknown; access_token?: unknown; expires_in?: unknown };
  try {
    doc = JSON.parse(text) as typeof doc;
  } catch {
    throw new RegistryError('REGISTRY_PROTOCOL', `${describeContext(ctx)}: the token server's answer is not JSON`, { ...ctx });
  }
  const token = typeof doc.token === 'string' && doc.token !== '' ? doc.token : doc.access_token;
  if (typeof token !== 'string' || token === '') {
    throw new RegistryError('REGISTRY_PROTOCOL', `${describeContext(ctx)}: the token server's answer holds no token`, { ...ctx });
  }
  const expiresIn = typeof doc.expires_in === 'number' && Number.isFinite(doc.expires_in) ? Math.max(60, doc.expires_in) : 60;
  return { token, expiresIn };
}
