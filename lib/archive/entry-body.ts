import { Readable } from 'node:stream';
import { ArchiveError } from './archive-error.ts';
import type { ByteSource } from './byte-source.ts';

/** Largest view handed on per read. */
const MAX_READ = 1024 * 1024;

/**
 * The body of one tar entry: a Readable that pulls exactly `size` bytes from
 * the archive as the consumer reads. {@link finish} takes over afterwards and
 * skips whatever the consumer left unread.
 */
export class EntryBody extends Readable {
  readonly #src: ByteSource;
  readonly #entry: string;
  #remaining: number;
  #wanted = false;
  #busy = false;
  #inflight: Promise<void> = Promise.resolve();
  #stopped = false;
  #ended = false;
  #failure: unknown;

  constructor(src: ByteSource, size: number, entry: string) {
    super({ highWaterMark: 64 * 1024 });
    this.#src = src;
    this.#remaining = size;
    this.#entry = entry;
    // readTar reports failures through its own promise; a consumer that
    // attached no 'error' listener must not crash the process.
    this.on('error', () => {});
  }

  override _read(): void {
    this.#wanted = true;
    if (!this.#busy && !this.#stopped) this.#inflight = this.#pull();
  }

  async #pull(): Promise<void> {
    this.#busy = true;
    try {
      while (this.#wanted && !this.#stopped && !this.destroyed) {
        this.#wanted = false;
        if (this.#remaining === 0) {
          this.#ended = true;
          this.push(null);
          return;
        }
        const chunk = await this.#src.take(Math.min(this.#remaining, MAX_READ));
        if (chunk === null) throw this.#truncated();
        this.#remaining -= chunk.length;
        if (this.#stopped || this.destroyed) return;
        // A _read() during push() sets #wanted again.
        if (this.push(chunk)) this.#wanted = true;
      }
    } catch (err) {
      this.#failure = err;
      this.destroy(err as Error);
    } finally {
      this.#busy = false;
    }
  }

  #truncated(): ArchiveError {
    return new ArchiveError('TAR_INVALID', `tar entry ${JSON.stringify(this.#entry)} is truncated: ${this.#remaining} bytes of its body are missing`, {
      entry: this.#entry,
      offset: this.#src.position,
    });
  }

  /**
   * Ends the consumer's turn: waits for a read in flight, rethrows any
   * failure seen while reading, then skips the unread rest of the body.
   */
  async finish(): Promise<void> {
    this.#stopped = true;
    while (this.#busy) await this.#inflight;
    if (this.#failure !== undefined) throw this.#failure;
    if (this.#remaining > 0) {
      this.#remaining -= await this.#src.skip(this.#remaining);
      if (this.#remaining > 0) throw this.#truncated();
    }
    if (!this.#ended && !this.destroyed) this.destroy();
  }
}
