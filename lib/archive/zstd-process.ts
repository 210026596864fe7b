import { spawn } from 'node:child_process';
import { Duplex } from 'node:stream';
import { ArchiveError } from './archive-error.ts';

/**
 * zstd through the `zstd` program (Debian's `zstd`), for a Node.js whose
 * node:zlib has none (before 22.15): a duplex stream whose writable side is
 * the program's stdin and readable side its stdout. `args` select the
 * direction (`['-d']`, or `['-3']` to compress at level 3). The program's
 * failure (a corrupt frame) fails the stream with COMPRESSION_INVALID; a
 * missing program with ZSTD_UNSUPPORTED. Destroying the stream kills it.
 * The output is the program's: deterministic for one zstd version and level.
 */
export function zstdProcess(args: readonly string[]): Duplex {
  const child = spawn('zstd', [...args, '-q', '-c', '--no-progress'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  let exited = false;
  const duplex = new Duplex({
    highWaterMark: 256 * 1024,
    write(chunk: Buffer, _enc, cb) {
      if (child.stdin.write(chunk)) cb();
      else child.stdin.once('drain', () => cb());
    },
    final(cb) {
      child.stdin.end(cb);
    },
    read() {
      child.stdout.resume();
    },
    destroy(err, cb) {
      if (!exited) child.kill('SIGKILL');
      cb(err);
    },
  });
  child.stdout.on('data', (chunk: Buffer) => {
    if (!duplex.push(chunk)) child.stdout.pause();
  });
  child.stderr.setEncoding('utf8').on('data', (s: string) => {
    if (stderr.length < 4096) stderr += s;
  });
  // A write after the program died (EPIPE) is reported by its exit status instead.
  child.stdin.on('error', () => {});
  child.on('error', (err: NodeJS.ErrnoException) => {
    exited = true;
    duplex.destroy(
      err.code === 'ENOENT'
        ? new ArchiveError('ZSTD_UNSUPPORTED', `cannot use zstd: this Node.js ${process.version} has no zstd in node:zlib (22.15 or later has) and the zstd program is not installed (apt-get install zstd)`)
        : err,
    );
  });
  child.on('close', (code, signal) => {
    exited = true;
    if (code === 0) duplex.push(null);
    else if (!duplex.destroyed) duplex.destroy(new ArchiveError('COMPRESSION_INVALID', `corrupt zstd stream: ${stderr.trim() || `zstd exited with ${code ?? signal}`}`));
  });
  return duplex;
}
