import { registryHost } from '../ref/index.ts';
import type { HostPolicy } from './host-policy.ts';
import { header, type HttpTransport, looksLikePlainHttp, readText } from './http-transport.ts';
import { type RegistryContext, RegistryError, describeContext, errorFromResponse } from './registry-error.ts';
import { type RetryPolicy, parseRetryAfter, withRetry } from './retry.ts';
import { type Challenge, parseWwwAuthenticate } from './www-authenticate.ts';

/**
 * One place that serves the distribution API: a registry's own host or a
 * mirror. `name` keys credentials and names it in messages; `base` is the
 * URL before `/v2/`. `challenge` is what its `/v2/` ping asked for
 * (undefined: no auth), updated when a later 401 asks for something else.
 */
export interface Endpoint {
  readonly name: string;
  readonly base: URL;
  readonly mirror: boolean;
  challenge: Challenge | undefined;
}

/** `base` + `/v2/…` path (the path's own query kept). */
export function endpointUrl(endpoint: Endpoint, path: string): URL {
  const prefix = endpoint.base.pathname.replace(/\/+$/, '');
  return new URL(`${endpoint.base.origin}${prefix}${path}`);
}

/** The challenge kiln answers when several are offered: Bearer before Basic. */
export function pickChallenge(challenges: readonly Challenge[]): Challenge | undefined {
  return challenges.find((c) => c.scheme === 'bearer') ?? challenges.find((c) => c.scheme === 'basic');
}

const MIRROR_BACKOFF_MS = 60_000;

/**
 * Finds and pings endpoints, once per process each. A registry is spoken to
 * over https; a loopback or insecure one falls back to plain http when its
 * https attempt fails (but not when it presented an untrusted certificate:
 * that is reported). Mirrors use the scheme of their URL.
 */
export class EndpointResolver {
  readonly #cache = new Map<string, Promise<Endpoint>>();
  readonly #failedMirrors = new Map<string, { until: number; error: unknown }>();

  constructor(
    private readonly transport: HttpTransport,
    private readonly policy: HostPolicy,
    private readonly retry: RetryPolicy,
    private readonly now: () => number = Date.now,
  ) {}

  /** The endpoint of a registry named in a reference (`docker.io`, `host:port`). */
  origin(registry: string, signal?: AbortSignal): Promise<Endpoint> {
    return this.#cached(`origin ${registry}`, () => this.#probeOrigin(registry, signal));
  }

  /**
   * The endpoint of a mirror URL (`http://127.0.0.1:5000`,
   * `https://mirror.example/prefix`). A mirror is pinged once, without
   * retries, and one that failed is not tried again for a minute: the
   * origin is the fallback, not a wait.
   */
  mirror(url: URL, signal?: AbortSignal): Promise<Endpoint> {
    const key = `mirror ${url.href}`;
    const failed = this.#failedMirrors.get(key);
    if (failed !== undefined && failed.until > this.now()) return Promise.reject(failed.error);
    return this.#cached(key, async () => {
      const ep: Endpoint = { name: url.host, base: url, mirror: true, challenge: undefined };
      try {
        ep.challenge = await this.#ping(ep, false, signal);
      } catch (error) {
        if (!signal?.aborted) this.#failedMirrors.set(key, { until: this.now() + MIRROR_BACKOFF_MS, error });
        throw error;
      }
      return ep;
    });
  }

  #cached(key: string, make: () => Promise<Endpoint>): Promise<Endpoint> {
    let p = this.#cache.get(key);
    if (p === undefined) {
      p = make();
      this.#cache.set(key, p);
      // A failed probe is not remembered: the next call tries again.
      p.catch(() => this.#cache.delete(key));
    }
    return p;
  }

  async #probeOrigin(registry: string, signal: AbortSignal | undefined): Promise<Endpoint> {
    const host = registryHost(registry);
    const https: Endpoint = { name: registry, base: new URL(`https://${host}`), mirror: false, challenge: undefined };
    if (!this.policy.allowsHttp(host)) {
      https.challenge = await this.#ping(https, true, signal);
      return https;
    }
    try {
      https.challenge = await this.#ping(https, false, signal);
      return https;
    } catch (httpsErr) {
      if (!canFallBack(httpsErr)) throw httpsErr;
      const http: Endpoint = { ...https, base: new URL(`http://${host}`) };
      // After an https timeout, one plain-http try: a host that stays silent would otherwise
      // wait out every retry's timeout again (five response timeouts, minutes at the defaults).
      const retryHttp = !(httpsErr instanceof RegistryError && httpsErr.code === 'REGISTRY_TIMEOUT');
      try {
        http.challenge = await this.#ping(http, retryHttp, signal);
        return http;
      } catch (httpErr) {
        throw looksLikePlainHttp(httpsErr) ? httpErr : httpsErr;
      }
    }
  }

  /** GET /v2/: 200 = open, 401 = the challenge to answer; others are errors. */
  async #ping(ep: Endpoint, retry: boolean, signal: AbortSignal | undefined): Promise<Challenge | undefined> {
    const ctx: RegistryContext = { registry: ep.name };
    const once = async (): Promise<Challenge | undefined> => {
      const res = await this.transport.send({ method: 'GET', url: endpointUrl(ep, '/v2/'), signal }, ctx);
      if (res.status === 401) {
        await res.body.dump().catch(() => {});
        return pickChallenge(parseWwwAuthenticate(res.headers['www-authenticate']));
      }
      const text = await readText(res, ctx, 64 << 10);
      if (res.status >= 200 && res.status < 300) return undefined;
      if (res.status === 404) {
        throw new RegistryError('REGISTRY_PROTOCOL', `${describeContext(ctx)}: does not serve the registry API v2 (GET /v2/ answered 404)`, { ...ctx, status: 404 });
      }
      throw errorFromResponse(res.status, text, ctx, { action: 'ping of', retryAfterMs: parseRetryAfter(header(res, 'retry-after')) });
    };
    return retry ? withRetry(this.retry, signal, once) : once();
  }
}

function canFallBack(err: unknown): boolean {
  if (!(err instanceof RegistryError)) return false;
  return err.code === 'REGISTRY_UNREACHABLE' || err.code === 'REGISTRY_TIMEOUT' || (err.code === 'REGISTRY_TLS' && looksLikePlainHttp(err));
}
