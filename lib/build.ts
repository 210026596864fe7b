/**
 * The composition root: the one place that wires the front end, the
 * executor, the content store and the outputs into `build()`.
 */
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { KilnError, type SourceLocation } from './errors.ts';
import { checkDirectiveOf, dumpAst, IgnoreMatcher, lintDockerfile, type LintWarning, lintViolationMessage, parseDockerfile, readDockerignore, ShellLexer, toInstructions } from './dockerfile/index.ts';
import { type BuildEvent, executeBuild, type Expander, type ImageResolver, pruneCache, type RunMountRequest, type StageRunner } from './executor/index.ts';
import { RootfsSession, resolveRunUser, type SandboxMount } from './sandbox/index.ts';
import type { Image, ImageFormat } from './image/index.ts';
import { withFormat } from './image/index.ts';
import type { Compression, Platform } from './oci/index.ts';
import { type Plan, planBuild, unusedBuildArgsMessage } from './plan/index.ts';
import { formatRef, type ImageRef, parseRef } from './ref/index.ts';
import type { RegistryClient } from './registry/index.ts';
import { LocalStore } from './transport/index.ts';
import { changesToEntries, clampMtimes, diff, type DirNode, emptyDir, type HostFilter, hostTree, applyLayer, materialize, resolvePath, setNode, SpillDir, walk } from './vfs/index.ts';
import { tarStream } from './archive/index.ts';
import { storeResolver, preflightOutput, writeDirAtomic, writeDockerArchive, writeFileAtomic, writeOciArchive, writeOciLayout } from './transport/index.ts';

export type { BuildEvent } from './executor/index.ts';

export class BuildError extends KilnError {}

/** Where a build's result goes (buildx `-o` words). */
export type OutputSpec =
  | { type: 'oci'; dest: string; tar: boolean }
  | { type: 'docker'; dest: string }
  | { type: 'local'; dest: string }
  | { type: 'tar'; dest: string };

export interface BuildOptions {
  /** The build context directory. */
  contextDir: string;
  /** Path of the Dockerfile; default `<contextDir>/Dockerfile`. */
  dockerfile?: string;
  /** `-t` names; every build also lands in the local store under them. */
  tags?: readonly string[];
  outputs?: readonly OutputSpec[];
  target?: string;
  buildArgs?: Readonly<Record<string, string>>;
  /** The local store (`$KILN_HOME`). */
  home: string;
  /** SOURCE_DATE_EPOCH, seconds. */
  epoch?: number;
  /** The clock; defaults to now. */
  now?: Date;
  format?: ImageFormat;
  compression?: Compression;
  compressionLevel?: number;
  platform?: Platform;
  onEvent?: (event: BuildEvent) => void;
  /** Where base images come from when the local store does not have them; none: local store only. */
  registry?: RegistryClient;
  /** Resolve base image tags against their registry even when the local store has them (`--pull`). */
  pull?: boolean;
  /** Build secrets for `RUN --mount=type=secret` (`--secret id=…`), by id. */
  secrets?: ReadonlyMap<string, Buffer>;
  /** Run every step, whatever the build cache holds (`--no-cache`); the cache is still written. */
  noCache?: boolean;
  /** Run every step of these stages (names or indexes; `--no-cache-filter`). */
  noCacheFilter?: readonly string[];
}

export interface BuildResult {
  image: Image;
  refs: ImageRef[];
}

/** The platform kiln runs on, in OCI terms. */
export function hostPlatform(): Platform {
  const arch: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };
  return { architecture: arch[process.arch] ?? process.arch, os: 'linux' };
}

/**
 * Builds an image from a Dockerfile: parse, plan, execute, then write every
 * output (each atomically) and record the image in the local store under its
 * tags. Bad input fails before anything is written to an output.
 */
