import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { type Digest, DigestError, digestAlgorithm, sha256FromHex } from './digest.ts';

/** sha256 of bytes or a string (UTF-8). */
export function sha256(data: Uint8Array | string): Digest {
  return sha256FromHex(createHash('sha256').update(data).digest('hex'));
}

/** Incremental sha256 with a byte count. */
export class Sha256 {
  #hash: Hash = createHash('sha256');
  size = 0;

  update(chunk: Uint8Array): this {
    this.#hash.update(chunk);
    this.size += chunk.length;
    return this;
  }

  /** Finishes the hash; the object must not be updated afterwards. */
  digest(): Digest {
    return sha256FromHex(this.#hash.digest('hex'));
  }
}

/**
 * A pass-through stream that hashes what flows through it. After 'end',
 * `digest` and `size` describe the bytes. Does not verify anything.
 */
export class HashingStream extends Transform {
  readonly #h = new Sha256();
  #digest: Digest | undefined;

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.#h.update(chunk);
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    this.#digest = this.#h.digest();
    cb();
  }

  get size(): number {
    return this.#h.size;
  }

  /** Available once the stream has flushed. */
  get digest(): Digest {
    if (this.#digest === undefined) throw new DigestError('INTERNAL', 'digest read before end of stream');
    return this.#digest;
  }
}

/**
 * A pass-through stream that fails with `DIGEST_MISMATCH` / `SIZE_MISMATCH`
 * unless the bytes match `expect`. Size overruns fail as soon as they happen;
 * the digest is checked at end of stream, before 'end' is emitted, so a
 * consumer that saw 'end' saw verified bytes.
 */
export class VerifyingStream extends Transform {
  readonly #h = new Sha256();

  constructor(readonly expect: { digest: Digest; size?: number }) {
    super();
    if (digestAlgorithm(expect.digest) !== 'sha256') {
      throw new DigestError('DIGEST_UNSUPPORTED', `unsupported digest algorithm in ${expect.digest}`);
    }
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.#h.update(chunk);
    const { size } = this.expect;
    if (size !== undefined && this.#h.size > size) {
      cb(new DigestError('SIZE_MISMATCH', `content of ${this.expect.digest} is longer than ${size} bytes`, { digest: this.expect.digest }));
      return;
    }
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    const { digest, size } = this.expect;
    if (size !== undefined && this.#h.size !== size) {
      cb(new DigestError('SIZE_MISMATCH', `content of ${digest} is ${this.#h.size} bytes, expected ${size}`, { digest }));
      return;
    }
    const got = this.#h.digest();
    if (got !== digest) {
      cb(new DigestError('DIGEST_MISMATCH', `content digest ${got} does not match ${digest}`, { digest, actual: got }));
      return;
    }
    cb();
  }
}
