import type { Readable } from 'node:stream';
import type { Authenticator } from './authenticator.ts';
import { type Endpoint, endpointUrl } from './endpoint.ts';
import { header, type HttpMethod, type HttpResponse, type HttpTransport, readText } from './http-transport.ts';
import { clip, redact } from './redact.ts';
import { type RegistryContext, type RegistryErrorCode, RegistryError, describeContext, errorFromResponse, inOperation, parseErrorBody } from './registry-error.ts';
import { type RetryPolicy, parseRetryAfter, withRetry } from './retry.ts';
import type { RegistryEventSink } from './registry-event.ts';
import type { Scope } from './scope.ts';

export interface RegistryRequest {
  method: HttpMethod;
  /** A `/v2/…` path under the endpoint, or an absolute URL (upload Locations). */
  target: string | URL;
  headers?: Record<string, string>;
  /** A replayable body, or a factory called once per attempt. */
  body?: Buffer | string | (() => Readable | Promise<Readable>) | undefined;
  scopes: readonly Scope[];
  ctx: RegistryContext;
  /** Code for a 404 answer (its body, if any, names a more precise one). */
  notFound?: RegistryErrorCode;
  /** What is being done, for messages: `pull of`, `push of`. */
  action?: string;
  /** Retry 5xx/429/network failures (default true). Off for upload steps that change server state. */
  retry?: boolean;
  /** Statuses returned to the caller instead of thrown (default: 2xx and 3xx). */
  ok?: (status: number) => boolean;
  signal?: AbortSignal | undefined;
}

const defaultOk = (s: number): boolean => s >= 200 && s < 400;

/**
 * Sends requests to an endpoint the way every registry operation needs:
 * authorized for the request's scopes, one re-authorization after a 401,
 * retries with backoff for transient failures, and every status the
 * caller does not accept turned into a RegistryError (the body read and
 * the connection freed).
 */
export class Requester {
  constructor(
    private readonly transport: HttpTransport,
    private readonly auth: Authenticator,
    private readonly retry: RetryPolicy,
    private readonly onEvent?: RegistryEventSink,
  ) {}

  send(ep: Endpoint, req: RegistryRequest): Promise<HttpResponse> {
    const attempt = (): Promise<HttpResponse> => this.#authorized(ep, req);
    return req.retry === false ? attempt() : this.retrying(req.ctx, req.signal, attempt);
  }

  /**
   * Runs a whole exchange (request and reading its body) under the retry
   * policy; its `send`s should pass `retry: false`.
   */
  retrying<T>(ctx: RegistryContext, signal: AbortSignal | undefined, fn: () => Promise<T>): Promise<T> {
    return withRetry(this.retry, signal, fn, retryReporter(this.onEvent, ctx));
  }

  async #authorized(ep: Endpoint, req: RegistryRequest): Promise<HttpResponse> {
    const url = typeof req.target === 'string' ? endpointUrl(ep, req.target) : req.target;
    let scopes = req.scopes;
    for (let reauth = 0; ; reauth++) {
      // Credentials are for the endpoint's origin (an upload Location may point elsewhere).
      const authorization = url.origin === ep.base.origin ? await this.#authorize(ep, scopes, req) : undefined;
      const body = typeof req.body === 'function' ? await req.body() : req.body;
      const headers = { ...req.headers, ...(authorization !== undefined ? { authorization } : {}) };
      const res = await this.transport.send({ method: req.method, url, headers, body, signal: req.signal }, req.ctx).catch((err: unknown) => {
        throw inOperation(err, req.action, req.ctx);
      });
      if ((req.ok ?? defaultOk)(res.status)) return res;
      if (res.status === 401 && reauth === 0) {
        const hint = this.auth.unauthorized(ep, res.headers['www-authenticate'], authorization);
        if (!hint.insufficientScope || hint.scopes.length > 0) {
          await res.body.dump().catch(() => {});
          if (body !== undefined && typeof body === 'object' && !Buffer.isBuffer(body)) body.destroy();
          scopes = [...req.scopes, ...hint.scopes];
          continue;
        }
      }
      throw await this.#error(ep, req, res, authorization !== undefined);
    }
  }

  async #authorize(ep: Endpoint, scopes: readonly Scope[], req: RegistryRequest): Promise<string | undefined> {
    try {
      return await this.auth.authorize(ep, scopes, req.ctx, req.signal);
    } catch (err) {
      throw inOperation(err, req.action, req.ctx);
    }
  }

  async #error(ep: Endpoint, req: RegistryRequest, res: HttpResponse, sentAuth: boolean): Promise<RegistryError> {
    const text = req.method === 'HEAD' ? '' : await readText(res, req.ctx, 64 << 10).catch(() => '');
    if (req.method === 'HEAD') await res.body.dump().catch(() => {});
    const opts = { notFound: req.notFound ?? 'NAME_UNKNOWN', retryAfterMs: parseRetryAfter(header(res, 'retry-after')), ...(req.action !== undefined ? { action: req.action } : {}) } as const;
    if (res.status !== 401) return errorFromResponse(res.status, text, req.ctx, opts);
    return await this.#authError(ep, req, res, text, sentAuth);
  }

  async #authError(ep: Endpoint, req: RegistryRequest, res: HttpResponse, text: string, sentAuth: boolean): Promise<RegistryError> {
    const www = res.headers['www-authenticate'];
    const insufficient = /error="?insufficient_scope/i.test(Array.isArray(www) ? www.join(',') : (www ?? ''));
    const creds = await this.auth.credentialsFor(ep.name, req.signal).catch(() => undefined);
    const said = parseErrorBody(text).message;
    const tail = said !== undefined ? `: ${clip(redact(said))}` : '';
    const action = req.action !== undefined ? `${req.action} ` : '';
    const where = `${action}${describeContext(req.ctx)}`;
    const fields = { ...req.ctx, status: 401 };
    if (creds === undefined) {
      return new RegistryError('UNAUTHORIZED', `${where}: authentication required and no credentials are configured for ${ep.name} (log in first)${tail}`, fields);
    }
    if (insufficient) {
      const wanted = req.scopes.map((s) => `${s.actions.join(',')} on ${s.name}`).join(' and ');
      return new RegistryError('DENIED', `${where}: access denied: these credentials are not granted ${wanted} (insufficient_scope)${tail}`, fields);
    }
    const how = sentAuth ? 'the credentials were rejected' : 'the registry asked for authentication kiln could not give';
    return new RegistryError('UNAUTHORIZED', `${where}: authentication failed: ${how}${tail}`, fields);
  }
}

/** An onRetry callback that reports retries as events, or undefined without a sink. */
export function retryReporter(sink: RegistryEventSink | undefined, ctx: RegistryContext): ((err: unknown, delayMs: number) => void) | undefined {
  if (sink === undefined) return undefined;
  return (err, delayMs) => {
    const e = err instanceof RegistryError ? err : undefined;
    sink({ kind: 'retry', registry: ctx.registry, repository: ctx.repository, code: e?.code ?? 'UNKNOWN', delayMs, message: e?.message ?? String(err) });
  };
}