export async function build(opts: BuildOptions): Promise<BuildResult> {
  const { contextDir, dockerfilePath, fileName } = locateInputs(opts);
  const refs = (opts.tags ?? []).map((t) => parseRef(t));
  for (const out of opts.outputs ?? []) await preflightOutput(out.dest, out.type === 'local' || (out.type === 'oci' && !out.tar) ? 'dir' : 'file');
  const { plan, warnings, lexer } = frontEnd(dockerfilePath, fileName, opts);
  const emit = opts.onEvent ?? (() => {});
  for (const w of warnings) emit({ kind: 'warning', message: `${w.rule}: ${w.message}`, location: w.location });
  if (plan.unusedBuildArgs.length > 0) emit({ kind: 'warning', message: unusedBuildArgsMessage(plan.unusedBuildArgs) });
  const expander: Expander = {
    word: (w, env) => lexer.processWord(w, env).word,
    words: (w, env) => lexer.processWords(w, env),
  };
  const store = new LocalStore(opts.home);
  const format = opts.format ?? 'oci';
  mkdirSync(opts.home, { recursive: true });
  const spill = SpillDir.create(opts.home);
  try {
    const result = await executeBuild(plan, {
      file: fileName,
      context: { root: contextDir, filter: contextFilter(contextDir, dockerfilePath) },
      store: store.content,
      expander,
      now: opts.now ?? new Date(),
      epoch: opts.epoch,
      format,
      compression: opts.compression ?? 'gzip',
      compressionLevel: opts.compressionLevel ?? 6,
      emit,
      spill,
      resolver: baseResolver(store, opts),
      runners: sandboxRunners({ spill, home: opts.home, secrets: opts.secrets ?? new Map() }),
      cache: { dir: join(opts.home, 'cache'), noCache: opts.noCache ?? false, noCacheFilter: opts.noCacheFilter ?? [] },
    });
    const image = format === result.image.format ? result.image : withFormat(result.image, format);
    // A build made from the cache has no filesystem until an output asks for one.
    const needsTree = (opts.outputs ?? []).some((o) => o.type === 'local' || o.type === 'tar');
    const raw = needsTree ? await result.tree() : emptyDir();
    const tree = opts.epoch === undefined ? raw : clampMtimes(raw, opts.epoch);
    await writeOutputs(opts.outputs ?? [], image, tree, refs);
    await store.putImage(image, refs);
    return { image, refs };
  } finally {
    spill.dispose();
  }
}

/** What {@link prune} removed. */
export interface PruneResult {
  /** Build cache entries removed. */
  cacheEntries: number;
  /** Untagged images dropped from the store's index. */
  images: number;
  blobs: number;
  /** Bytes freed: blobs, cache entries and (with `all`) the file-hash index and RUN cache mounts. */
  reclaimed: number;
}

/**
 * `kiln prune`: drops untagged images and cache entries that can no longer
 * hit, then deletes every blob that neither a tagged image nor a remaining
 * cache entry needs. With `all`, the whole build cache goes too (entries,
 * the context file-hash index, RUN cache mounts). Must not run while a
 * build or pull uses the same store.
 */
export async function prune(opts: { home: string; all?: boolean }): Promise<PruneResult> {
  const store = new LocalStore(opts.home);
  const cache = await pruneCache(join(opts.home, 'cache'), {
    all: opts.all ?? false,
    hasBlob: (d) => store.content.has(d),
    extraDirs: [join(opts.home, 'cache-mounts')],
  });
  const images = await store.removeUntagged();
  const keep = new Set<string>([...(await store.referencedBlobs()), ...cache.keep]);
  const blobs = await store.removeBlobsExcept(keep);
  return { cacheEntries: cache.entries, images, blobs: blobs.count, reclaimed: blobs.bytes + cache.bytes };
}

/**
 * Base images as docker finds them: the local store first (by full reference
 * and platform), then the registry (pulled into the store's blobs, untagged);
 * `--pull` asks the registry first. Without a registry client, local only.
 */
function baseResolver(store: LocalStore, opts: BuildOptions): ImageResolver {
  const remote = opts.registry ? storeResolver({ client: opts.registry, home: opts.home }) : undefined;
  const local = async (ref: ImageRef, platform: Platform) => {
    const image = await store.resolve(formatRef(ref));
    const c = image?.config;
    return c && c.os === platform.os && c.architecture === platform.architecture ? image : undefined;
  };
  return {
    resolve: async (ref, platform, signal) => {
      if (!opts.pull || remote === undefined) {
        const found = await local(ref, platform);
        if (found !== undefined) return found;
      }
      if (remote === undefined) {
        throw new BuildError('IMAGE_NOT_FOUND', `image ${formatRef(ref)} is not in the local store (pull it first: kiln pull ${formatRef(ref)})`, { ref: formatRef(ref) });
      }
      return remote.resolve(ref, platform, signal);
    },
  };
}

/**
 * RUN through lib/sandbox: one rootfs session per stage (made on its first
 * RUN, kept across its RUN steps), USER resolved in the stage's own
 * /etc/passwd, mounts turned into sandbox mounts (cache folders under
 * $KILN_HOME/cache-mounts, secrets from the build's secrets, never written to
 * the rootfs).
 */
