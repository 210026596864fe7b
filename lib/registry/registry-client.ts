import type { Readable } from 'node:stream';
import type { Digest } from '../digest/index.ts';
import { type Descriptor, type Index, MediaType, type Platform, parseIndex } from '../oci/index.ts';
import { type ImageRef, normalizeRegistry } from '../ref/index.ts';
import { Authenticator } from './authenticator.ts';
import { openBlobFrom, type OpenBlobOptions } from './blob-reader.ts';
import { DEFAULT_UPLOAD, blobExistsAt, type PushBlobOptions, type PushBlobResult, pushBlobTo, type UploadSettings } from './blob-upload.ts';
import { CredentialStore, type CredentialSource, type Credentials, staticCredentials } from './credential-store.ts';
import { type Endpoint, EndpointResolver } from './endpoint.ts';
import { HostPolicy } from './host-policy.ts';
import { DEFAULT_TIMEOUTS, HttpTransport, type Timeouts } from './http-transport.ts';
import { type FetchedManifest, getManifestFrom, headManifestFrom, type ManifestTarget, putManifestTo } from './manifests.ts';
import type { Mirrors } from './mirrors.ts';
import { describePlatforms, resolvePlatform } from './platform-match.ts';
import { type RegistryContext, RegistryError, describeContext, inOperation } from './registry-error.ts';
import type { RegistryEventSink } from './registry-event.ts';
import { Requester, retryReporter } from './registry-request.ts';
import { DEFAULT_RETRY, type RetryPolicy } from './retry.ts';
import { listTagsFrom } from './tags.ts';
import { loadCaCertificates } from './tls-options.ts';

export interface RegistryClientOptions {
  /** Registries (`host` or `host:port`) allowed plain http and unverified TLS. */
  insecureRegistries?: readonly string[];
  /** Extra CA certificate PEM files (besides SSL_CERT_FILE and NODE_EXTRA_CA_CERTS). */
  caCerts?: readonly string[];
  env?: NodeJS.ProcessEnv;
  /** Default: Docker's config.json and credential helpers ({@link CredentialStore}). */
  credentials?: CredentialSource;
  /** Read-only mirrors per registry, tried before it. */
  mirrors?: Mirrors;
  timeouts?: Partial<Timeouts>;
  retry?: Partial<RetryPolicy>;
  upload?: Partial<UploadSettings>;
  userAgent?: string;
  /** Parallel connections per origin (default 8). */
  connectionsPerHost?: number;
  onEvent?: RegistryEventSink;
  /** Clock for token expiry (tests). */
  now?: () => number;
}

/** A repository of a registry. */
export type RepositoryRef = Pick<ImageRef, 'registry' | 'repository'>;

export interface GetManifestOptions {
  accept?: readonly string[];
  /** When the reference names an index, return the manifest for this platform instead. */
  platform?: Pick<Platform, 'os' | 'architecture' | 'variant'>;
  signal?: AbortSignal;
}

/** A manifest, and the index it was picked from when a platform was asked for. */
export interface ResolvedManifest extends FetchedManifest {
  index?: FetchedManifest;
}

const INDEX_TYPES = new Set<string>([MediaType.OciIndex, MediaType.DockerManifestList]);

/**
 * The registry client: one per process or build, so connections, pings
 * and tokens are shared. Reads (manifests, blobs, tags) go to the
 * registry's mirrors first and then to the registry; writes go to the
 * registry only. Every call takes an AbortSignal. `close()` ends the
 * connection pools.
 */
export class RegistryClient {
  readonly #transport: HttpTransport;
  readonly #endpoints: EndpointResolver;
  readonly #auth: Authenticator;
  readonly #requester: Requester;
  readonly #retry: RetryPolicy;
  readonly #upload: UploadSettings;
  readonly #mirrors: Mirrors;
  readonly #policy: HostPolicy;
  readonly #opts: RegistryClientOptions;

