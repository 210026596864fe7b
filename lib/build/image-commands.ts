/** `kiln cp` and `kiln run`: an image of the local store as a filesystem, without a build. */
import { existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Image } from '../image/index.ts';
import { RootfsSession, resolveRunUser } from '../sandbox/index.ts';
import { LocalStore, writeDirAtomic } from '../transport/index.ts';
import { applyLayer, type DirNode, emptyDir, materialize, resolvePath, setNode, SpillDir } from '../vfs/index.ts';
import { BuildError } from './build-error.ts';

/** The filesystem of an image in the local store (every layer applied, contents spilled to `spill`). */
async function imageTree(home: string, name: string, spill: SpillDir): Promise<{ image: Image; tree: DirNode }> {
  const image = await new LocalStore(home).resolve(name);
  if (image === undefined) throw new BuildError('IMAGE_NOT_FOUND', `No such image: ${name}`, { ref: name });
  let tree = emptyDir();
  for (const layer of image.layers) tree = await applyLayer(tree, await layer.openUncompressed(), { spill });
  return { image, tree };
}

/**
 * `kiln cp IMAGE:PATH DEST`: what `docker create` + `docker cp` + `docker rm`
 * did, without running anything. A directory is copied with its contents; an
 * existing directory DEST receives the source under its own name.
 */
export async function copyFromImage(opts: { home: string; image: string; path: string; dest: string }): Promise<void> {
  mkdirSync(opts.home, { recursive: true });
  const spill = SpillDir.create(opts.home);
  try {
    const { tree } = await imageTree(opts.home, opts.image, spill);
    const found = resolvePath(tree, opts.path, { followFinal: true });
    if (found.node === undefined) throw new BuildError('PATH_NOT_FOUND', `Could not find the file ${opts.path} in image ${opts.image}`, { path: opts.path });
    const name = found.path[found.path.length - 1] ?? 'root';
    const into = existsSync(opts.dest) && statSync(opts.dest).isDirectory();
    const target = into ? join(opts.dest, name) : opts.dest;
    if (found.node.kind === 'dir') await writeDirAtomic(target, (tmp: string) => materialize(found.node as DirNode, tmp));
    else {
      const wrapper = setNode(emptyDir(), [name], found.node);
      await writeDirAtomic(`${target}.kiln-cp`, (tmp: string) => materialize(wrapper, tmp));
      renameSync(join(`${target}.kiln-cp`, name), target);
      rmSync(`${target}.kiln-cp`, { recursive: true, force: true });
    }
  } finally {
    spill.dispose();
  }
}

/**
 * `kiln run IMAGE [CMD…]`: the image's entrypoint and cmd (or the given
 * command instead of cmd) in the RUN sandbox, with its Env, WorkingDir and
 * User; no port publishing. Returns the exit code.
 */
export async function runImage(opts: { home: string; image: string; command: readonly string[]; onOutput: (stream: 'stdout' | 'stderr', chunk: Buffer) => void }): Promise<number> {
  mkdirSync(opts.home, { recursive: true });
  const spill = SpillDir.create(opts.home);
  let session: RootfsSession | undefined;
  try {
    const { image, tree } = await imageTree(opts.home, opts.image, spill);
    const cfg = image.config.config ?? {};
    const argv = [...(cfg.Entrypoint ?? []), ...(opts.command.length > 0 ? opts.command : (cfg.Cmd ?? []))];
    if (argv.length === 0) throw new BuildError('NO_COMMAND', `image ${opts.image} has no entrypoint or cmd; give a command`);
    session = await RootfsSession.create(tree, { spill, dir: opts.home });
    const user = resolveRunUser(session.tree, cfg.User ?? '');
    const result = await session.run(
      { argv, env: cfg.Env ?? [], cwd: cfg.WorkingDir || '/', user: { uid: user.uid, gid: user.gid, additionalGids: user.additionalGids }, hostname: 'kiln', onStdout: (c) => opts.onOutput('stdout', c), onStderr: (c) => opts.onOutput('stderr', c) },
      { check: false },
    );
    return result.exitCode;
  } finally {
    session?.dispose();
    spill.dispose();
  }
}
