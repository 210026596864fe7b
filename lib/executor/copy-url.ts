import { createHash } from 'node:crypto';
import type { FileNode, SpillDir } from '../vfs/index.ts';
import { BuildStepError } from './errors.ts';
import type { HttpFetcher } from './http-fetch.ts';

type Loc = { file: string; line: number };

/** What kind of source an ADD/COPY word names, as BuildKit's convert_copy.go tells them apart. */
export type SourceKind = 'git' | 'http' | 'local';

/**
 * Git first (dfgitutil.ParseGitRef): `git://`, `ssh://`, scp-like
 * `user@host:path`, and http(s) URLs whose path ends in `.git`; then other
 * http(s) URLs; anything else is a path in the source tree (BuildKit's
 * deprecated `github.com/…` shorthand is a local path there too).
 */
export function sourceKind(src: string): SourceKind {
  if (/^(git|ssh):\/\//i.test(src) || /^[\w.-]+@[\w.-]+:/.test(src)) return 'git';
  const http = /^https?:\/\//.exec(src);
  if (http === null) return 'local';
  try {
    return new URL(src).pathname.endsWith('.git') ? 'git' : 'http';
  } catch {
    return 'http';
  }
}

/**
 * The file name ADD gives a download when the destination is a directory:
 * the last element of the URL's (decoded) path, `__unnamed__` when there is
 * none (BuildKit's dispatchCopy); names the HTTP source would not store
 * (`..`, control characters) become `download` as its SafeFileName does.
 */
export function urlFileName(url: string): string {
  let base = '';
  try {
    const path = decodeURIComponent(new URL(url).pathname);
    base = path.split('/').filter((c) => c !== '').pop() ?? '';
  } catch {
    base = '';
  }
  if (base === '' || base === '.') return '__unnamed__';
  return base === '..' || /[\u0000-\u001f\u007f-\u009f]/.test(base) ? 'download' : base;
}

const ALGORITHMS: Record<string, number> = { sha256: 64, sha384: 96, sha512: 128 };

/**
 * Checks a `--checksum` value the way go-digest's Parse does (BuildKit
 * parses it before anything is fetched): `algorithm:hex`, with sha256,
 * sha384 or sha512 and lower-case hex of the right length.
 */
export function parseChecksum(text: string, loc: Loc): { algorithm: string; hex: string } {
  const m = /^([a-z0-9]+(?:[.+_-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)$/.exec(text);
  if (m === null) throw new BuildStepError('ADD_CHECKSUM_INVALID', `invalid checksum digest format: ${JSON.stringify(text)}`, { location: loc });
  const [, algorithm = '', hex = ''] = m;
  const length = ALGORITHMS[algorithm];
  if (length === undefined) throw new BuildStepError('ADD_CHECKSUM_INVALID', `unsupported digest algorithm: ${JSON.stringify(text)} (sha256, sha384 and sha512 are)`, { location: loc });
  if (hex.length !== length || !/^[a-f0-9]+$/.test(hex)) throw new BuildStepError('ADD_CHECKSUM_INVALID', `invalid checksum digest length or encoding: ${JSON.stringify(text)}`, { location: loc });
  return { algorithm, hex };
}

export interface DownloadOptions {
  readonly fetch: HttpFetcher;
  readonly spill: SpillDir;
  readonly checksum?: { algorithm: string; hex: string };
  readonly signal?: AbortSignal;
}

/**
 * Downloads `url` into a new spill file and returns it as a file node as
 * BuildKit's HTTP source stores it: mode 0600, owner 0:0, mtime from
 * `Last-Modified` (else the epoch, 0). With a checksum, the bytes are
 * hashed as they arrive and a mismatch is ADD_CHECKSUM_MISMATCH; a body
 * shorter than its Content-Length is ADD_URL_FAILED. On failure the spill
 * file is deleted.
 */
export async function download(url: string, opts: DownloadOptions, loc: Loc): Promise<FileNode> {
  const res = await opts.fetch(url, opts.signal).catch((cause: unknown) => {
    if (cause instanceof BuildStepError && cause.location === undefined) throw new BuildStepError(cause.code, cause.message, { location: loc, cause });
    throw new BuildStepError('ADD_URL_FAILED', `${url}: ${(cause as Error).message}`, { location: loc, cause, url });
  });
  const file = opts.spill.newFile();
  const hash = createHash(opts.checksum?.algorithm ?? 'sha256');
  let size = 0;
  try {
    for await (const chunk of res.body) {
      const b = chunk as Buffer;
      file.append(b);
      hash.update(b);
      size += b.length;
    }
    file.close();
    if (res.size !== undefined && res.size !== size) {
      throw new BuildStepError('ADD_URL_FAILED', `${url}: the body has ${size} bytes, Content-Length said ${res.size}`, { location: loc, url });
    }
    const got = hash.digest('hex');
    if (opts.checksum !== undefined && got !== opts.checksum.hex) {
      const { algorithm, hex } = opts.checksum;
      throw new BuildStepError('ADD_CHECKSUM_MISMATCH', `digest mismatch for ${url}: ${algorithm}:${got} (expected: ${algorithm}:${hex})`, { location: loc, url });
    }
  } catch (err) {
    res.body.destroy();
    file.discard();
    if (err instanceof BuildStepError) throw err;
    throw new BuildStepError('ADD_URL_FAILED', `${url}: ${(err as Error).message}`, { location: loc, cause: err, url });
  }
  const mtime = res.lastModified !== undefined ? Math.floor(res.lastModified.getTime() / 1000) : 0;
  const meta = { mode: 0o600, uid: 0, gid: 0, mtime };
  if (size === 0) return { kind: 'file', meta, size: 0, content: { kind: 'bytes', data: Buffer.alloc(0) } };
  return { kind: 'file', meta, size, content: { kind: 'file-range', path: file.path, offset: 0, size } };
}