  constructor(opts: RegistryClientOptions = {}) {
    const env = opts.env ?? process.env;
    this.#opts = opts;
    this.#policy = new HostPolicy(opts.insecureRegistries);
    this.#retry = { ...DEFAULT_RETRY, ...opts.retry };
    this.#upload = { ...DEFAULT_UPLOAD, ...opts.upload };
    this.#mirrors = opts.mirrors ?? new Map();
    this.#transport = new HttpTransport({
      policy: this.#policy,
      ca: loadCaCertificates(opts.caCerts ?? [], env),
      timeouts: { ...DEFAULT_TIMEOUTS, ...opts.timeouts },
      userAgent: opts.userAgent ?? 'kiln',
      connectionsPerOrigin: opts.connectionsPerHost ?? 8,
    });
    this.#endpoints = new EndpointResolver(this.#transport, this.#policy, this.#retry, opts.now ?? Date.now);
    this.#auth = new Authenticator(this.#transport, opts.credentials ?? new CredentialStore({ env }), this.#policy, this.#retry, opts.now ?? Date.now);
    this.#requester = new Requester(this.#transport, this.#auth, this.#retry, opts.onEvent);
  }

  /**
   * A manifest by the reference's digest (verified) or tag (checked
   * against Docker-Content-Digest). With `platform`, an index is resolved
   * to the matching manifest (containerd's matcher), which is fetched by
   * digest; PLATFORM_UNAVAILABLE when none fits. A single-platform
   * manifest comes back as it is: its config tells its platform.
   */
  async getManifest(ref: ImageRef, opts: GetManifestOptions = {}): Promise<ResolvedManifest> {
    const m = await this.#read(target(undefined, ref), opts.signal, 'pull of', (ep) => getManifestFrom(this.#requester, ep, target(ep, ref), opts));
    if (opts.platform === undefined || !INDEX_TYPES.has(m.mediaType)) return m;
    let index: Index;
    try {
      index = parseIndex(m.bytes);
    } catch (cause) {
      throw new RegistryError('MANIFEST_INVALID', `pull of ${describeContext(target(undefined, ref))}: ${(cause as Error).message}`, { ...target(undefined, ref), cause });
    }
    const chosen = resolvePlatform(index, opts.platform);
    if (chosen === undefined) {
      const want = [opts.platform.os, opts.platform.architecture, opts.platform.variant].filter(Boolean).join('/');
      const have = describePlatforms(index).join(', ') || 'none';
      throw new RegistryError('PLATFORM_UNAVAILABLE', `${describeContext(target(undefined, ref))}: no manifest for platform ${want} (the index offers: ${have})`, { ...target(undefined, ref) });
    }
    const child = await this.#read(target(undefined, ref), opts.signal, 'pull of', (ep) => getManifestFrom(this.#requester, ep, { ...target(ep, ref), reference: chosen.digest }, opts));
    return { ...child, index: m };
  }

  /** A manifest's descriptor, or undefined when the registry does not know the reference. */
  headManifest(ref: ImageRef, opts: { accept?: readonly string[]; signal?: AbortSignal } = {}): Promise<Descriptor | undefined> {
    return this.#read(target(undefined, ref), opts.signal, 'check of', (ep) => headManifestFrom(this.#requester, ep, target(ep, ref), opts));
  }

  /** PUTs a manifest under the reference's tag (or digest); checks the digest the registry answers. */
  async putManifest(ref: ImageRef, bytes: Buffer, mediaType: string, opts: { signal?: AbortSignal } = {}): Promise<Descriptor> {
    const ep = await this.#origin(target(undefined, ref), 'push of', opts.signal);
    return putManifestTo(this.#requester, ep, target(ep, ref), bytes, mediaType, opts.signal);
  }

  /** A blob as a verified stream (see {@link openBlobFrom}); mirrors first. */
  openBlob(repo: RepositoryRef, desc: Descriptor, opts: OpenBlobOptions = {}): Promise<Readable> {
    return this.#read({ registry: repo.registry, repository: repo.repository, reference: desc.digest }, opts.signal, 'pull of', (ep) => openBlobFrom(this.#requester, ep, { registry: ep.name, repository: repo.repository }, desc, opts));
  }

  /** True when the repository (on the registry itself, not a mirror) has the blob. */
  async blobExists(repo: RepositoryRef, digest: Digest, opts: { signal?: AbortSignal } = {}): Promise<boolean> {
    const ep = await this.#origin({ registry: repo.registry, repository: repo.repository, reference: digest }, 'check of', opts.signal);
    return blobExistsAt(this.#requester, ep, { registry: ep.name, repository: repo.repository }, { digest }, opts.signal);
  }

  /** Puts a blob into a repository: skip, mount or upload (see {@link pushBlobTo}). */
  async pushBlob(repo: RepositoryRef, desc: Descriptor, open: () => Readable | Promise<Readable>, opts: PushBlobOptions = {}): Promise<PushBlobResult> {
    const ep = await this.#origin({ registry: repo.registry, repository: repo.repository, reference: desc.digest }, 'push of', opts.signal);
    const ctx = { registry: ep.name, repository: repo.repository };
    return pushBlobTo(this.#requester, ep, ctx, desc, open, this.#upload, this.#retry, opts, retryReporter(this.#opts.onEvent, ctx));
  }

  /** Every tag of a repository (pages followed; a registry's `null` list is empty). */
  listTags(repo: RepositoryRef, opts: { signal?: AbortSignal } = {}): Promise<string[]> {
    return this.#read({ registry: repo.registry, repository: repo.repository }, opts.signal, 'tag list of', (ep) => listTagsFrom(this.#requester, ep, { registry: ep.name, repository: repo.repository }, opts.signal));
  }

  /**
   * Checks credentials against a registry the way `docker login` does: a
   * token without scopes (Bearer) or an authenticated `/v2/` (Basic) must
   * be granted. Throws UNAUTHORIZED otherwise. Nothing is cached or saved.
   */
  async checkCredentials(registry: string, credentials: Credentials, opts: { signal?: AbortSignal } = {}): Promise<void> {
    const name = normalizeRegistry(registry);
    const probe = new Authenticator(this.#transport, staticCredentials({ [name]: credentials }), this.#policy, this.#retry, this.#opts.now ?? Date.now);
    const requester = new Requester(this.#transport, probe, this.#retry);
    const ep = await this.#origin({ registry: name }, 'login to', opts.signal);
    const res = await requester.send({ ...ep }, { method: 'GET', target: '/v2/', scopes: [], ctx: { registry: name }, action: 'login to', ok: (s) => s === 200, signal: opts.signal });
    await res.body.dump().catch(() => {});
  }

  /** Closes the connection pools. */
  close(): Promise<void> {
    return this.#transport.close();
  }

  /** The registry's own endpoint; a failed probe is reported as a failure of the operation. */
  async #origin(ctx: RegistryContext, action: string, signal: AbortSignal | undefined): Promise<Endpoint> {
    try {
      return await this.#endpoints.origin(ctx.registry, signal);
    } catch (err) {
      throw inOperation(err, action, ctx);
    }
  }

  /** Runs a read against each mirror of the registry, then the registry itself. */
  async #read<T>(ctx: RegistryContext, signal: AbortSignal | undefined, action: string, fn: (ep: Endpoint) => Promise<T>): Promise<T> {
    for (const url of this.#mirrors.get(normalizeRegistry(ctx.registry)) ?? []) {
      try {
        return await fn(await this.#endpoints.mirror(url, signal));
      } catch (err) {
        if (signal?.aborted || !(err instanceof RegistryError)) throw err;
        this.#opts.onEvent?.({ kind: 'mirror-fallback', registry: ctx.registry, mirror: url.host, code: err.code, message: err.message });
      }
    }
    return fn(await this.#origin(ctx, action, signal));
  }
}

/** The manifest target of a reference at an endpoint (the digest wins over the tag). */
function target(ep: Endpoint | undefined, ref: ImageRef): ManifestTarget {
  return { registry: ep?.name ?? ref.registry, repository: ref.repository, reference: ref.digest ?? ref.tag ?? 'latest' };
}
