import type { Readable } from 'node:stream';

const EMPTY = Buffer.alloc(0);

/**
 * Pull-style reads over a byte stream: exact reads for headers, zero-copy
 * views for bodies, skips, and the end-of-input position. Reading from the
 * input applies backpressure naturally: nothing is read before it is asked for.
 */
export class ByteSource {
  readonly #it: AsyncIterator<unknown>;
  #chunk: Buffer = EMPTY;
  #eof = false;
  /** Bytes handed out or skipped so far. */
  position = 0;

  constructor(input: Readable) {
    this.#it = input[Symbol.asyncIterator]();
  }

  async #fill(): Promise<boolean> {
    while (this.#chunk.length === 0) {
      if (this.#eof) return false;
      const r = await this.#it.next();
      if (r.done === true) {
        this.#eof = true;
        return false;
      }
      const v = r.value;
      this.#chunk = Buffer.isBuffer(v) ? v : typeof v === 'string' ? Buffer.from(v) : Buffer.from(v as Uint8Array);
    }
    return true;
  }

  /** Up to `max` bytes as a view into the input's chunk, or null at end of input. */
  async take(max: number): Promise<Buffer | null> {
    if (this.#chunk.length === 0 && !(await this.#fill())) return null;
    const c = this.#chunk;
    const out = c.length <= max ? c : c.subarray(0, max);
    this.#chunk = c.length <= max ? EMPTY : c.subarray(max);
    this.position += out.length;
    return out;
  }

  /** Exactly `n` bytes, or fewer when the input ends first. */
  async read(n: number): Promise<Buffer> {
    const parts: Buffer[] = [];
    let got = 0;
    while (got < n) {
      const c = await this.take(n - got);
      if (c === null) break;
      parts.push(c);
      got += c.length;
    }
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts, got);
  }

  /** Skips up to `n` bytes; returns how many were there. */
  async skip(n: number): Promise<number> {
    let left = n;
    while (left > 0) {
      const c = await this.take(left);
      if (c === null) break;
      left -= c.length;
    }
    return n - left;
  }

  /** Reads and discards the rest of the input, so that its own end-of-stream checks run. */
  async drain(): Promise<void> {
    this.position += this.#chunk.length;
    this.#chunk = EMPTY;
    while (!this.#eof) {
      const r = await this.#it.next();
      if (r.done === true) this.#eof = true;
    }
  }

  /** Stops reading and destroys the input. */
  async close(): Promise<void> {
    this.#eof = true;
    this.#chunk = EMPTY;
    await this.#it.return?.();
  }
}
