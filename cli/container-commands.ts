import { copyFromImage, runImage } from '../lib/index.ts';
import { parseArgs, UsageError } from './args.ts';
import type { Io } from './main.ts';

export const CP_HELP = `Usage:  kiln cp IMAGE:SRC_PATH DEST_PATH

Copy a file or folder out of an image in the local store (what docker create +
docker cp + docker rm did, without running anything)
`;

export const RUN_HELP = `Usage:  kiln run IMAGE [COMMAND] [ARG...]

Run an image's entrypoint and command (or the given command) in kiln's RUN
sandbox, with the image's environment, working directory and user. No port
publishing or other networking features: enough to check a built image works.
`;

/** `kiln cp IMAGE:PATH DEST`. */
export async function cpCommand(argv: readonly string[], _io: Io, home: string): Promise<number> {
  const args = parseArgs(argv, []);
  if (args.positional.length !== 2) throw new UsageError('requires exactly 2 arguments: IMAGE:SRC_PATH DEST_PATH');
  const src = args.positional[0]!;
  // IMAGE:PATH — the path starts at the first ':' followed by '/', so registry ports and tags stay in the name
  const at = src.search(/:\//);
  if (at < 0) throw new UsageError(`expected IMAGE:/PATH, got ${JSON.stringify(src)}`);
  await copyFromImage({ home, image: src.slice(0, at), path: src.slice(at + 1), dest: args.positional[1]! });
  return 0;
}

/** `kiln run IMAGE [CMD…]`: returns the command's exit code. */
export async function runCommand(argv: readonly string[], io: Io, home: string): Promise<number> {
  const [image, ...command] = argv;
  if (image === undefined) throw new UsageError('requires at least 1 argument (the image)');
  return runImage({ home, image, command, onOutput: (stream, chunk) => (stream === 'stdout' ? io.out : io.err)(chunk.toString('utf8')) });
}
