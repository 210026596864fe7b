import { familiarName, formatRef, fsck, KilnError, LocalStore, type LocalImageSummary, parseRef, prune } from '../lib/index.ts';
import { parseArgs, UsageError } from './args.ts';
import { humanSize } from './format.ts';
import type { Io } from './main.ts';

/**
 * `kiln rmi NAME|ID…`, as `docker rmi`: a name loses that tag; an ID (or
 * `name@digest`) removes the image's every entry, refused without `-f` when
 * several tags name it. Prints `Untagged:` per tag and `Deleted:` once an
 * image has no entry left. Blobs stay until `kiln prune`. Exit status 1 when
 * any name failed (the others are still removed).
 */
export async function rmiCommand(argv: readonly string[], io: Io, home: string): Promise<number> {
  const args = parseArgs(argv, [{ name: 'force', short: 'f' }]);
  if (args.positional.length === 0) throw new UsageError('requires at least 1 argument');
  const store = new LocalStore(home);
  let status = 0;
  for (const name of args.positional) {
    try {
      status = Math.max(status, await removeImage(store, name, args.flags.has('force'), io));
    } catch (err) {
      if (!(err instanceof KilnError)) throw err;
      io.err(`Error: ${err.message}\n`);
      status = 1;
    }
  }
  return status;
}

async function removeImage(store: LocalStore, name: string, force: boolean, io: Io): Promise<number> {
  const found = await store.resolveDescriptor(name);
  if (found === undefined) {
    io.err(`Error: No such image: ${name}\n`);
    return 1;
  }
  const entries = (await store.list()).filter((e) => e.descriptor.digest === found.digest);
  const id = entries[0]?.configDigest ?? found.digest;
  const tagged = entries.filter((e): e is LocalImageSummary & { ref: NonNullable<LocalImageSummary['ref']> } => e.ref !== undefined);
  const byName = tagged.find((e) => e.name === tagName(name));
  if (byName !== undefined) {
    await store.remove(byName.ref);
    io.out(`Untagged: ${shortName(byName.ref)}\n`);
    if (entries.length === 1) io.out(`Deleted: ${id}\n`);
    return 0;
  }
  if (tagged.length > 1 && !force) {
    io.err(`Error: conflict: unable to delete ${id.slice(7, 19)} (must be forced) - image is referenced in multiple repositories\n`);
    return 1;
  }
  await store.removeDigest(found.digest);
  for (const e of tagged) io.out(`Untagged: ${shortName(e.ref)}\n`);
  io.out(`Deleted: ${id}\n`);
  return 0;
}

/** The canonical tag a name means (`nginx` → `docker.io/library/nginx:latest`), or undefined for an ID or digest. */
function tagName(name: string): string | undefined {
  try {
    const ref = parseRef(name);
    return ref.digest === undefined ? formatRef(ref) : undefined;
  } catch {
    return undefined;
  }
}

function shortName(ref: NonNullable<LocalImageSummary['ref']>): string {
  return `${familiarName(ref)}:${ref.tag ?? 'latest'}`;
}

/** `kiln prune [-a]`: the dangling build cache and unused blobs (with `-a`, the whole build cache), then the space reclaimed, as `docker builder prune`. */
export async function pruneCommand(argv: readonly string[], io: Io, home: string): Promise<number> {
  const args = parseArgs(argv, [{ name: 'all', short: 'a' }, { name: 'force', short: 'f' }]);
  if (args.positional.length > 0) throw new UsageError(`accepts no arguments, got ${args.positional.length}`);
  const r = await prune({ home, all: args.flags.has('all') });
  io.out(`Deleted ${r.cacheEntries} build cache entries, ${r.images} untagged images, ${r.blobs} blobs\n`);
  io.out(`Total reclaimed space: ${humanSize(r.reclaimed)}\n`);
  return 0;
}

/**
 * `kiln fsck [--repair]`: re-verifies every blob, image and build cache
 * entry of the local store; one line per problem, then a summary. Exit 1
 * when something is wrong and was not repaired.
 */
export async function fsckCommand(argv: readonly string[], io: Io, home: string): Promise<number> {
  const args = parseArgs(argv, [{ name: 'repair' }]);
  if (args.positional.length > 0) throw new UsageError(`accepts no arguments, got ${args.positional.length}`);
  const repair = args.flags.has('repair');
  const r = await fsck(home, { repair });
  for (const p of r.problems) io.out(`${p.repaired ? 'removed: ' : ''}${p.message}\n`);
  const summary = `checked ${r.blobs} blobs (${humanSize(r.bytes)}), ${r.images} images, ${r.cacheEntries} build cache entries`;
  if (r.problems.length === 0) {
    io.out(`${summary}: no problems\n`);
    return 0;
  }
  io.out(`${summary}: ${r.problems.length} problem${r.problems.length === 1 ? '' : 's'}${repair ? ', repaired' : ' (kiln fsck --repair removes them)'}\n`);
  return repair ? 0 : 1;
}