function sandboxRunners(ctx: { spill: SpillDir; home: string; secrets: ReadonlyMap<string, Buffer> }): () => StageRunner {
  return () => {
    let session: RootfsSession | undefined;
    return {
      async run(tree, req, output) {
        session ??= await RootfsSession.create(tree, { spill: ctx.spill, dir: ctx.home });
        await session.syncTo(tree);
        const user = resolveRunUser(session.tree, req.user);
        const env = [...req.env];
        const mounts: SandboxMount[] = [];
        for (const m of req.mounts) mounts.push(...sandboxMount(m, ctx, env, req.location));
        if (req.pipes.length > 0) mounts.push({ type: 'bind', target: '/dev/pipes', readonly: true, source: { kind: 'tree', node: pipesTree(req.pipes) } });
        await session.run({ argv: req.argv, env, cwd: req.cwd, user: { uid: user.uid, gid: user.gid, additionalGids: user.additionalGids }, network: req.network, mounts, onStdout: output, onStderr: output });
        return session.capture();
      },
      async dispose() {
        session?.dispose();
      },
    };
  };
}

function sandboxMount(m: RunMountRequest, ctx: { home: string; secrets: ReadonlyMap<string, Buffer> }, env: string[], location: SourceLocation): SandboxMount[] {
  switch (m.type) {
    case 'bind': {
      const node = m.path === '/' ? m.tree : resolvePath(m.tree, m.path, { followFinal: true }).node;
      if (node === undefined) throw new BuildError('MOUNT_SOURCE_NOT_FOUND', `mount source ${m.path} not found`, { location });
      return [{ type: 'bind', target: m.target, readonly: m.readonly, source: { kind: 'tree', node } }];
    }
    case 'cache': {
      const hostDir = join(ctx.home, 'cache-mounts', createHash('sha256').update(m.id).digest('hex').slice(0, 32));
      if (!existsSync(hostDir)) {
        mkdirSync(hostDir, { recursive: true, mode: m.mode });
        chmodSync(hostDir, m.mode);
        if (process.getuid?.() === 0) chownSync(hostDir, m.uid, m.gid);
      }
      return [{ type: 'cache', target: m.target, hostDir, readonly: m.readonly }];
    }
    case 'tmpfs':
      return [{ type: 'tmpfs', target: m.target, ...(m.size > 0 ? { size: m.size } : {}) }];
    case 'secret': {
      const data = ctx.secrets.get(m.id);
      if (data === undefined) {
        if (m.required) throw new BuildError('SECRET_MISSING', `secret ${m.id} is required but was not given (--secret id=${m.id},src=FILE)`, { location });
        return [];
      }
      if (m.env !== undefined) env.push(`${m.env}=${data.toString('utf8')}`);
      return m.target === undefined ? [] : [{ type: 'secret', target: m.target, data, uid: m.uid, gid: m.gid, mode: m.mode }];
    }
    case 'ssh': {
      const socket = process.env.SSH_AUTH_SOCK;
      if (socket === undefined) {
        if (m.required) throw new BuildError('SSH_AGENT_MISSING', 'RUN --mount=type=ssh needs an SSH agent (SSH_AUTH_SOCK)', { location });
        return [];
      }
      const target = m.target ?? `/run/buildkit/ssh_agent.${m.id}`;
      env.push(`SSH_AUTH_SOCK=${target}`);
      return [{ type: 'ssh', target, socket }];
    }
  }
}

function pipesTree(pipes: readonly { name: string; data: Buffer }[]): DirNode {
  let tree = emptyDir();
  for (const p of pipes) tree = setNode(tree, [p.name], { kind: 'file', meta: { mode: 0o755, uid: 0, gid: 0, mtime: 0 }, size: p.data.length, content: { kind: 'bytes', data: p.data } });
  return tree;
}

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

/** What `planFile` needs: the build's front-end options. */
export interface PlanFileOptions {
  contextDir: string;
  dockerfile?: string;
  target?: string;
  buildArgs?: Readonly<Record<string, string>>;
  platform?: Platform;
}

/** The plan of a build and every warning, with no I/O beyond reading the Dockerfile (`kiln plan`). */
export function planFile(opts: PlanFileOptions): { plan: Plan; warnings: LintWarning[] } {
  const { dockerfilePath, fileName } = locateInputs(opts);
  const { plan, warnings } = frontEnd(dockerfilePath, fileName, opts);
  return { plan, warnings };
}

/**
 * Parse, check and plan: the Dockerfile's instructions, BuildKit's static
 * build checks (a `# check=error=true` directive makes them fatal), and the
 * stage plan with its own warnings (UndefinedVar…).
 */
