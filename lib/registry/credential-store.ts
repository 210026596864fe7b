import { join } from 'node:path';
import { normalizeRegistry } from '../ref/index.ts';
import { runCredentialHelper, parseHelperOutput } from './credential-helper.ts';
import { type DockerAuthEntry, type DockerConfigFile, configKey, dockerConfigDir, findByRegistry, readDockerConfig, writeDockerConfig } from './docker-config.ts';

/** Credentials for one registry. */
export type Credentials =
  | { kind: 'basic'; username: string; password: string }
  /** An OAuth2 refresh token (`identitytoken`), exchanged at the token endpoint. */
  | { kind: 'identity-token'; username: string | undefined; identityToken: string };

/** Anything that can name credentials for a registry (`docker.io`, `host:port`). */
export interface CredentialSource {
  get(registry: string, signal?: AbortSignal): Promise<Credentials | undefined>;
}

export interface CredentialStoreOptions {
  /** Folder holding config.json; default `$DOCKER_CONFIG` or `~/.docker`. */
  configDir?: string;
  /** Environment for locating the folder and running helpers (PATH). */
  env?: NodeJS.ProcessEnv;
  helperTimeoutMs?: number;
}

/** The username a helper returns when the secret is an identity token. */
const TOKEN_USER = '<token>';

/**
 * Docker's credential configuration: config.json `auths` (`auth` =
 * base64 `user:password`, `identitytoken`), `credHelpers` per registry and
 * `credsStore` for all, through `docker-credential-<name>`. Docker Hub is
 * keyed `https://index.docker.io/v1/`. Reads the file on every call, so a
 * login by another process is seen.
 */
export class CredentialStore implements CredentialSource {
  readonly path: string;
  readonly #env: NodeJS.ProcessEnv;
  readonly #timeoutMs: number | undefined;

  constructor(opts: CredentialStoreOptions = {}) {
    this.#env = opts.env ?? process.env;
    this.path = join(opts.configDir ?? dockerConfigDir(this.#env), 'config.json');
    this.#timeoutMs = opts.helperTimeoutMs;
  }

  /**
   * Credentials for `registry`: from its helper (credHelpers, else
   * credsStore) when one is configured and knows it, else from `auths`.
   * Undefined when nothing is configured (anonymous access).
   */
  async get(registry: string, signal?: AbortSignal): Promise<Credentials | undefined> {
    const config = readDockerConfig(this.path);
    const helper = helperFor(config, registry);
    if (helper !== undefined) {
      const out = await runCredentialHelper(helper, 'get', configKey(registry), this.#helperOpts(signal));
      if (out !== undefined) {
        const { username, secret } = parseHelperOutput(helper, out);
        if (username === TOKEN_USER) return { kind: 'identity-token', username: undefined, identityToken: secret };
        return { kind: 'basic', username, password: secret };
      }
    }
    const entry = findByRegistry(config.auths, registry)?.[1];
    return entry === undefined ? undefined : fromEntry(entry);
  }

  /**
   * Saves credentials as `docker login` does: through the registry's
   * helper when one is configured (config.json then keeps an empty entry
   * for it), else as `auths[key].auth`. Does not check them against the
   * registry. Returns where they went.
   */
  async login(registry: string, username: string, password: string, signal?: AbortSignal): Promise<{ key: string; helper: string | undefined }> {
    const config = readDockerConfig(this.path);
    const key = configKey(registry);
    const helper = helperFor(config, registry);
    const auths = { ...config.auths };
    if (helper !== undefined) {
      const input = JSON.stringify({ ServerURL: key, Username: username, Secret: password });
      await runCredentialHelper(helper, 'store', input, this.#helperOpts(signal));
      auths[key] = {};
    } else {
      auths[key] = { auth: Buffer.from(`${username}:${password}`, 'utf8').toString('base64') };
    }
    writeDockerConfig(this.path, { ...config, auths });
    return { key, helper };
  }

  /**
   * Forgets a registry's credentials: every `auths` key that names it
   * (`host`, `https://host`, …) and the helper's entry. Returns whether
   * anything was there.
   */
  async logout(registry: string, signal?: AbortSignal): Promise<boolean> {
    const config = readDockerConfig(this.path);
    const want = normalizeRegistry(registry);
    const auths = { ...config.auths };
    const keys = Object.keys(auths).filter((k) => normalizeRegistry(k) === want);
    for (const k of keys) delete auths[k];
    let erased = false;
    const helper = helperFor(config, registry);
    if (helper !== undefined) {
      erased = (await runCredentialHelper(helper, 'erase', configKey(registry), this.#helperOpts(signal))) !== undefined;
    }
    if (keys.length > 0) writeDockerConfig(this.path, { ...config, auths });
    return keys.length > 0 || erased;
  }

  #helperOpts(signal: AbortSignal | undefined): { env: NodeJS.ProcessEnv; timeoutMs?: number; signal?: AbortSignal } {
    return { env: this.#env, ...(this.#timeoutMs !== undefined ? { timeoutMs: this.#timeoutMs } : {}), ...(signal ? { signal } : {}) };
  }
}

/** The helper for a registry: its credHelpers entry, else credsStore. */
function helperFor(config: DockerConfigFile, registry: string): string | undefined {
  const specific = findByRegistry(config.credHelpers, registry)?.[1];
  const name = specific ?? config.credsStore;
  return typeof name === 'string' && name !== '' ? name : undefined;
}

function fromEntry(entry: DockerAuthEntry): Credentials | undefined {
  let username = typeof entry.username === 'string' ? entry.username : undefined;
  let password = typeof entry.password === 'string' ? entry.password : undefined;
  if (typeof entry.auth === 'string' && entry.auth !== '') {
    const plain = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = plain.indexOf(':');
    if (colon > 0) {
      username = plain.slice(0, colon);
      password = plain.slice(colon + 1);
    }
  }
  if (typeof entry.identitytoken === 'string' && entry.identitytoken !== '') {
    return { kind: 'identity-token', username, identityToken: entry.identitytoken };
  }
  return username !== undefined && password !== undefined ? { kind: 'basic', username, password } : undefined;
}

/** Fixed credentials for every registry, or per registry (tests, `--creds`). */
export function staticCredentials(byRegistry: Record<string, Credentials>): CredentialSource {
  return {
    get: (registry) => Promise.resolve(findByRegistry(byRegistry, registry)?.[1]),
  };
}
