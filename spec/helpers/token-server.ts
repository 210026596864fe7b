/**
 * Test kit: a token server for registries configured with `auth: token` —
 * the Bearer flow Docker Hub, GHCR and GCR use. See token-server-http.ts for
 * what it answers and token-access.ts for how access is granted.
 *
 * By default it runs in a child process, so a test may block its own event
 * loop (spawnSync of the kiln CLI) while a client fetches tokens; with
 * `inProcess: true` it runs in the test process (slightly faster to start,
 * but then only asynchronous clients can reach it). Either way it is
 * configured and inspected synchronously through its state folder.
 */
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { createPrivateKey } from 'node:crypto';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ManagedProcess, removeAtExit, startManaged } from './managed-process.ts';
import { type CertFiles, makeSigningCert } from './test-certs.ts';
import { DEFAULT_ACCESS, type TokenAccessRule } from './token-access.ts';
import { type TokenRequestRecord, type TokenServerConfig, readTokenConfig, serveTokens } from './token-server-http.ts';
import { libtrustKeyId } from './token-jwt.ts';

export { ANONYMOUS, DEFAULT_ACCESS, type TokenAccessRule, grantAccess, parseScope } from './token-access.ts';
export { REGISTRY_LEEWAY_SECONDS, type TokenRequestRecord } from './token-server-http.ts';
export { decodeJwt, libtrustKeyId } from './token-jwt.ts';

export const DEFAULT_USERS: Readonly<Record<string, string>> = { alice: 'alice-secret', bob: 'bob-secret' };
export const DEFAULT_SERVICE = 'kiln-test-registry';
export const DEFAULT_ISSUER = 'kiln-test-token-issuer';

export interface TokenServerOptions {
  /** User → password (default alice/alice-secret, bob/bob-secret). */
  users?: Record<string, string>;
  /** Default {@link DEFAULT_ACCESS}: users pull/push/delete everywhere, anonymous pull. */
  access?: readonly TokenAccessRule[];
  /** The registry's `auth.token.service` (and the tokens' `aud`). */
  service?: string;
  issuer?: string;
  /** `expires_in` in seconds (default 300). */
  expiresIn?: number;
  /** Shift `exp` back by the registry's 60 s leeway so the registry really rejects expired tokens (default false). */
  enforceExpiry?: boolean;
  /** Answer OAuth2 POSTs (default true); false gives 404 as token servers without OAuth do. */
  oauth?: boolean;
  /** Serve https with this certificate (the realm becomes https://). */
  tls?: CertFiles;
  /** Run in this process instead of a child (see the module comment). */
  inProcess?: boolean;
}

/** What {@link TokenServer.configure} may change while the server runs. */
export type TokenServerChange = Partial<Pick<TokenServerConfig, 'users' | 'access' | 'expiresIn' | 'enforceExpiry' | 'oauth'>>;

/** A running token server. */
export interface TokenServer {
  /** `http(s)://127.0.0.1:PORT` */
  url: string;
  /** The realm registries point clients to: `${url}/token`. */
  realm: string;
  service: string;
  issuer: string;
  /** The signing key's self-signed certificate: the registry's `rootcertbundle`. */
  signingCertPath: string;
  /** libtrust key id of the signing key (every token's `kid`). */
  keyId: string;
  /** The child's PID (undefined when in-process). */
  pid: number | undefined;
  /** Every request answered so far, oldest first. */
  requests(): TokenRequestRecord[];
  /** Forgets the recorded requests. */
  clearRequests(): void;
  /** Changes settings; takes effect from the next request. */
  configure(change: TokenServerChange): void;
  /** The child's output (empty in-process). */
  logs(): string;
  /** Stops the server and removes its state folder. Idempotent. */
  stop(): Promise<void>;
}

const MAIN = join(dirname(fileURLToPath(import.meta.url)), 'token-server-main.ts');

function writeConfig(dir: string, config: TokenServerConfig): void {
  const tmp = join(dir, 'config.json.tmp');
  writeFileSync(tmp, JSON.stringify(config, null, 2), { mode: 0o600 });
  renameSync(tmp, join(dir, 'config.json'));
}

function readRequests(dir: string): TokenRequestRecord[] {
  let text: string;
  try {
    text = readFileSync(join(dir, 'requests.jsonl'), 'utf8');
  } catch {
    return [];
  }
  return text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as TokenRequestRecord);
}

async function startChild(dir: string): Promise<{ port: number; proc: ManagedProcess }> {
  const proc = await startManaged(process.execPath, ['--import', import.meta.resolve('tsx'), MAIN, dir], { cleanupDirs: [dir] });
  const deadline = Date.now() + 20_000;
  for (;;) {
    const m = /^listening (\d+)$/m.exec(proc.logs());
    if (m !== null) return { port: Number(m[1]), proc };
    if (proc.exited() || Date.now() > deadline) {
      await proc.stop();
      throw new Error(`token server did not start:\n${proc.logs()}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function startInProcess(dir: string): Promise<{ port: number; stop: () => Promise<void> }> {
  const forget = removeAtExit(dir);
  const { server, port } = await serveTokens(dir);
  server.unref();
  const close = (s: Server) => new Promise<void>((resolve) => {
    s.closeAllConnections();
    s.close(() => resolve());
  });
  return {
    port,
    stop: async () => {
      await close(server);
      forget();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Starts a token server on 127.0.0.1 with a fresh P-256 signing key and certificate. */
export async function startTokenServer(opts: TokenServerOptions = {}): Promise<TokenServer> {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-token-server-'));
  const forgetDir = removeAtExit(dir);
  const signing = await makeSigningCert(dir);
  const config: TokenServerConfig = {
    service: opts.service ?? DEFAULT_SERVICE,
    issuer: opts.issuer ?? DEFAULT_ISSUER,
    users: { ...(opts.users ?? DEFAULT_USERS) },
    access: [...(opts.access ?? DEFAULT_ACCESS)],
    expiresIn: opts.expiresIn ?? 300,
    enforceExpiry: opts.enforceExpiry ?? false,
    oauth: opts.oauth ?? true,
    signingKeyPath: signing.keyPath,
    ...(opts.tls === undefined ? {} : { tls: { certPath: opts.tls.certPath, keyPath: opts.tls.keyPath } }),
  };
  writeConfig(dir, config);
  let port: number;
  let stop: () => Promise<void>;
  let pid: number | undefined;
  let logs = (): string => '';
  try {
    if (opts.inProcess === true) {
      ({ port, stop } = await startInProcess(dir));
    } else {
      const child = await startChild(dir);
      port = child.port;
      pid = child.proc.pid;
      logs = child.proc.logs;
      stop = () => child.proc.stop();
    }
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  } finally {
    forgetDir(); // the child (or the in-process stop) owns the folder now
  }
  const url = `${opts.tls === undefined ? 'http' : 'https'}://127.0.0.1:${port}`;
  return {
    url, realm: `${url}/token`, service: config.service, issuer: config.issuer,
    signingCertPath: signing.certPath,
    keyId: libtrustKeyId(createPrivateKey(readFileSync(signing.keyPath))),
    pid,
    requests: () => readRequests(dir),
    clearRequests: () => writeFileSync(join(dir, 'requests.jsonl'), ''),
    configure: (change) => writeConfig(dir, { ...readTokenConfig(dir), ...change }),
    logs: () => logs(),
    stop,
  };
}
