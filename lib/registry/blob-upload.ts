import { Readable, Transform } from 'node:stream';
import { DigestError, VerifyingStream } from '../digest/index.ts';
import type { Descriptor } from '../oci/index.ts';
import type { Endpoint } from './endpoint.ts';
import { header, type HttpResponse } from './http-transport.ts';
import { type RegistryContext, RegistryError, describeContext } from './registry-error.ts';
import type { Requester } from './registry-request.ts';
import { type RetryPolicy, withRetry } from './retry.ts';
import { repositoryScope, type Scope } from './scope.ts';

export interface UploadSettings {
  /** Blobs of at least this many bytes go up in PATCH chunks; smaller ones in one PUT. */
  chunkThreshold: number;
  /** Bytes per PATCH (raised to the registry's OCI-Chunk-Min-Length). */
  chunkSize: number;
}

export const DEFAULT_UPLOAD: UploadSettings = { chunkThreshold: 64 << 20, chunkSize: 16 << 20 };

export interface PushBlobOptions {
  /** A repository of the same registry that may hold the blob: mount it from there. */
  mountFrom?: string | undefined;
  signal?: AbortSignal | undefined;
  /** Told the running total of bytes sent (chunked uploads: per chunk). */
  onProgress?: ((bytes: number) => void) | undefined;
}

/** How a blob got into the repository. */
export type PushBlobResult = 'exists' | 'mounted' | 'uploaded';

type BlobTarget = RegistryContext & { repository: string };

/** HEAD /v2/<repo>/blobs/<digest>: true when the repository has the blob. */
export async function blobExistsAt(
  requester: Requester, ep: Endpoint, repo: BlobTarget, desc: Pick<Descriptor, 'digest'>, signal?: AbortSignal, push?: { scopes: readonly Scope[] },
): Promise<boolean> {
  const res = await requester.send(ep, {
    method: 'HEAD',
    target: `/v2/${repo.repository}/blobs/${desc.digest}`,
    scopes: push?.scopes ?? [repositoryScope(repo.repository, ['pull'])],
    action: push !== undefined ? 'push of' : 'check of',
    // Within a push the whole attempt is retried, not this step.
    retry: push === undefined,
    ctx: { ...repo, reference: desc.digest },
    notFound: 'BLOB_UNKNOWN',
    ok: (s) => s === 200 || s === 404,
    signal,
  });
  await res.body.dump().catch(() => {});
  return res.status === 200;
}

/**
 * Puts a blob into a repository: nothing when it is already there (HEAD);
 * a cross-repository mount when `mountFrom` is given (201 = done; 202 =
 * refused, and the upload the registry opened instead is used); else an
 * upload, in one PUT below `chunkThreshold` bytes, in PATCH chunks with
 * Content-Range above. `open` is called once per attempt: after a
 * transient failure the whole upload restarts from the beginning. The
 * bytes are verified against the descriptor while they are sent; the
 * registry's Docker-Content-Digest answer is checked.
 */
export function pushBlobTo(
  requester: Requester, ep: Endpoint, repo: BlobTarget, desc: Descriptor, open: () => Readable | Promise<Readable>,
  settings: UploadSettings, retry: RetryPolicy, opts: PushBlobOptions = {}, onRetry?: (err: unknown, delayMs: number) => void,
): Promise<PushBlobResult> {
  const ctx: BlobTarget = { ...repo, reference: desc.digest };
  const push = repositoryScope(repo.repository, ['pull', 'push']);
  const mountFrom = opts.mountFrom !== undefined && opts.mountFrom !== repo.repository ? opts.mountFrom : undefined;
  const scopes = mountFrom !== undefined ? [push, repositoryScope(mountFrom, ['pull'])] : [push];
  const up: Upload = { requester, ep, ctx, desc, open, settings, scopes, opts };
  return withRetry(retry, opts.signal, async () => {
    if (await blobExistsAt(requester, ep, repo, desc, opts.signal, { scopes })) return 'exists';
    const started = await startUpload(up, mountFrom);
    if (started === 'mounted') return 'mounted';
    const minChunk = Number(header(started, 'oci-chunk-min-length') ?? 0);
    const location = uploadLocation(started, ctx);
    if (desc.size < settings.chunkThreshold) await putMonolithic(up, location);
    else await putChunked(up, location, Math.max(settings.chunkSize, Number.isSafeInteger(minChunk) ? minChunk : 0));
    return 'uploaded';
  }, onRetry);
}

