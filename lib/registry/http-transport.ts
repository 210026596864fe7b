import type { Readable } from 'node:stream';
import { type ConnectionOptions, type SecureContext, createSecureContext } from 'node:tls';
import type { Dispatcher, Pool } from 'undici';
import { type RegistryContext, RegistryError, describeContext } from './registry-error.ts';
import type { HostPolicy } from './host-policy.ts';
import { safeUrl } from './redact.ts';
import { uniqueCertificates } from './tls-options.ts';

export type HttpMethod = 'GET' | 'HEAD' | 'PUT' | 'POST' | 'PATCH' | 'DELETE';

export interface Timeouts {
  /** TCP + TLS connect. */
  connectMs: number;
  /** From request sent to response headers received. */
  headersMs: number;
  /** Longest pause between two body chunks. */
  bodyIdleMs: number;
}

export const DEFAULT_TIMEOUTS: Timeouts = { connectMs: 30_000, headersMs: 60_000, bodyIdleMs: 60_000 };

export interface HttpRequest {
  method: HttpMethod;
  url: URL;
  /** Lower-case names. */
  headers?: Record<string, string>;
  body?: Buffer | string | Readable | undefined;
  signal?: AbortSignal | undefined;
  /** Follow 3xx answers (GET and HEAD only; default true). */
  followRedirects?: boolean;
}

export type ResponseBody = Dispatcher.ResponseData['body'];

let undici: Promise<typeof import('undici')> | undefined;
/** undici, loaded on the first request: importing it costs ~0.1 s of start-up that commands without network (a cached rebuild) should not pay. */
function loadUndici(): Promise<typeof import('undici')> {
  undici ??= import('undici');
  return undici;
}

export interface HttpResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: ResponseBody;
  /** The URL that answered, after redirects. */
  url: URL;
  /** The timeouts in force, for the message of one that fires while the body is read. */
  timeouts?: Timeouts;
}

/** The first value of a response header. */
export function header(res: Pick<HttpResponse, 'headers'>, name: string): string | undefined {
  const v = res.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 10;
const CERT_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID', 'ERR_TLS_CERT_ALTNAME_INVALID', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'UNABLE_TO_GET_ISSUER_CERT',
  'CERT_SIGNATURE_FAILURE', 'CERT_UNTRUSTED', 'CERT_REJECTED', 'HOSTNAME_MISMATCH',
]);

export interface TransportOptions {
  policy: HostPolicy;
  /** CA list for TLS, or undefined for Node's default store. */
  ca: string[] | undefined;
  timeouts: Timeouts;
  userAgent: string;
  connectionsPerOrigin: number;
}

/**
 * HTTP/1.1 over undici with one keep-alive pool per origin. Follows
 * redirects itself so that an `Authorization` header never leaves the
 * origin it was meant for (S3/CDN redirects get none). Network failures
 * become `RegistryError`s (REGISTRY_UNREACHABLE, REGISTRY_TIMEOUT,
 * REGISTRY_TLS); HTTP statuses are the caller's to interpret. The caller
 * must consume or dump every returned body.
 */
export class HttpTransport {
  readonly #pools = new Map<string, Pool>();
  #secureContext: SecureContext | undefined;

  constructor(private readonly opts: TransportOptions) {}

  async send(req: HttpRequest, ctx: RegistryContext): Promise<HttpResponse> {
    const follow = req.followRedirects !== false && (req.method === 'GET' || req.method === 'HEAD');
    const headers: Record<string, string> = { 'user-agent': this.opts.userAgent, ...req.headers };
    let url = req.url;
    for (let hop = 0; ; hop++) {
      const res = await this.#dispatch(req, url, headers, ctx);
      const location = header(res, 'location');
      if (!follow || !REDIRECTS.has(res.status) || location === undefined) return res;
      await res.body.dump().catch(() => {});
      if (hop >= MAX_REDIRECTS) throw new RegistryError('REGISTRY_PROTOCOL', `${describeContext(ctx)}: too many redirects`, { ...ctx, status: res.status });
      const next = new URL(location, url);
      if (next.protocol !== 'https:' && next.protocol !== 'http:') {
        throw new RegistryError('REGISTRY_PROTOCOL', `${describeContext(ctx)}: redirect to unsupported URL scheme ${next.protocol}`, { ...ctx });
      }
      // Credentials are for the registry's origin only, never for a CDN or bucket.
      if (next.origin !== url.origin) delete headers.authorization;
      url = next;
    }
  }

