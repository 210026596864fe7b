import type { CredentialSource, Credentials } from './credential-store.ts';
import { pickChallenge, type Endpoint } from './endpoint.ts';
import type { HostPolicy } from './host-policy.ts';
import type { HttpTransport } from './http-transport.ts';
import { type RegistryContext, RegistryError, describeContext } from './registry-error.ts';
import { type RetryPolicy, withRetry } from './retry.ts';
import { mergeScopes, parseScope, type Scope, scopesKey } from './scope.ts';
import { TokenCache } from './token-cache.ts';
import { fetchToken } from './token-fetch.ts';
import { parseWwwAuthenticate } from './www-authenticate.ts';

/** What a 401 answer means for the next attempt. */
export interface Unauthorized {
  /** The registry says the token lacks a scope (`error="insufficient_scope"`). */
  insufficientScope: boolean;
  /** Scopes the challenge asked for, to add to the next token request. */
  scopes: Scope[];
}

/**
 * Answers registry auth challenges. Basic: the registry's credentials on
 * every request. Bearer: a token from the challenge's realm for the scopes
 * a request needs, cached by server and scopes until it expires, one
 * request per token however many callers wait for it. Credentials are
 * looked up once per registry per client.
 */
export class Authenticator {
  readonly #tokens: TokenCache;
  readonly #inflight = new Map<string, Promise<string>>();
  readonly #creds = new Map<string, Promise<Credentials | undefined>>();

  constructor(
    private readonly transport: HttpTransport,
    private readonly credentials: CredentialSource,
    private readonly policy: HostPolicy,
    private readonly retry: RetryPolicy,
    now: () => number,
  ) {
    this.#tokens = new TokenCache(now);
  }

  /** The credentials known for an endpoint's registry (cached). */
  credentialsFor(name: string, signal?: AbortSignal): Promise<Credentials | undefined> {
    let p = this.#creds.get(name);
    if (p === undefined) {
      p = this.credentials.get(name, signal);
      this.#creds.set(name, p);
      p.catch(() => this.#creds.delete(name));
    }
    return p;
  }

  /** The Authorization header for a request needing `scopes`, or undefined for none. */
  async authorize(ep: Endpoint, scopes: readonly Scope[], ctx: RegistryContext, signal?: AbortSignal): Promise<string | undefined> {
    const ch = ep.challenge;
    if (ch === undefined) return undefined;
    const creds = await this.credentialsFor(ep.name, signal);
    if (ch.scheme === 'basic') {
      return creds?.kind === 'basic' ? basicHeader(creds.username, creds.password) : undefined;
    }
    if (ch.scheme !== 'bearer') return undefined;
    const realm = this.#realm(ch.params.realm, creds, ctx);
    const server = `${realm.href} ${ch.params.service ?? ''}`;
    const needed = mergeScopes(scopes);
    const cached = this.#tokens.find(server, needed);
    if (cached !== undefined) return `Bearer ${cached}`;
    const key = `${server} ${scopesKey(needed)}`;
    let p = this.#inflight.get(key);
    if (p === undefined) {
      p = withRetry(this.retry, signal, () => fetchToken(this.transport, { realm, service: ch.params.service, scopes: needed, credentials: creds, signal }, ctx))
        .then(({ token, expiresIn }) => {
          this.#tokens.put(server, token, needed, expiresIn);
          return token;
        })
        .finally(() => this.#inflight.delete(key));
      this.#inflight.set(key, p);
    }
    return `Bearer ${await p}`;
  }

  /**
   * Takes in a 401: forgets the token that was refused and adopts the
   * challenge the answer carries (a registry may challenge a repository
   * although its ping did not).
   */
  unauthorized(ep: Endpoint, wwwAuthenticate: string | string[] | undefined, usedAuthorization: string | undefined): Unauthorized {
    const ch = pickChallenge(parseWwwAuthenticate(wwwAuthenticate));
    if (usedAuthorization?.startsWith('Bearer ') && ep.challenge?.scheme === 'bearer') {
      const server = `${new URL(ep.challenge.params.realm ?? 'http://invalid').href} ${ep.challenge.params.service ?? ''}`;
      this.#tokens.drop(server, usedAuthorization.slice('Bearer '.length));
    }
    if (ch === undefined) return { insufficientScope: false, scopes: [] };
    const scopes = challengeScopes(ch.params.scope);
    ep.challenge = { scheme: ch.scheme, params: { ...ch.params } };
    delete ep.challenge.params.scope;
    delete ep.challenge.params.error;
    return { insufficientScope: ch.params.error === 'insufficient_scope', scopes };
  }

  #realm(realm: string | undefined, creds: Credentials | undefined, ctx: RegistryContext): URL {
    let url: URL;
    try {
      url = new URL(realm ?? '');
    } catch {
      throw new RegistryError('REGISTRY_PROTOCOL', `${describeContext(ctx)}: the registry's Bearer challenge has no valid realm`, { ...ctx });
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw new RegistryError('REGISTRY_PROTOCOL', `${describeContext(ctx)}: token realm scheme ${url.protocol} is not supported`, { ...ctx });
    }
    // Credentials go over plain http only where the user allowed http.
    if (url.protocol === 'http:' && creds !== undefined && !this.policy.allowsHttp(url.host)) {
      throw new RegistryError('REGISTRY_PROTOCOL', `${describeContext(ctx)}: refusing to send credentials to a plain-http token realm on ${url.host}`, { ...ctx });
    }
    return url;
  }
}

export function basicHeader(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`, 'utf8').toString('base64')}`;
}

function challengeScopes(scope: string | undefined): Scope[] {
  if (scope === undefined) return [];
  return scope.split(' ').flatMap((s) => {
    const parsed = parseScope(s);
    return parsed ? [parsed] : [];
  });
}
