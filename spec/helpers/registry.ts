/**
 * Test kit: a real CNCF Distribution registry (Debian's `docker-registry`,
 * 2.8) on 127.0.0.1, configured the ways public registries behave:
 *
 * | mode        | transport | auth                                        |
 * |-------------|-----------|---------------------------------------------|
 * | `open`      | http      | none                                        |
 * | `basic`     | http      | htpasswd (bcrypt) Basic                     |
 * | `tls`       | https     | none (self-signed cert, see `caCertPath`)   |
 * | `tls-basic` | https     | htpasswd Basic                              |
 * | `token`     | http      | Bearer tokens from the kit's token server   |
 * | `tls-token` | https     | Bearer tokens, token server on https too    |
 *
 * Each instance has its own temp folder (config, storage, certs), a free
 * port, and is stopped by its PID; nothing outlives the test process (see
 * managed-process.ts). The config is written as JSON, which is YAML.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REGISTRY_TOOLS, ensureTools } from './debian-tools.ts';
import { type ManagedProcess, removeAtExit, startManaged } from './managed-process.ts';
import { type TlsFiles, makeTlsCert } from './test-certs.ts';
import { DEFAULT_USERS, type TokenAccessRule, type TokenServer, type TokenServerOptions, startTokenServer } from './token-server.ts';

export { DEFAULT_USERS } from './token-server.ts';

const execFileP = promisify(execFile);

export type RegistryMode = 'open' | 'basic' | 'tls' | 'tls-basic' | 'token' | 'tls-token';
export const REGISTRY_MODES: readonly RegistryMode[] = ['open', 'basic', 'tls', 'tls-basic', 'token', 'tls-token'];

export interface RegistryOptions {
  mode: RegistryMode;
  /** User → password for basic and token modes (default alice/alice-secret, bob/bob-secret). */
  users?: Record<string, string>;
  /** Token modes: who may pull/push what (default: users everything, anonymous pull). */
  access?: readonly TokenAccessRule[];
  /** Token modes: more token server settings (expiresIn, enforceExpiry, oauth, inProcess). */
  token?: Omit<TokenServerOptions, 'users' | 'access' | 'tls'>;
  /** An existing folder for the registry's storage; kept at stop (default: a temp folder, removed). */
  storage?: string;
}

export interface RunningRegistry {
  mode: RegistryMode;
  /** `127.0.0.1:PORT`: the registry part of image references. */
  host: string;
  /** `http://127.0.0.1:PORT` or `https://127.0.0.1:PORT` */
  url: string;
  /** The registry's own PID. */
  pid: number;
  storageDir: string;
  configPath: string;
  /** TLS modes: the self-signed certificate to trust (PEM). */
  caCertPath?: string;
  /** TLS modes: a folder holding `ca.crt`, for skopeo's `--*-cert-dir` / docker's certs.d. */
  certDir?: string;
  /** Users that can log in (empty in open/tls modes). */
  users: Record<string, string>;
  /** Token modes: the token server the registry trusts. */
  tokenServer?: TokenServer;
  /** True when pushing needs credentials (every mode but open/tls). */
  needsAuth: boolean;
  /** The registry's log so far (info level, with access log lines). */
  logs(): string;
  /** Kills the registry (and its token server) by PID, waits, removes temp folders. Idempotent. */
  stop(): Promise<void>;
}

const isTls = (mode: RegistryMode): boolean => mode.startsWith('tls');
const isBasic = (mode: RegistryMode): boolean => mode === 'basic' || mode === 'tls-basic';
const isToken = (mode: RegistryMode): boolean => mode === 'token' || mode === 'tls-token';

/** A port on 127.0.0.1 nobody listens on right now (the registry may still race another process for it). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function htpasswdFile(path: string, users: Record<string, string>): Promise<void> {
  const lines: string[] = [];
  for (const [user, password] of Object.entries(users)) {
    // -C 4: the cheapest bcrypt cost, so each authenticated request stays fast.
    const { stdout } = await execFileP('htpasswd', ['-Bbn', '-C', '4', user, password], { encoding: 'utf8' });
    lines.push(stdout.trim());
  }
  writeFileSync(path, `${lines.join('\n')}\n`, { mode: 0o600 });
}

interface ConfigParts {
  port: number;
  storageDir: string;
  tls: TlsFiles | undefined;
  htpasswd: string | undefined;
  token: TokenServer | undefined;
}

/** The registry's configuration (Distribution docs/configuration.md). */
export function registryConfig(p: ConfigParts): Record<string, unknown> {
  const http: Record<string, unknown> = { addr: `127.0.0.1:${p.port}`, secret: randomBytes(16).toString('hex') };
  if (p.tls !== undefined) http.tls = { certificate: p.tls.certPath, key: p.tls.keyPath };
  const config: Record<string, unknown> = {
    version: '0.1',
    log: { level: 'info', formatter: 'text', accesslog: { disabled: false } },
    storage: {
      filesystem: { rootdirectory: p.storageDir },
      delete: { enabled: true },
      maintenance: { uploadpurging: { enabled: false } },
    },
    http,
  };
  if (p.htpasswd !== undefined) config.auth = { htpasswd: { realm: 'kiln-test-registry', path: p.htpasswd } };
  if (p.token !== undefined) {
    config.auth = { token: { realm: p.token.realm, service: p.token.service, issuer: p.token.issuer, rootcertbundle: p.token.signingCertPath } };
  }
  return config;
}

