/**
 * Test kit: the token server's HTTP side, as Docker Hub, GHCR and GCR answer
 * (Distribution docs/spec/auth/token.md and oauth.md):
 *
 * - `GET /token?service=S&scope=…&scope=…&account=U[&offline_token=true]`,
 *   optionally with HTTP Basic credentials → `{token, access_token,
 *   expires_in, issued_at[, refresh_token]}` (a refresh token only for
 *   authenticated `offline_token=true` requests).
 * - `POST /token` (form: `grant_type=password|refresh_token`, `service`,
 *   `client_id`, `scope` space-separated, `access_type=offline`, `username`,
 *   `password` or `refresh_token`) → `{access_token, scope, expires_in,
 *   issued_at[, refresh_token]}`; 404 when OAuth is switched off, so a
 *   client's fallback to GET can be tested.
 *
 * Denial is granting less, never an error; only bad credentials (401),
 * an unknown refresh token (401), a wrong `service` (400) and malformed
 * OAuth requests (400) fail. State is shared through files in one folder
 * (written by the kit, see token-server.ts), so the server can run in a
 * child process and still be reconfigured and inspected synchronously:
 * `config.json` is read on every request and each request appends one
 * JSON line to `requests.jsonl`.
 */
import { type KeyObject, createPrivateKey, randomBytes } from 'node:crypto';
import { appendFileSync, readFileSync } from 'node:fs';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { type TokenAccessRule, formatScopes, grantAccess } from './token-access.ts';
import { type AccessEntry, libtrustKeyId, newJti, signJwt } from './token-jwt.ts';

/** The registry accepts a token up to this long after its `exp` (Distribution's `Leeway`). */
export const REGISTRY_LEEWAY_SECONDS = 60;

/** The token server's settings, as stored in `config.json`. */
export interface TokenServerConfig {
  service: string;
  issuer: string;
  users: Record<string, string>;
  access: TokenAccessRule[];
  /** Lifetime told to clients in `expires_in`, in seconds. */
  expiresIn: number;
  /** Move `exp` back by the registry's 60 s leeway so the registry rejects a token right when `expires_in` ends. */
  enforceExpiry: boolean;
  /** Answer POST (OAuth2); when false POST gets 404. */
  oauth: boolean;
  signingKeyPath: string;
  tls?: { certPath: string; keyPath: string };
}

/** One request the token server answered, as recorded in `requests.jsonl`. Never holds a secret. */
export interface TokenRequestRecord {
  /** ISO time the request arrived. */
  at: string;
  method: string;
  path: string;
  /** `get` for the token.md flow, else the OAuth2 grant type (as sent). */
  grant: string;
  service: string | undefined;
  /** The `account` parameter, as sent. */
  account: string | undefined;
  clientId: string | undefined;
  /** The authenticated user; null for an anonymous (or failed) request. */
  user: string | null;
  /** The user name a failed request tried (wrong password, unknown user). */
  attemptedUser?: string;
  /** Requested scopes, one per entry (space-separated lists are split). */
  scopes: string[];
  granted: AccessEntry[];
  offline: boolean;
  refreshTokenIssued: boolean;
  status: number;
  jti?: string;
  error?: string;
}

interface Outcome {
  status: number;
  body: Record<string, unknown>;
  headers?: Record<string, string>;
}

interface ServerState {
  dir: string;
  key: KeyObject;
  kid: string;
  /** Refresh token → user. Lives as long as the server. */
  refreshTokens: Map<string, string>;
}

export function readTokenConfig(dir: string): TokenServerConfig {
  return JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as TokenServerConfig;
}

function splitScopes(values: readonly string[]): string[] {
  return values.flatMap((v) => v.split(' ')).filter((s) => s !== '');
}

function issue(config: TokenServerConfig, state: ServerState, user: string | null, scopes: readonly string[]) {
  const now = Date.now() / 1000;
  const iat = Math.floor(now);
  const exp = Math.ceil(now + config.expiresIn) - (config.enforceExpiry ? REGISTRY_LEEWAY_SECONDS : 0);
  const access = grantAccess(config.access, user, scopes);
  const jti = newJti();
  const token = signJwt({ iss: config.issuer, sub: user ?? '', aud: config.service, exp, nbf: iat, iat, jti, access }, state.key, state.kid);
  return { token, jti, access, issuedAt: new Date(iat * 1000).toISOString() };
}

function newRefreshToken(state: ServerState, user: string): string {
  const token = randomBytes(24).toString('base64url');
  state.refreshTokens.set(token, user);
  return token;
}