interface Upload {
  requester: Requester;
  ep: Endpoint;
  ctx: BlobTarget;
  desc: Descriptor;
  open: () => Readable | Promise<Readable>;
  settings: UploadSettings;
  scopes: Scope[];
  opts: PushBlobOptions;
}

/** POST …/blobs/uploads/ (with mount parameters when mounting): 'mounted', or the 202 answer opening an upload. */
async function startUpload(up: Upload, mountFrom: string | undefined): Promise<'mounted' | HttpResponse> {
  const query = mountFrom !== undefined ? `?mount=${encodeURIComponent(up.desc.digest)}&from=${encodeURIComponent(mountFrom)}` : '';
  const res = await up.requester.send(up.ep, {
    method: 'POST',
    target: `/v2/${up.ctx.repository}/blobs/uploads/${query}`,
    headers: { 'content-length': '0' },
    scopes: up.scopes,
    ctx: up.ctx,
    action: 'push of',
    retry: false,
    ok: (s) => s === 202 || (s === 201 && mountFrom !== undefined),
    signal: up.opts.signal,
  });
  await res.body.dump().catch(() => {});
  if (res.status === 201) return 'mounted';
  return res;
}

function uploadLocation(res: HttpResponse, ctx: BlobTarget): URL {
  const location = header(res, 'location');
  if (location === undefined || location === '') {
    throw new RegistryError('REGISTRY_PROTOCOL', `push of ${describeContext(ctx)}: the registry opened an upload without a Location`, { ...ctx, status: res.status });
  }
  return new URL(location, res.url);
}

function withDigest(url: URL, digest: string): URL {
  const u = new URL(url);
  u.search = `${u.search === '' ? '?' : `${u.search}&`}digest=${encodeURIComponent(digest)}`;
  return u;
}

/** One PUT carrying the whole blob, verified as it streams. */
async function putMonolithic(up: Upload, location: URL): Promise<void> {
  let verifier: VerifyingStream | undefined;
  const body = async (): Promise<Readable> => {
    verifier = new VerifyingStream({ digest: up.desc.digest, size: up.desc.size });
    const src = await up.open();
    src.on('error', (e) => verifier!.destroy(e));
    const verified = src.pipe(verifier);
    const progress = up.opts.onProgress;
    if (progress === undefined) return verified;
    let sent = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        progress((sent += chunk.length));
        cb(null, chunk);
      },
    });
    verified.on('error', (e) => counter.destroy(e));
    return verified.pipe(counter);
  };
  try {
    const res = await up.requester.send(up.ep, {
      method: 'PUT',
      target: withDigest(location, up.desc.digest),
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(up.desc.size) },
      body,
      scopes: up.scopes,
      ctx: up.ctx,
      action: 'push of',
      retry: false,
      ok: (s) => s === 201 || s === 204,
      signal: up.opts.signal,
    });
    checkAnswer(res, up);
  } catch (err) {
    throw asContentError(err, verifier, up);
  }
}

/**
 * PATCH chunks with Content-Range, then PUT ?digest= with no body. Each
 * chunk streams from the source as it is sent (nothing is held but the
 * streams' own buffers): a chunk cannot be sent twice, so a registry that
 * asks to authenticate again in the middle restarts the whole upload (as a
 * retryable failure) instead.
 */