function frontEnd(dockerfilePath: string, fileName: string, opts: Omit<PlanFileOptions, 'contextDir' | 'dockerfile'>): { plan: Plan; warnings: LintWarning[]; lexer: ShellLexer } {
  const parsed = parseDockerfile(readFileSync(dockerfilePath), fileName);
  const lexer = new ShellLexer(parsed.escapeToken);
  const check = checkDirectiveOf(parsed, fileName);
  const instructions = toInstructions(parsed, fileName);
  const plan = planBuild(instructions, {
    file: fileName,
    ...(opts.target !== undefined ? { target: opts.target } : {}),
    buildArgs: new Map(Object.entries(opts.buildArgs ?? {})),
    targetPlatform: opts.platform ?? hostPlatform(),
    buildPlatform: hostPlatform(),
    expand: (w, env) => lexer.processWord(w, env),
    lines: parsed.lines,
    check,
  });
  const warnings = [...lintDockerfile(parsed, instructions, fileName, { check }), ...plan.warnings].sort((a, b) => a.location.line - b.location.line);
  const violation = check.error ? lintViolationMessage(warnings) : undefined;
  if (violation !== undefined) throw new BuildError('BUILD_CHECK_FAILED', violation, { location: warnings[0]!.location });
  return { plan, warnings, lexer };
}

/** Where a build's inputs are: `-f` is relative to the working directory (as docker), the default is CONTEXT/Dockerfile. */
function locateInputs(opts: { contextDir: string; dockerfile?: string }): { contextDir: string; dockerfilePath: string; fileName: string } {
  const contextDir = resolve(opts.contextDir);
  if (!existsSync(contextDir) || !statSync(contextDir).isDirectory()) {
    throw new BuildError('CONTEXT_NOT_FOUND', `build context ${opts.contextDir} is not a directory`, { path: opts.contextDir });
  }
  const dockerfilePath = opts.dockerfile !== undefined ? resolve(opts.dockerfile) : join(contextDir, 'Dockerfile');
  if (!existsSync(dockerfilePath) || !statSync(dockerfilePath).isFile()) {
    throw new BuildError('DOCKERFILE_NOT_FOUND', `cannot read Dockerfile ${dockerfilePath}: no such file`, { path: dockerfilePath });
  }
  return { contextDir, dockerfilePath, fileName: opts.dockerfile ?? 'Dockerfile' };
}

/**
 * The files a build of `contextDir` would see, after `.dockerignore`:
 * relative paths in tar order, directories with a trailing `/`.
 */
export function listContext(opts: { contextDir: string; dockerfile?: string }): string[] {
  const { contextDir, dockerfilePath } = locateInputs(opts);
  const filter = contextFilter(contextDir, dockerfilePath);
  const out: string[] = [];
  walk(hostTree(contextDir, filter ? { filter } : {}), (path, node) => out.push(`${path.join('/')}${node.kind === 'dir' ? '/' : ''}`));
  return out;
}

/** The Dockerfile's syntax tree: BuildKit's test dump format (`buildkit`) or JSON with source ranges. */
export function parseFile(path: string, format: 'buildkit' | 'json'): string {
  let text: Buffer;
  try {
    text = readFileSync(path);
  } catch (cause) {
    throw new BuildError('DOCKERFILE_NOT_FOUND', `cannot read Dockerfile ${path}: ${(cause as Error).message}`, { path, cause });
  }
  const parsed = parseDockerfile(text, path);
  return format === 'buildkit' ? dumpAst(parsed.nodes) : `${JSON.stringify({ directives: parsed.directives, nodes: parsed.nodes, warnings: parsed.warnings }, null, 2)}\n`;
}

/** The context's `.dockerignore` (or `<Dockerfile>.dockerignore` next to the Dockerfile, which wins, as BuildKit). */
function contextFilter(contextDir: string, dockerfilePath: string): HostFilter | undefined {
  const candidates = [`${dockerfilePath}.dockerignore`, join(contextDir, '.dockerignore')];
  const file = candidates.find((f) => existsSync(f));
  if (file === undefined) return undefined;
  const matcher = new IgnoreMatcher(readDockerignore(readFileSync(file, 'utf8')));
  return { excludes: (p) => matcher.matches(p), excludesSubtree: (p) => matcher.excludesSubtree(p) };
}

/** Writes every requested output, each atomically (temp name, then rename). */
async function writeOutputs(outputs: readonly OutputSpec[], image: Image, tree: DirNode, refs: readonly ImageRef[]): Promise<void> {
  const refName = refs[0]?.tag ?? (refs[0] ? 'latest' : undefined);
  for (const out of outputs) {
    switch (out.type) {
      case 'oci': {
        const images = [{ image, ...(refName !== undefined ? { refName } : {}) }];
        await (out.tar ? writeOciArchive(out.dest, images) : writeOciLayout(out.dest, images));
        break;
      }
      case 'docker':
        await writeDockerArchive(out.dest, [{ image, tags: refs.map((r) => formatRef(r)) }]);
        break;
      case 'local':
        await writeDirAtomic(out.dest, (tmp: string) => materialize(tree, tmp));
        break;
      case 'tar':
        await writeFileAtomic(out.dest, tarStream(changesToEntries(tree, diff(emptyDir(), tree))));
        break;
    }
  }
}
