import { createHash } from 'node:crypto';
import { type Digest, digestAlgorithm, isDigest, sha256 } from '../digest/index.ts';
import { type Descriptor, MediaType } from '../oci/index.ts';
import type { Endpoint } from './endpoint.ts';
import { header, type HttpResponse, readBytes } from './http-transport.ts';
import { type RegistryContext, RegistryError, describeContext, inOperation } from './registry-error.ts';
import type { Requester } from './registry-request.ts';
import { repositoryScope } from './scope.ts';

/** Manifest media types kiln asks for, best first. */
export const MANIFEST_ACCEPT: readonly string[] = [MediaType.OciIndex, MediaType.OciManifest, MediaType.DockerManifestList, MediaType.DockerManifest];

/** Manifests larger than this are refused (containerd's limit). */
export const MAX_MANIFEST_BYTES = 4 << 20;

const SCHEMA1 = new Set([
  'application/vnd.docker.distribution.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v1+prettyjws',
]);

/** A manifest or index as the registry stored it. */
export interface FetchedManifest {
  /** The exact bytes: their digest is the manifest's identity. */
  bytes: Buffer;
  mediaType: string;
  digest: Digest;
}

/** Where a manifest lives: `reference` is a tag or a digest. */
export interface ManifestTarget extends RegistryContext {
  repository: string;
  reference: string;
}

export interface ManifestCallOptions {
  accept?: readonly string[] | undefined;
  signal?: AbortSignal | undefined;
}

/**
 * GETs a manifest, capped at 4 MiB. Verifies its digest: against the
 * reference when fetched by digest, else against Docker-Content-Digest
 * when the registry sends one. Refuses schema1 (MANIFEST_UNSUPPORTED) and
 * anything that is not a JSON object (MANIFEST_INVALID).
 */
export function getManifestFrom(requester: Requester, ep: Endpoint, t: ManifestTarget, opts: ManifestCallOptions = {}): Promise<FetchedManifest> {
  // The retry covers reading the body too: a connection can drop after the headers.
  return requester.retrying(t, opts.signal, () => getOnce(requester, ep, t, opts));
}

async function getOnce(requester: Requester, ep: Endpoint, t: ManifestTarget, opts: ManifestCallOptions): Promise<FetchedManifest> {
  const res = await requester.send(ep, {
    method: 'GET',
    target: `/v2/${t.repository}/manifests/${t.reference}`,
    headers: { accept: (opts.accept ?? MANIFEST_ACCEPT).join(', ') },
    scopes: [repositoryScope(t.repository, ['pull'])],
    ctx: t,
    notFound: 'MANIFEST_UNKNOWN',
    action: 'pull of',
    ok: (s) => s === 200,
    retry: false,
    signal: opts.signal,
  });
  const bytes = await readCapped(res, t).catch((err: unknown) => {
    throw inOperation(err, 'pull of', t);
  });
  const answered = header(res, 'docker-content-digest');
  let mediaType: string;
  try {
    mediaType = manifestMediaType(header(res, 'content-type'), bytes, t);
  } catch (err) {
    throw damagedOnTheWay(err, bytes, t, answered);
  }
  const digest = checkDigest(bytes, t, answered);
  return { bytes, mediaType, digest };
}

/**
 * A manifest that does not parse may just have been cut or altered in
 * transit (a body that ended early, a proxy that lies about its length):
 * when its bytes do not hash to the digest the reference or the registry
 * names, the error says so.
 */
function damagedOnTheWay(err: unknown, bytes: Buffer, t: ManifestTarget, answered: string | undefined): unknown {
  if (!(err instanceof RegistryError) || err.code !== 'MANIFEST_INVALID') return err;
  const expected = isDigest(t.reference) ? t.reference : answered;
  if (expected === undefined || !isDigest(expected) || digestAlgorithm(expected) !== 'sha256' || sha256(bytes) === expected) return err;
  return new RegistryError('MANIFEST_INVALID', `${err.message}; its ${bytes.length} bytes do not hash to ${expected}, the digest announced for it (cut short or altered on the way)`, { ...t, actual: sha256(bytes) });
}

/**
 * HEADs a manifest: its descriptor, or undefined when the registry does
 * not know it. Falls back to a GET when the registry sends no
 * Docker-Content-Digest.
 */
export async function headManifestFrom(requester: Requester, ep: Endpoint, t: ManifestTarget, opts: ManifestCallOptions = {}): Promise<Descriptor | undefined> {
  const res = await requester.send(ep, {
    method: 'HEAD',
    target: `/v2/${t.repository}/manifests/${t.reference}`,
    headers: { accept: (opts.accept ?? MANIFEST_ACCEPT).join(', ') },
    scopes: [repositoryScope(t.repository, ['pull'])],
    ctx: t,
    notFound: 'MANIFEST_UNKNOWN',
    ok: (s) => s === 200 || s === 404,
    signal: opts.signal,
  });
  await res.body.dump().catch(() => {});
  if (res.status === 404) return undefined;
  const digest = header(res, 'docker-content-digest');
  const size = Number(header(res, 'content-length'));
  const type = header(res, 'content-type')?.split(';')[0]?.trim();
  if (digest !== undefined && isDigest(digest) && Number.isSafeInteger(size) && type !== undefined && !isGeneric(type)) {
    if (SCHEMA1.has(type)) throw schema1Error(t);
    return { mediaType: type, digest, size };
  }
  const m = await getManifestFrom(requester, ep, t, opts);
  return { mediaType: m.mediaType, digest: m.digest, size: m.bytes.length };
}

