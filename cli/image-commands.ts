import { familiarName, LocalStore } from '../lib/index.ts';
import { parseArgs, UsageError } from './args.ts';
import { humanDuration, humanSize, table } from './format.ts';
import type { Io } from './main.ts';
import { platformFlag } from './registry-options.ts';

export async function imagesCommand(argv: readonly string[], io: Io, home: string): Promise<number> {
  const args = parseArgs(argv, [{ name: 'quiet', short: 'q' }, { name: 'no-trunc' }]);
  const noTrunc = args.flags.has('no-trunc');
  const images = await new LocalStore(home).list();
  const now = Date.now();
  const id = (d: string) => (noTrunc ? d : d.slice(7, 19));
  if (args.flags.has('quiet')) {
    for (const img of images) io.out(`${id(img.configDigest)}\n`);
    return 0;
  }
  // A PLATFORMS column only when a multi-platform image is listed: docker's five columns otherwise.
  const multi = images.some((img) => img.platforms !== undefined);
  const rows = [['REPOSITORY', 'TAG', 'IMAGE ID', 'CREATED', 'SIZE', ...(multi ? ['PLATFORMS'] : [])]];
  for (const img of images) {
    const created = img.created ? `${humanDuration(now - Date.parse(img.created))} ago` : 'N/A';
    rows.push([img.ref ? familiarName(img.ref) : '<none>', img.ref?.tag ?? '<none>', id(img.configDigest), created, img.problem === undefined ? humanSize(img.size) : 'N/A', ...(multi ? [img.platforms?.join(',') ?? ''] : [])]);
  }
  io.out(`${table(rows)}\n`);
  for (const img of images.filter((i) => i.problem !== undefined)) {
    io.err(`WARNING: ${img.ref ? `${familiarName(img.ref)}:${img.ref.tag ?? 'latest'}` : img.descriptor.digest} cannot be read (${img.problem}): kiln fsck --repair removes it, or kiln rmi\n`);
  }
  return 0;
}

export async function inspectCommand(argv: readonly string[], io: Io, home: string): Promise<number> {
  const args = parseArgs(argv, [{ name: 'platform', value: true }]);
  if (args.positional.length !== 1) throw new UsageError('requires exactly 1 argument');
  const name = args.positional[0]!;
  // Of a multi-platform image, this platform's (default: this machine's).
  const image = await new LocalStore(home).resolve(name, platformFlag(args));
  if (image === undefined) {
    io.err(`Error: No such image: ${name}\n`);
    return 1;
  }
  io.out(`${JSON.stringify(image.config, null, 4)}\n`);
  return 0;
}