/** GET /v2/ once: the status, or undefined when nothing answers yet. */
function probe(url: string, ca: Buffer | undefined): Promise<number | undefined> {
  return new Promise((resolve) => {
    const request = url.startsWith('https:') ? httpsRequest : httpRequest;
    const req = request(`${url}/v2/`, { method: 'GET', timeout: 1000, ...(ca === undefined ? {} : { ca }) }, (res) => {
      res.resume();
      resolve(res.statusCode);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
    req.end();
  });
}

async function waitReady(proc: ManagedProcess, url: string, ca: Buffer | undefined): Promise<boolean> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline && !proc.exited()) {
    const status = await probe(url, ca);
    if (status === 200 || status === 401) return true;
    await new Promise((r) => setTimeout(r, 25));
  }
  return false;
}

/** The environment without REGISTRY_* variables, which would override the config file. */
function registryEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('REGISTRY_')));
}

async function launch(dir: string, parts: Omit<ConfigParts, 'port'>): Promise<{ proc: ManagedProcess; port: number; configPath: string }> {
  const ca = parts.tls === undefined ? undefined : readFileSync(parts.tls.certPath);
  let lastLogs = '';
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const configPath = join(dir, 'config.yml');
    writeFileSync(configPath, JSON.stringify(registryConfig({ ...parts, port }), null, 2));
    const proc = await startManaged('docker-registry', ['serve', configPath], { env: registryEnv(), orphanDirs: [dir] });
    const url = `${parts.tls === undefined ? 'http' : 'https'}://127.0.0.1:${port}`;
    if (await waitReady(proc, url, ca)) return { proc, port, configPath };
    lastLogs = proc.logs();
    await proc.stop();
    if (!/address already in use/.test(lastLogs)) break;
  }
  throw new Error(`docker-registry did not start:\n${lastLogs}`);
}

/**
 * Starts a registry in `opts.mode` (installing docker-registry and
 * apache2-utils first when missing) and resolves once `GET /v2/` answers.
 * The caller must `stop()` it (after/afterEach); a forgotten one is killed
 * when the test process exits.
 */
export async function startRegistry(opts: RegistryOptions): Promise<RunningRegistry> {
  await ensureTools(REGISTRY_TOOLS);
  const { mode } = opts;
  const dir = mkdtempSync(join(tmpdir(), `kiln-registry-${mode}-`));
  const forgetDir = removeAtExit(dir);
  const users = isBasic(mode) || isToken(mode) ? { ...(opts.users ?? DEFAULT_USERS) } : {};
  let token: TokenServer | undefined;
  try {
    const storageDir = opts.storage ?? join(dir, 'storage');
    await mkdir(storageDir, { recursive: true });
    const tls = isTls(mode) ? await makeTlsCert(join(dir, 'tls')) : undefined;
    let htpasswd: string | undefined;
    if (isBasic(mode)) {
      htpasswd = join(dir, 'htpasswd');
      await htpasswdFile(htpasswd, users);
    }
    if (isToken(mode)) {
      token = await startTokenServer({ ...opts.token, users, ...(opts.access === undefined ? {} : { access: opts.access }), ...(tls === undefined ? {} : { tls }) });
    }
    const { proc, port } = await launch(dir, { storageDir, tls, htpasswd, token });
    const url = `${tls === undefined ? 'http' : 'https'}://127.0.0.1:${port}`;
    return {
      mode, host: `127.0.0.1:${port}`, url, pid: proc.pid, storageDir, configPath: join(dir, 'config.yml'),
      ...(tls === undefined ? {} : { caCertPath: tls.certPath, certDir: tls.certDir }),
      users,
      ...(token === undefined ? {} : { tokenServer: token }),
      needsAuth: isBasic(mode) || isToken(mode),
      logs: proc.logs,
      stop: async () => {
        await proc.stop();
        await token?.stop();
        await rm(dir, { recursive: true, force: true });
        forgetDir();
      },
    };
  } catch (err) {
    await token?.stop();
    await rm(dir, { recursive: true, force: true });
    forgetDir();
    throw err;
  }
}

/**
 * The `~/.docker/config.json` content `docker login` would write for `reg`
 * as `user` (default: its first user): `{auths: {HOST: {auth: base64(user:password)}}}`.
 */
export function dockerConfigFor(reg: RunningRegistry, user?: string): { auths: Record<string, { auth: string }> } {
  const name = user ?? Object.keys(reg.users)[0];
  const password = name === undefined ? undefined : reg.users[name];
  if (name === undefined || password === undefined) throw new Error(`registry ${reg.host} (${reg.mode}) has no user ${user ?? ''}`);
  return { auths: { [reg.host]: { auth: Buffer.from(`${name}:${password}`).toString('base64') } } };
}
