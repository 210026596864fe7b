/** `kiln pull`, `kiln push`, `kiln copy`: images between registries, archives, layouts and the local store. */
import {
  copyImage, type CopyImageResult, formatLocation, formatPlatform, formatRef, type ImageLocation, LocalStore, parseLocation, parseRef,
  type PlatformChoice, type RegistryClient,
} from '../lib/index.ts';
import { type OptionSpec, type Parsed, parseArgs, UsageError } from './args.ts';
import type { Io } from './main.ts';
import { Progress, progressMode } from './progress.ts';
import { platformFlag, REGISTRY_SPECS, registryClient } from './registry-options.ts';

const COMMON: readonly OptionSpec[] = [...REGISTRY_SPECS, { name: 'progress', value: true }];

/** Runs one transfer with a client and a progress display, closing both however it ends. */
async function transfer(args: Parsed, io: Io, quiet: boolean, run: (client: RegistryClient, progress: Progress) => Promise<CopyImageResult>): Promise<CopyImageResult> {
  const mode = quiet ? 'quiet' : progressMode(args.values.get('progress')?.[0], process.stderr.isTTY === true);
  const progress = new Progress(mode, io.err);
  const client = registryClient(args, io, progress.onRegistryEvent);
  try {
    return await run(client, progress);
  } finally {
    progress.finish();
    await client.close();
  }
}

/** `kiln pull [--platform P] REF`: into the local store, tagged REF; prints the digest as docker pull does. */
export async function pullCommand(argv: readonly string[], io: Io, home: string): Promise<number> {
  const args = parseArgs(argv, [...COMMON, { name: 'platform', value: true }, { name: 'quiet', short: 'q' }]);
  if (args.positional.length !== 1) throw new UsageError(`requires exactly 1 argument (the image reference), got ${args.positional.length}`);
  const ref = parseRef(args.positional[0]!);
  const quiet = args.flags.has('quiet');
  const name = formatRef(ref);
  const store = new LocalStore(home);
  const before = await store.resolveDescriptor(name).catch(() => undefined);
  const choice: PlatformChoice = { kind: 'platform', platform: platformFlag(args) };
  const result = await transfer(args, io, quiet, (client, progress) => {
    progress.message(`${ref.digest ?? ref.tag}: Pulling from ${ref.registry}/${ref.repository}`);
    return copyImage({ kind: 'registry', ref }, { kind: 'local', name }, { client, home, platform: choice, onEvent: progress.onEvent });
  });
  if (!quiet) {
    io.out(`Digest: ${result.sourceDigest}\n`);
    const fresh = before?.digest !== result.descriptor.digest;
    io.out(`Status: ${fresh ? 'Downloaded newer image' : 'Image is up to date'} for ${name}\n`);
  }
  io.out(`${name}\n`);
  return 0;
}

/** `kiln push NAME[:TAG] [DEST]`: an image of the local store to a registry (DEST defaults to NAME). */
export async function pushCommand(argv: readonly string[], io: Io, home: string): Promise<number> {
  const args = parseArgs(argv, [...COMMON, { name: 'quiet', short: 'q' }]);
  if (args.positional.length < 1 || args.positional.length > 2) throw new UsageError(`requires 1 or 2 arguments (NAME[:TAG] [DESTINATION]), got ${args.positional.length}`);
  const source = args.positional[0]!;
  const dest = parseRef(args.positional[1] ?? source);
  const quiet = args.flags.has('quiet');
  // A local multi-platform index goes up whole, as docker pushes an index.
  const choice: PlatformChoice = { kind: 'all' };
  const result = await transfer(args, io, quiet, (client, progress) => {
    progress.message(`The push refers to repository [${dest.registry}/${dest.repository}]`);
    return copyImage({ kind: 'local', name: source }, { kind: 'registry', ref: dest }, { client, home, platform: choice, onEvent: progress.onEvent });
  });
  if (quiet) io.out(`${formatRef(dest)}\n`);
  else io.out(`${dest.digest ?? dest.tag}: digest: ${result.descriptor.digest} size: ${result.descriptor.size}\n`);
  return 0;
}

/**
 * `kiln copy [--platform P | --all-platforms] SOURCE DESTINATION` between
 * any two locations; prints the digest of what was written.
 */
export async function copyCommand(argv: readonly string[], io: Io, home: string): Promise<number> {
  const args = parseArgs(argv, [...COMMON, { name: 'platform', value: true }, { name: 'all-platforms', short: 'a' }, { name: 'quiet', short: 'q' }]);
  if (args.positional.length !== 2) throw new UsageError(`requires exactly 2 arguments (SOURCE DESTINATION), got ${args.positional.length}`);
  if (args.flags.has('all-platforms') && args.values.has('platform')) throw new UsageError('--platform and --all-platforms exclude each other');
  const from: ImageLocation = parseLocation(args.positional[0]!);
  const to: ImageLocation = parseLocation(args.positional[1]!);
  const choice: PlatformChoice = args.flags.has('all-platforms') ? { kind: 'all' } : { kind: 'platform', platform: platformFlag(args) };
  const result = await transfer(args, io, args.flags.has('quiet'), async (client, progress) => {
    progress.message(`Copying ${formatLocation(from)} to ${formatLocation(to)}`);
    const copied = await copyImage(from, to, { client, home, platform: choice, onEvent: progress.onEvent });
    progress.message(copied.platform !== undefined ? `Copied the ${formatPlatform(copied.platform)} image` : 'Copied the index with every image');
    return copied;
  });
  io.out(`${result.descriptor.digest}\n`);
  return 0;
}