  async #dispatch(req: HttpRequest, url: URL, headers: Record<string, string>, ctx: RegistryContext): Promise<HttpResponse> {
    const pool = await this.#pool(url); // outside the try: failing to load undici is no network error
    try {
      const res = await pool.request({
        method: req.method,
        path: `${url.pathname}${url.search}`,
        headers,
        body: req.body ?? null,
        signal: req.signal,
      });
      return { status: res.statusCode, headers: res.headers, body: res.body, url, timeouts: this.opts.timeouts };
    } catch (err) {
      if (req.signal?.aborted) throw req.signal.reason;
      throw networkError(err, url, ctx, this.opts.timeouts);
    }
  }

  async #pool(url: URL): Promise<Pool> {
    let pool = this.#pools.get(url.origin);
    if (pool === undefined) {
      const { Pool } = await loadUndici();
      pool = this.#pools.get(url.origin); // another request may have made it meanwhile
      if (pool !== undefined) return pool;
      const { timeouts, connectionsPerOrigin } = this.opts;
      const tls = url.protocol === 'https:' ? this.#tlsOptions(url.host) : {};
      pool = new Pool(url.origin, {
        connections: connectionsPerOrigin,
        connect: { timeout: timeouts.connectMs, ...tls },
        headersTimeout: timeouts.headersMs,
        bodyTimeout: timeouts.bodyIdleMs,
        keepAliveTimeout: 30_000,
      });
      this.#pools.set(url.origin, pool);
    }
    return pool;
  }

  /**
   * TLS options for `host`. Verified hosts share one secure context, made
   * on first use: given only a `ca` list, Node parses it again for every
   * connection (~60 ms for a system bundle of ~140 certificates plus
   * Node's own). An insecure host's certificate is not checked, so it
   * needs no CA list at all.
   */
  #tlsOptions(host: string): ConnectionOptions {
    if (this.opts.policy.isInsecure(host)) return { rejectUnauthorized: false };
    this.#secureContext ??= createSecureContext(this.opts.ca === undefined ? {} : { ca: uniqueCertificates(this.opts.ca) });
    return { secureContext: this.#secureContext, rejectUnauthorized: true };
  }

  /** Closes every pool; in-flight requests finish first. */
  async close(): Promise<void> {
    const pools = [...this.#pools.values()];
    this.#pools.clear();
    await Promise.all(pools.map((p) => p.close()));
  }
}

function errorCode(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : '';
}

/** True when a failed https attempt suggests the server speaks plain http. */
export function looksLikePlainHttp(err: unknown): boolean {
  const c = errorCode(err instanceof RegistryError ? err.cause : err);
  return c.startsWith('ERR_SSL_') || c === 'EPROTO' || c === 'ECONNRESET' || c === 'UND_ERR_SOCKET';
}

/** True for failures worth retrying: the connection, not the request, failed. */
export function isTransient(err: unknown): boolean {
  return err instanceof RegistryError && (err.code === 'REGISTRY_UNREACHABLE' || err.code === 'REGISTRY_TIMEOUT');
}

/** Each undici timeout: the Timeouts field behind it, and how a user names and changes it. */
const TIMEOUT_CODES: Record<string, { key: keyof Timeouts; what: string; flag: string; env: string }> = {
  UND_ERR_CONNECT_TIMEOUT: { key: 'connectMs', what: 'could not connect within', flag: 'connect', env: 'KILN_CONNECT_TIMEOUT' },
  UND_ERR_HEADERS_TIMEOUT: { key: 'headersMs', what: 'no response within', flag: 'response', env: 'KILN_RESPONSE_TIMEOUT' },
  UND_ERR_BODY_TIMEOUT: { key: 'bodyIdleMs', what: 'the response stalled: no data for', flag: 'idle', env: 'KILN_IDLE_TIMEOUT' },
};

/**
 * Maps undici/Node network errors to RegistryErrors naming the host, never
 * the full URL. A timeout says which one fired, its value (from `timeouts`)
 * and the flag and variable that change it.
 */
export function networkError(err: unknown, url: URL, ctx: RegistryContext, timeouts?: Timeouts): RegistryError {
  const code = errorCode(err);
  const where = `${describeContext(ctx)} (${safeUrl(url)})`;
  const fields = { ...ctx, networkCode: code, cause: err };
  const timeout = TIMEOUT_CODES[code];
  if (timeout !== undefined) {
    const ms = timeouts?.[timeout.key];
    const value = ms === undefined ? 'the set time' : ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
    const msg = `${where}: ${timeout.what} ${value} (the ${timeout.flag} timeout; raise it with --${timeout.flag}-timeout or ${timeout.env})`;
    return new RegistryError('REGISTRY_TIMEOUT', msg, { ...fields, timeout: timeout.flag, ...(ms === undefined ? {} : { limitMs: ms }) });
  }
  if (CERT_CODES.has(code)) {
    return new RegistryError('REGISTRY_TLS', `${where}: TLS certificate not trusted (${code}); pass its CA certificate, or name the registry as insecure`, fields);
  }
  if (code.startsWith('ERR_SSL_') || code === 'EPROTO') {
    return new RegistryError('REGISTRY_TLS', `${where}: TLS handshake failed (${code})`, fields);
  }
  const msg = (err as Error | null)?.message ?? String(err);
  const how = CONNECT_CODES.has(code) ? 'cannot connect' : 'the connection failed';
  return new RegistryError('REGISTRY_UNREACHABLE', `${where}: ${how} (${code || msg})`, fields);
}

/** Failures to reach the host at all; any other network error broke a connection that was made (a reset, a socket closed mid-body). */
const CONNECT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'EADDRNOTAVAIL', 'ENETDOWN']);

/**
 * Reads a body that should be small, as text. A longer one is cut at `max`
 * bytes (and its connection dropped); a connection failure while reading
 * is a RegistryError like one before the headers.
 */
export async function readText(res: HttpResponse, ctx: RegistryContext, max: number): Promise<string> {
  return (await readBytes(res, ctx, max)).toString('utf8');
}

/** The bytes of a body, up to `max` (see {@link readText}); `onOverflow` decides what a longer body means. */
export async function readBytes(res: HttpResponse, ctx: RegistryContext, max: number, onOverflow?: () => Error): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > max) {
        res.body.destroy();
        if (onOverflow) throw onOverflow();
        chunks.push(chunk.subarray(0, chunk.length - (size - max)));
        break;
      }
      chunks.push(chunk);
    }
  } catch (err) {
    if (err instanceof RegistryError || (err as Error | null)?.name === 'AbortError') throw err;
    throw networkError(err, res.url, ctx, res.timeouts);
  }
  return Buffer.concat(chunks);
}