/** Decodes `Authorization: Basic …`; undefined when absent, null when malformed. */
function basicCredentials(req: IncomingMessage): { user: string; password: string } | null | undefined {
  const header = req.headers.authorization;
  if (header === undefined) return undefined;
  const m = /^Basic\s+(\S+)$/i.exec(header);
  if (m === null) return null;
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return null;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

const unauthorized = (realm: string, details: string): Outcome => ({
  status: 401,
  body: { errors: [{ code: 'UNAUTHORIZED', message: details }], details },
  headers: { 'www-authenticate': `Basic realm="${realm}"` },
});

function handleGet(req: IncomingMessage, url: URL, config: TokenServerConfig, state: ServerState, rec: TokenRequestRecord): Outcome {
  const creds = basicCredentials(req);
  rec.scopes = splitScopes(url.searchParams.getAll('scope'));
  rec.offline = url.searchParams.get('offline_token') === 'true';
  if (creds === null) return unauthorized(config.service, 'malformed Authorization header');
  if (creds !== undefined && config.users[creds.user] !== creds.password) {
    rec.attemptedUser = creds.user;
    return unauthorized(config.service, 'incorrect username or password');
  }
  if (rec.service !== undefined && rec.service !== config.service) return { status: 400, body: { details: `unknown service ${rec.service}` } };
  const user = creds?.user ?? null;
  rec.user = user;
  const t = issue(config, state, user, rec.scopes);
  rec.granted = t.access;
  rec.jti = t.jti;
  const body: Record<string, unknown> = { token: t.token, access_token: t.token, expires_in: config.expiresIn, issued_at: t.issuedAt };
  if (rec.offline && user !== null) {
    body.refresh_token = newRefreshToken(state, user);
    rec.refreshTokenIssued = true;
  }
  return { status: 200, body };
}

function oauthError(status: number, error: string, description: string): Outcome {
  return { status, body: { error, error_description: description } };
}

function handlePost(form: URLSearchParams, config: TokenServerConfig, state: ServerState, rec: TokenRequestRecord): Outcome {
  rec.grant = form.get('grant_type') ?? '';
  rec.service = form.get('service') ?? undefined;
  rec.clientId = form.get('client_id') ?? undefined;
  rec.scopes = splitScopes(form.getAll('scope'));
  rec.offline = form.get('access_type') === 'offline';
  if (rec.clientId === undefined || rec.clientId === '') return oauthError(400, 'invalid_request', 'client_id is required');
  if (rec.service !== config.service) return oauthError(400, 'invalid_request', `unknown service ${rec.service ?? '(none)'}`);
  let user: string;
  let refreshToken: string | undefined;
  if (rec.grant === 'password') {
    const name = form.get('username') ?? '';
    if (config.users[name] === undefined || config.users[name] !== form.get('password')) {
      rec.attemptedUser = name;
      return oauthError(401, 'invalid_grant', 'incorrect username or password');
    }
    user = name;
    if (rec.offline) refreshToken = newRefreshToken(state, user);
  } else if (rec.grant === 'refresh_token') {
    const known = state.refreshTokens.get(form.get('refresh_token') ?? '');
    if (known === undefined) return oauthError(401, 'invalid_grant', 'unknown refresh token');
    user = known;
    // oauth.md: a refresh grant gives back the same refresh token, never a new one.
    if (rec.offline) refreshToken = form.get('refresh_token')!;
  } else {
    return oauthError(400, 'unsupported_grant_type', `grant_type ${rec.grant || '(none)'} is not supported`);
  }
  rec.user = user;
  const t = issue(config, state, user, rec.scopes);
  rec.granted = t.access;
  rec.jti = t.jti;
  const body: Record<string, unknown> = { access_token: t.token, scope: formatScopes(t.access), expires_in: config.expiresIn, issued_at: t.issuedAt };
  if (refreshToken !== undefined) {
    body.refresh_token = refreshToken;
    rec.refreshTokenIssued = true;
  }
  return { status: 200, body };
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function answer(req: IncomingMessage, state: ServerState): Promise<{ outcome: Outcome; rec: TokenRequestRecord | undefined }> {
  const url = new URL(req.url ?? '/', 'http://token-server');
  if (url.pathname !== '/token') return { outcome: { status: 404, body: { details: 'not found' } }, rec: undefined };
  const config = readTokenConfig(state.dir);
  const rec: TokenRequestRecord = {
    at: new Date().toISOString(), method: req.method ?? '', path: url.pathname, grant: 'get',
    service: url.searchParams.get('service') ?? undefined, account: url.searchParams.get('account') ?? undefined,
    clientId: url.searchParams.get('client_id') ?? undefined, user: null, scopes: [], granted: [],
    offline: false, refreshTokenIssued: false, status: 0,
  };
  let outcome: Outcome;
  if (req.method === 'GET') outcome = handleGet(req, url, config, state, rec);
  else if (req.method === 'POST' && config.oauth) outcome = handlePost(new URLSearchParams(await readBody(req)), config, state, rec);
  else if (req.method === 'POST') outcome = { status: 404, body: { details: 'OAuth2 is switched off on this token server' } };
  else outcome = { status: 405, body: { details: 'method not allowed' } };
  rec.status = outcome.status;
  if (outcome.status !== 200) rec.error = JSON.stringify(outcome.body);
  return { outcome, rec };
}

function handler(state: ServerState) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    answer(req, state).then(
      ({ outcome, rec }) => {
        if (rec !== undefined) appendFileSync(join(state.dir, 'requests.jsonl'), `${JSON.stringify(rec)}\n`);
        res.writeHead(outcome.status, { 'content-type': 'application/json', ...outcome.headers });
        res.end(JSON.stringify(outcome.body));
      },
      (err: unknown) => {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(String(err));
      },
    );
  };
}

/**
 * Serves tokens on 127.0.0.1 (a free port) from the state folder `dir`
 * (`config.json` as written by the kit). Resolves once listening. The caller
 * closes the server.
 */
export async function serveTokens(dir: string): Promise<{ server: Server; port: number }> {
  const config = readTokenConfig(dir);
  const key = createPrivateKey(readFileSync(config.signingKeyPath));
  const state: ServerState = { dir, key, kid: libtrustKeyId(key), refreshTokens: new Map() };
  const server = config.tls === undefined
    ? createServer(handler(state))
    : createHttpsServer({ cert: readFileSync(config.tls.certPath), key: readFileSync(config.tls.keyPath) }, handler(state));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  return { server, port: (server.address() as AddressInfo).port };
}
