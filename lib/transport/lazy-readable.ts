import { PassThrough, type Readable } from 'node:stream';

/**
 * A Readable available synchronously for a stream that opens asynchronously:
 * calls `open` at once and passes the opened stream's bytes and errors
 * through. Destroying the returned stream destroys the opened one. Archive
 * writers take bodies as synchronous thunks; wrapping `layer.open()` in one
 * keeps each blob unopened until the writer reaches it.
 */
export function lazyReadable(open: () => Promise<Readable>): Readable {
  let source: Readable | undefined;
  const out = new PassThrough({ highWaterMark: 1024 * 1024 });
  out.on('close', () => source?.destroy());
  open().then(
    (s) => {
      source = s;
      if (out.destroyed) {
        s.destroy();
        return;
      }
      s.on('error', (err) => out.destroy(err));
      s.pipe(out);
    },
    (err: unknown) => out.destroy(err instanceof Error ? err : new Error(String(err))),
  );
  return out;
}