/**
 * PUTs manifest bytes under a tag or digest and checks that the digest the
 * registry answers (Docker-Content-Digest) is the digest of those bytes.
 */
export async function putManifestTo(requester: Requester, ep: Endpoint, t: ManifestTarget, bytes: Buffer, mediaType: string, signal?: AbortSignal): Promise<Descriptor> {
  const digest = sha256(bytes);
  if (isDigest(t.reference) && t.reference !== digest) {
    throw new RegistryError('DIGEST_MISMATCH', `push of ${describeContext(t)}: the manifest's digest is ${digest}`, { ...t });
  }
  const res = await requester.send(ep, {
    method: 'PUT',
    target: `/v2/${t.repository}/manifests/${t.reference}`,
    headers: { 'content-type': mediaType },
    body: bytes,
    scopes: [repositoryScope(t.repository, ['pull', 'push'])],
    ctx: t,
    notFound: 'NAME_UNKNOWN',
    action: 'push of',
    ok: (s) => s === 201 || s === 200 || s === 202,
    signal,
  });
  await res.body.dump().catch(() => {});
  const answered = header(res, 'docker-content-digest');
  if (answered !== undefined && answered !== '' && digestAlgorithm(answered as Digest) === 'sha256' && answered !== digest) {
    throw new RegistryError('DIGEST_MISMATCH', `push of ${describeContext(t)}: the registry stored the manifest as ${answered}, expected ${digest}`, { ...t, status: res.status });
  }
  return { mediaType, digest, size: bytes.length };
}

async function readCapped(res: HttpResponse, t: ManifestTarget): Promise<Buffer> {
  const tooLarge = (): RegistryError =>
    new RegistryError('MANIFEST_TOO_LARGE', `pull of ${describeContext(t)}: manifest larger than ${MAX_MANIFEST_BYTES} bytes`, { ...t });
  if (Number(header(res, 'content-length')) > MAX_MANIFEST_BYTES) {
    res.body.destroy();
    throw tooLarge();
  }
  return readBytes(res, t, MAX_MANIFEST_BYTES, tooLarge);
}

function isGeneric(type: string): boolean {
  return type === '' || type === 'application/json' || type === 'text/plain' || type === 'application/octet-stream';
}

function schema1Error(t: ManifestTarget): RegistryError {
  return new RegistryError(
    'MANIFEST_UNSUPPORTED',
    `pull of ${describeContext(t)}: Docker schema 1 manifests are not supported; re-push the image with a current client (schema 2 or OCI)`,
    { ...t },
  );
}

/** The media type of manifest bytes: the body's `mediaType`, else Content-Type, else sniffed from the shape. */
export function manifestMediaType(contentType: string | undefined, bytes: Buffer, t: ManifestTarget): string {
  const type = contentType?.split(';')[0]?.trim().toLowerCase() ?? '';
  if (SCHEMA1.has(type)) throw schema1Error(t);
  let doc: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(bytes.toString('utf8'));
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
    doc = parsed as Record<string, unknown>;
  } catch {
    throw new RegistryError('MANIFEST_INVALID', `pull of ${describeContext(t)}: the manifest is not a JSON object`, { ...t });
  }
  if (doc.schemaVersion === 1) throw schema1Error(t);
  if (typeof doc.mediaType === 'string' && doc.mediaType !== '') {
    if (SCHEMA1.has(doc.mediaType)) throw schema1Error(t);
    return doc.mediaType;
  }
  if (!isGeneric(type)) return type;
  if (Array.isArray(doc.manifests)) return MediaType.OciIndex;
  if (doc.config !== undefined && Array.isArray(doc.layers)) return MediaType.OciManifest;
  throw new RegistryError('MANIFEST_INVALID', `pull of ${describeContext(t)}: cannot tell what kind of manifest this is`, { ...t });
}

/** Checks the bytes against a digest reference, or the registry's header; returns their digest. */
function checkDigest(bytes: Buffer, t: ManifestTarget, answered: string | undefined): Digest {
  const computed = sha256(bytes);
  const mismatch = (expected: string): RegistryError =>
    new RegistryError('DIGEST_MISMATCH', `pull of ${describeContext(t)}: manifest content has digest ${computed}, expected ${expected}`, { ...t, actual: computed });
  if (isDigest(t.reference)) {
    const algorithm = digestAlgorithm(t.reference);
    if (algorithm === 'sha256') {
      if (computed !== t.reference) throw mismatch(t.reference);
      return computed;
    }
    if (algorithm !== 'sha512') throw new RegistryError('DIGEST_MISMATCH', `pull of ${describeContext(t)}: cannot verify digest algorithm ${algorithm}`, { ...t });
    const hex = createHash('sha512').update(bytes).digest('hex');
    if (`sha512:${hex}` !== t.reference) throw mismatch(t.reference);
    return t.reference;
  }
  if (answered !== undefined && isDigest(answered) && digestAlgorithm(answered) === 'sha256' && answered !== computed) throw mismatch(answered);
  return computed;
}
