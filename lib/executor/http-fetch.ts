import { type ClientRequest, get as httpGet, type IncomingMessage } from 'node:http';
import { get as httpsGet } from 'node:https';
import type { Socket } from 'node:net';
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

/** The same three timeouts as the registry client's (lib/registry's `Timeouts`), in milliseconds. */
export interface FetchTimeouts {
  /** TCP connect, plus the TLS handshake for https. */
  connectMs: number;
  /** From the request sent to the response headers received. */
  headersMs: number;
  /** Longest pause between two chunks of the body. */
  bodyIdleMs: number;
}

/** The registry client's defaults: 30 s to connect, 60 s for the headers, 60 s of silence in a body. */
export const DEFAULT_FETCH_TIMEOUTS: Readonly<FetchTimeouts> = Object.freeze({ connectMs: 30_000, headersMs: 60_000, bodyIdleMs: 60_000 });

const MAX_REDIRECTS = 10; // Go's http.Client, which BuildKit's HTTP source uses

/** Each timeout by its name in errors, with the flag and variable that change it. */
const TIMEOUT_NAMES: Record<keyof FetchTimeouts, { what: string; flag: string; env: string }> = {
  connectMs: { what: 'connect', flag: '--connect-timeout', env: 'KILN_CONNECT_TIMEOUT' },
  headersMs: { what: 'response', flag: '--response-timeout', env: 'KILN_RESPONSE_TIMEOUT' },
  bodyIdleMs: { what: 'idle', flag: '--idle-timeout', env: 'KILN_IDLE_TIMEOUT' },
};

/**
 * An {@link HttpFetcher} on node:http and node:https: system CAs (plus
 * NODE_EXTRA_CA_CERTS), up to 10 redirects, no proxy support (the
 * HTTP(S)_PROXY variables are not read), and the three `timeouts` (each
 * hop of a redirect gets them afresh). Failures are BuildStepError
 * ADD_URL_FAILED (network errors, too many redirects, non-2xx statuses) and
 * ADD_URL_TIMEOUT, whose message says which timeout fired, its value, and
 * the flag and variable that change it; an idle body fails the stream with it.
 */
export function httpFetcher(opts: { timeouts?: Partial<FetchTimeouts> | undefined } = {}): HttpFetcher {
  const timeouts: FetchTimeouts = { ...DEFAULT_FETCH_TIMEOUTS, ...opts.timeouts };
  return async (url, signal) => {
    let current = url;
    for (let hops = 0; ; hops++) {
      const res = await request(url, current, signal, timeouts);
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
}

/** {@link httpFetcher} with the default timeouts. */
export const nodeHttpFetch: HttpFetcher = httpFetcher();

/** ADD_URL_TIMEOUT for the timeout `which` of `url`. */
function timeoutError(url: string, which: keyof FetchTimeouts, ms: number): BuildStepError {
  const { what, flag, env } = TIMEOUT_NAMES[which];
  const happened = which === 'connectMs' ? `could not connect within ${seconds(ms)}` : which === 'headersMs' ? `no response within ${seconds(ms)}` : `the download stalled: no data for ${seconds(ms)}`;
  return new BuildStepError('ADD_URL_TIMEOUT', `${url}: ${happened} (the ${what} timeout; raise it with ${flag} or ${env})`, { url, timeout: what, limitMs: ms });
}

function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

function request(url: string, current: string, signal: AbortSignal | undefined, timeouts: FetchTimeouts): Promise<IncomingMessage> {
  let parsed: URL;
  try {
    parsed = new URL(current);
  } catch (cause) {
    return Promise.reject(new BuildStepError('ADD_URL_FAILED', `${url}: not a valid URL`, { url, cause }));
  }
  const get = parsed.protocol === 'https:' ? httpsGet : parsed.protocol === 'http:' ? httpGet : undefined;
  if (get === undefined) return Promise.reject(new BuildStepError('ADD_URL_FAILED', `${url}: only http and https URLs can be downloaded`, { url }));
  return new Promise((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const arm = (which: keyof FetchTimeouts): void => {
      clearTimeout(timer);
      timer = setTimeout(() => req.destroy(timeoutError(url, which, timeouts[which])), timeouts[which]);
    };
    const req: ClientRequest = get(parsed, { headers: { 'user-agent': 'kiln', accept: '*/*' }, ...(signal ? { signal } : {}) }, (res) => {
      clearTimeout(timer);
      watchIdle(res, url, timeouts.bodyIdleMs);
      resolve(res);
    });
    req.once('socket', (socket: Socket) => {
      // A kept-alive socket is connected already; a new one gets the connect timeout, then the response timeout.
      if (!socket.connecting) return arm('headersMs');
      arm('connectMs');
      socket.once(parsed.protocol === 'https:' ? 'secureConnect' : 'connect', () => arm('headersMs'));
    });
    req.once('close', () => clearTimeout(timer));
    req.once('error', (cause) => {
      clearTimeout(timer);
      reject(cause instanceof BuildStepError ? cause : new BuildStepError('ADD_URL_FAILED', `${url}: ${cause.message}`, { url, cause }));
    });
  });
}

/**
 * Fails `res` with ADD_URL_TIMEOUT when its socket sees no traffic for
 * `ms` while the body is read. The consumer reads as fast as it can write
 * the spill file, so a quiet socket is the server's doing, not backpressure.
 */
function watchIdle(res: IncomingMessage, url: string, ms: number): void {
  const socket = res.socket;
  const onIdle = (): void => {
    res.destroy(timeoutError(url, 'bodyIdleMs', ms));
  };
  socket.setTimeout(ms, onIdle);
  res.once('close', () => {
    socket.setTimeout(0);
    socket.removeListener('timeout', onIdle);
  });
}
