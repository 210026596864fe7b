import { listContext, parseFile } from '../lib/index.ts';
import { parseArgs, UsageError } from './args.ts';
import type { Io } from './main.ts';

/** `kiln parse [--format=buildkit|json] FILE`: the Dockerfile's syntax tree. */
export async function parseCommand(argv: readonly string[], io: Io): Promise<number> {
  const args = parseArgs(argv, [{ name: 'format', value: true }]);
  if (args.positional.length !== 1) throw new UsageError('requires exactly 1 argument (the Dockerfile)');
  const format = args.values.get('format')?.[0] ?? 'buildkit';
  if (format !== 'buildkit' && format !== 'json') throw new UsageError(`unknown format ${JSON.stringify(format)} (buildkit, json)`);
  const text = parseFile(args.positional[0]!, format);
  io.out(text.endsWith('\n') ? text : `${text}\n`);
  return 0;
}

/** `kiln context ls [-f FILE] CONTEXT`: what the build would see after .dockerignore. */
export async function contextCommand(argv: readonly string[], io: Io): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub !== 'ls') throw new UsageError(sub === undefined ? 'requires a subcommand: ls' : `unknown subcommand ${JSON.stringify(sub)} (ls)`);
  const args = parseArgs(rest, [{ name: 'file', short: 'f', value: true }]);
  if (args.positional.length !== 1) throw new UsageError('requires exactly 1 argument (the build context)');
  const file = args.values.get('file')?.[0];
  for (const p of listContext({ contextDir: args.positional[0]!, ...(file !== undefined ? { dockerfile: file } : {}) })) io.out(`${p}\n`);
  return 0;
}
