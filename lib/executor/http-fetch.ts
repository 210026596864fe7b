import { get as httpGet, type IncomingMessage } from 'node:http';
import { get as httpsGet } from 'node:https';
import type { Readable } from 'node:stream';
import { BuildStepError } from './errors.ts';

/** A successful HTTP response to `ADD <url>`: the body to read, and what the headers say about it. */
export interface HttpResponse {
  /** The body; the caller reads it to its end or destroys it. */
  readonly body: Readable;
  /** From `Last-Modified`, when present and valid. */
  readonly lastModified?: Date;
  /** From `Content-Length`, when present. */
  readonly size?: number;
}

/**
 * Downloads `url` (GET, redirects followed). Resolves once a 2xx response's
 * headers are in; any other outcome rejects. Injected into the executor so
 * that lib/executor needs no HTTP client of its own (only lib/registry may
 * use undici) and tests can serve what they like.
 */
export type HttpFetcher = (url: string, signal?: AbortSignal) => Promise<HttpResponse>;

const MAX_REDIRECTS = 10; // Go's http.Client, which BuildKit's HTTP source uses

/**
 * The default {@link HttpFetcher}, on node:http and node:https: system CAs
 * (plus NODE_EXTRA_CA_CERTS), up to 10 redirects, no proxy support (the
 * HTTP(S)_PROXY variables are not read). Failures are BuildStepError
 * ADD_URL_FAILED (network errors, too many redirects, non-2xx statuses).
 */
export const nodeHttpFetch: HttpFetcher = async (url, signal) => {
  let current = url;
  for (let hops = 0; ; hops++) {
    const res = await request(current, signal);
    const status = res.statusCode ?? 0;
    const location = res.headers.location;
    if (status >= 300 && status < 400 && location !== undefined) {
      res.resume();
      if (hops >= MAX_REDIRECTS) throw new BuildStepError('ADD_URL_FAILED', `${url}: stopped after ${MAX_REDIRECTS} redirects`, { url });
      current = new URL(location, current).toString();
      continue;
    }
    if (status < 200 || status >= 300) {
      res.resume();
      throw new BuildStepError('ADD_URL_FAILED', `${url}: invalid response status ${status}${res.statusMessage ? ` ${res.statusMessage}` : ''}`, { url, status });
    }
    const modified = res.headers['last-modified'];
    const lastModified = modified !== undefined ? new Date(modified) : undefined;
    const length = res.headers['content-length'];
    return {
      body: res,
      ...(lastModified !== undefined && !Number.isNaN(lastModified.getTime()) ? { lastModified } : {}),
      ...(length !== undefined && /^\d+$/.test(length) ? { size: Number(length) } : {}),
    };
  }
};

function request(url: string, signal: AbortSignal | undefined): Promise<IncomingMessage> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (cause) {
    return Promise.reject(new BuildStepError('ADD_URL_FAILED', `${url}: not a valid URL`, { url, cause }));
  }
  const get = parsed.protocol === 'https:' ? httpsGet : parsed.protocol === 'http:' ? httpGet : undefined;
  if (get === undefined) return Promise.reject(new BuildStepError('ADD_URL_FAILED', `${url}: only http and https URLs can be downloaded`, { url }));
  return new Promise((resolve, reject) => {
    const req = get(parsed, { headers: { 'user-agent': 'kiln', accept: '*/*' }, ...(signal ? { signal } : {}) }, resolve);
    req.once('error', (cause) => reject(new BuildStepError('ADD_URL_FAILED', `${url}: ${cause.message}`, { url, cause })));
  });
}
