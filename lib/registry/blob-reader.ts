import { Readable } from 'node:stream';
import { DigestError, Sha256, digestAlgorithm } from '../digest/index.ts';
import type { Descriptor } from '../oci/index.ts';
import type { Endpoint } from './endpoint.ts';
import { header, type HttpResponse } from './http-transport.ts';
import { type RegistryContext, RegistryError, describeContext } from './registry-error.ts';
import type { Requester } from './registry-request.ts';
import { repositoryScope } from './scope.ts';

export interface OpenBlobOptions {
  signal?: AbortSignal | undefined;
  /** Range requests after dropped connections, at most (default 5). */
  maxResumes?: number;
}

type BlobTarget = RegistryContext & { repository: string };

/**
 * GETs a blob (following redirects to storage, without credentials) and
 * returns its bytes as a stream verified on the fly: more bytes than the
 * descriptor's size fail at once, and the stream errors with
 * DIGEST_MISMATCH instead of ending when the digest differs. A dropped
 * connection is resumed with a `Range` request when the server announced
 * `Accept-Ranges: bytes`, up to `maxResumes` times; otherwise, or beyond
 * that, the stream fails with BLOB_TRUNCATED. Errors of the first request
 * (404 → BLOB_UNKNOWN, auth, …) reject the returned promise. The caller
 * consumes or destroys the stream.
 */
export async function openBlobFrom(requester: Requester, ep: Endpoint, repo: BlobTarget, desc: Descriptor, opts: OpenBlobOptions = {}): Promise<Readable> {
  if (digestAlgorithm(desc.digest) !== 'sha256') {
    throw new DigestError('DIGEST_UNSUPPORTED', `cannot verify ${desc.digest}: only sha256 is supported`);
  }
  const ctx: BlobTarget = { ...repo, reference: desc.digest };
  const request = (offset: number): Promise<HttpResponse> =>
    requester.send(ep, {
      method: 'GET',
      target: `/v2/${repo.repository}/blobs/${desc.digest}`,
      headers: offset > 0 ? { range: `bytes=${offset}-` } : {},
      scopes: [repositoryScope(repo.repository, ['pull'])],
      ctx,
      notFound: 'BLOB_UNKNOWN',
      action: 'pull of',
      ok: (s) => s === 200 || s === 206,
      signal: opts.signal,
    });
  const first = await request(0);
  const resumable = header(first, 'accept-ranges')?.toLowerCase() === 'bytes';
  const state = { ctx, desc, request, resumable, maxResumes: opts.maxResumes ?? 5, signal: opts.signal };
  return Readable.from(verifiedChunks(first, state), { objectMode: false, highWaterMark: 1 << 20 });
}

interface ReadState {
  ctx: BlobTarget;
  desc: Descriptor;
  request: (offset: number) => Promise<HttpResponse>;
  resumable: boolean;
  maxResumes: number;
  signal: AbortSignal | undefined;
}

async function* verifiedChunks(first: HttpResponse, s: ReadState): AsyncGenerator<Buffer> {
  const hash = new Sha256();
  let res = first;
  let resumes = 0;
  let skip = 0;
  try {
    for (;;) {
      let dropped: unknown;
      try {
        for await (const raw of res.body as AsyncIterable<Buffer>) {
          let chunk = raw;
          if (skip > 0) {
            // The server ignored our Range and started over: drop what we already gave.
            const n = Math.min(skip, chunk.length);
            skip -= n;
            chunk = chunk.subarray(n);
            if (chunk.length === 0) continue;
          }
          if (hash.size + chunk.length > s.desc.size) throw tooLong(s);
          hash.update(chunk);
          yield chunk;
        }
      } catch (err) {
        if (err instanceof RegistryError || s.signal?.aborted) throw err;
        dropped = err;
      }
      // Every byte is here: a connection that drops after the last one (a
      // Content-Length announcing more) loses nothing, and a resume at the
      // end would only be refused (416). The digest decides below.
      if (hash.size === s.desc.size) break;
      if (!s.resumable || resumes >= s.maxResumes) throw truncated(s, hash.size, resumes, dropped);
      resumes++;
      res = await s.request(hash.size);
      skip = res.status === 200 ? hash.size : 0;
      if (res.status === 206 && !rangeStartsAt(header(res, 'content-range'), hash.size)) {
        throw new RegistryError('REGISTRY_PROTOCOL', `pull of ${describeContext(s.ctx)}: the registry answered a resume at byte ${hash.size} with another range`, { ...s.ctx, status: 206 });
      }
    }
    const got = hash.digest();
    if (got !== s.desc.digest) {
      throw new RegistryError('DIGEST_MISMATCH', `pull of ${describeContext(s.ctx)}: the blob's content has digest ${got}`, { ...s.ctx, actual: got });
    }
  } finally {
    if (!res.body.readableEnded) res.body.destroy();
  }
}

function rangeStartsAt(contentRange: string | undefined, offset: number): boolean {
  const m = /^bytes\s+(\d+)-/i.exec(contentRange ?? '');
  return m !== null && Number(m[1]) === offset;
}

function tooLong(s: ReadState): RegistryError {
  return new RegistryError('DIGEST_MISMATCH', `pull of ${describeContext(s.ctx)}: the blob is longer than its descriptor's ${s.desc.size} bytes`, { ...s.ctx });
}

function truncated(s: ReadState, got: number, resumes: number, cause: unknown): RegistryError {
  const stalled = (cause as { code?: unknown } | undefined)?.code === 'UND_ERR_BODY_TIMEOUT';
  const how = cause === undefined ? 'the body ended' : stalled ? 'the body stalled (no data within the idle timeout)' : 'the connection dropped';
  const tried = resumes > 0 ? ` (after ${resumes} resume${resumes === 1 ? '' : 's'})` : s.resumable ? '' : ' (the server does not accept Range requests)';
  return new RegistryError('BLOB_TRUNCATED', `pull of ${describeContext(s.ctx)}: ${how} after ${got} of ${s.desc.size} bytes${tried}`, { ...s.ctx, cause });
}
