/** The names a build gives its image, and pushing it to them (`--push`, `-o type=image,push=true`). */
import type { BuildOptions, BuildProgress } from '../build.ts';
import { formatRef, type ImageRef, parseRef } from '../ref/index.ts';
import { copyImage, type ImageLocation, type ManifestNode, pushNode, type TransportEvent } from '../transport/index.ts';
import { BuildError } from './build-error.ts';

/**
 * The names a build gives its image (`-t` tags and `type=image` names, once
 * each) and those it pushes. Pushing needs a name and a registry client
 * (PUSH_NO_NAME, PUSH_NO_REGISTRY), checked before anything is built.
 */
export function imageNames(opts: BuildOptions): { refs: ImageRef[]; push: ImageRef[] } {
  const tags = (opts.tags ?? []).map((t) => parseRef(t));
  const byName = new Map<string, ImageRef>(tags.map((r) => [formatRef(r), r]));
  const push = new Map<string, ImageRef>();
  for (const out of opts.outputs ?? []) {
    if (out.type !== 'image') continue;
    const named = out.names.map((n) => parseRef(n));
    for (const r of named) byName.set(formatRef(r), r);
    if (!out.push) continue;
    const targets = named.length > 0 ? named : tags;
    if (targets.length === 0) throw new BuildError('PUSH_NO_NAME', 'pushing needs a name for the image: -t NAME, or -o type=image,name=NAME,push=true');
    if (opts.registry === undefined) throw new BuildError('PUSH_NO_REGISTRY', 'pushing needs a registry client');
    for (const r of targets) {
      if (r.digest !== undefined) throw new BuildError('PUSH_NO_NAME', `cannot push to ${formatRef(r)}: a name with a digest cannot be pushed to; use a tag`);
      push.set(formatRef(r), r);
    }
  }
  return { refs: [...byName.values()], push: [...push.values()] };
}

/**
 * Pushes the stored image (or multi-platform index) to each name in turn.
 * A name in a registry that has it already (under another repository) is
 * copied from there, so the registry mounts the blobs instead of receiving
 * them again. `unstored`: the result was not kept in the local store, so it
 * goes up from the build's own tree (its layers mounted where they are).
 */
export async function pushAll(push: readonly ImageRef[], opts: BuildOptions, emit: (e: BuildProgress) => void, unstored?: ManifestNode): Promise<ImageRef[]> {
  const pushed: ImageRef[] = [];
  const inRegistry = new Map<string, ImageRef>();
  for (const ref of push) {
    const name = formatRef(ref);
    const onEvent = (event: TransportEvent): void => emit({ kind: 'transfer', direction: 'push', ref: name, event });
    const there = inRegistry.get(ref.registry);
    const from: ImageLocation = there !== undefined ? { kind: 'registry', ref: there } : { kind: 'local', name };
    const done = there === undefined && unstored !== undefined
      ? { descriptor: await pushNode(opts.registry!, ref, unstored, { concurrency: 4, emit: onEvent }) }
      : await copyImage(from, { kind: 'registry', ref }, { client: opts.registry!, home: opts.home, platform: { kind: 'all' }, onEvent });
    emit({ kind: 'pushed', ref: name, digest: done.descriptor.digest, size: done.descriptor.size });
    const at = { ...ref, tag: undefined, digest: done.descriptor.digest };
    inRegistry.set(ref.registry, at);
    pushed.push({ ...ref, digest: done.descriptor.digest });
  }
  return pushed;
}
