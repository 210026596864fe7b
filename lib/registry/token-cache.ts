import { coversScopes, type Scope } from './scope.ts';

interface Entry {
  token: string;
  scopes: readonly Scope[];
  expiresAt: number;
}

/**
 * Bearer tokens by authorization server (realm + service + identity), each
 * with the scopes it was granted for. A token serves any request whose
 * scopes it covers until shortly before it expires.
 */
export class TokenCache {
  readonly #entries = new Map<string, Entry[]>();

  constructor(private readonly now: () => number = Date.now) {}

  /** An unexpired token for `server` covering every scope in `needed`. */
  find(server: string, needed: readonly Scope[]): string | undefined {
    const t = this.now();
    return this.#entries.get(server)?.find((e) => e.expiresAt > t && coversScopes(e.scopes, needed))?.token;
  }

  /**
   * Remembers a token. Its lifetime counts from now (the local clock, not the
   * server's `issued_at`, so clock skew cannot make it look fresh), minus a
   * leeway of a tenth of its lifetime (at most 30 s) so it is not used at the
   * edge of expiry.
   */
  put(server: string, token: string, scopes: readonly Scope[], expiresInSeconds: number): void {
    const lifetime = expiresInSeconds * 1000;
    const t = this.now();
    const entry = { token, scopes, expiresAt: t + lifetime - Math.min(30_000, lifetime / 10) };
    const list = (this.#entries.get(server) ?? []).filter((e) => e.expiresAt > t && e.token !== token);
    list.unshift(entry);
    this.#entries.set(server, list.slice(0, 32));
  }

  /** Forgets a token the registry refused. */
  drop(server: string, token: string): void {
    const list = this.#entries.get(server);
    if (list) this.#entries.set(server, list.filter((e) => e.token !== token));
  }
}