async function putChunked(up: Upload, location: URL, chunkSize: number): Promise<void> {
  const verifier = new VerifyingStream({ digest: up.desc.digest, size: up.desc.size });
  const src = await up.open();
  src.on('error', (e) => verifier.destroy(e));
  const reader = new ChunkReader(src.pipe(verifier));
  let url = location;
  let offset = 0;
  try {
    while (offset < up.desc.size) {
      const length = Math.min(chunkSize, up.desc.size - offset);
      let sent = false;
      const body = (): Readable => {
        if (sent) {
          return Readable.from((async function* () {
            throw new RegistryError('REGISTRY_UNAVAILABLE', `push of ${describeContext(up.ctx)}: the registry asked for credentials again in the middle of an upload; starting over`, { ...up.ctx, status: 503 });
          })());
        }
        sent = true;
        return Readable.from(reader.take(length), { objectMode: false });
      };
      const res = await up.requester.send(up.ep, {
        method: 'PATCH',
        target: url,
        headers: { 'content-type': 'application/octet-stream', 'content-range': `${offset}-${offset + length - 1}`, 'content-length': String(length) },
        body,
        scopes: up.scopes,
        ctx: up.ctx,
        action: 'push of',
        retry: false,
        ok: (s) => s === 202 || s === 204,
        signal: up.opts.signal,
      });
      await res.body.dump().catch(() => {});
      const next = header(res, 'location');
      if (next !== undefined && next !== '') url = new URL(next, res.url);
      offset += length;
      up.opts.onProgress?.(offset);
    }
    await reader.end();
  } catch (err) {
    src.destroy();
    throw asContentError(err, verifier, up);
  }
  const res = await up.requester.send(up.ep, {
    method: 'PUT',
    target: withDigest(url, up.desc.digest),
    headers: { 'content-length': '0' },
    scopes: up.scopes,
    ctx: up.ctx,
    action: 'push of',
    retry: false,
    ok: (s) => s === 201 || s === 204,
    signal: up.opts.signal,
  });
  checkAnswer(res, up);
}

/** Reads a byte stream in consecutive runs of a given length, without copying. */
export class ChunkReader {
  readonly #it: AsyncIterator<Buffer>;
  #left: Buffer | undefined;

  /** `src` may fail before its first read (a verifier that saw it all): the failure waits on the stream for `take`. */
  constructor(src: Readable) {
    src.on('error', () => {});
    this.#it = src[Symbol.asyncIterator]();
  }

  /** The next `length` bytes, as the pieces they came in (split at the boundary). Fails if the stream ends first. */
  async *take(length: number): AsyncGenerator<Buffer> {
    let need = length;
    while (need > 0) {
      let piece = this.#left;
      this.#left = undefined;
      if (piece === undefined) {
        const r = await this.#it.next();
        if (r.done === true) throw new Error(`the content ended ${need} bytes short of its descriptor's size`);
        piece = r.value;
      }
      if (piece.length > need) {
        this.#left = piece.subarray(need);
        piece = piece.subarray(0, need);
      }
      need -= piece.length;
      if (piece.length > 0) yield piece;
    }
  }

  /** Reads to the end (so that a verifying source checks its digest); fails if bytes are left. */
  async end(): Promise<void> {
    let extra = this.#left?.length ?? 0;
    this.#left = undefined;
    for (let r = await this.#it.next(); r.done !== true; r = await this.#it.next()) extra += r.value.length;
    if (extra > 0) throw new Error(`the content is ${extra} bytes longer than its descriptor's size`);
  }
}

function checkAnswer(res: HttpResponse, up: Upload): void {
  res.body.dump().catch(() => {});
  const answered = header(res, 'docker-content-digest');
  if (answered !== undefined && answered !== '' && answered !== up.desc.digest) {
    throw new RegistryError('DIGEST_MISMATCH', `push of ${describeContext(up.ctx)}: the registry stored the blob as ${answered}`, { ...up.ctx, status: res.status });
  }
}

/** Content that does not match its descriptor is the caller's fault, not the registry's: say so. */
function asContentError(err: unknown, verifier: VerifyingStream | undefined, up: Upload): unknown {
  const own = verifier?.errored ?? (err instanceof DigestError ? err : undefined);
  if (own instanceof DigestError) {
    return new RegistryError('DIGEST_MISMATCH', `push of ${describeContext(up.ctx)}: the content to upload does not match its descriptor (${own.message})`, { ...up.ctx, cause: own });
  }
  return err;
}
