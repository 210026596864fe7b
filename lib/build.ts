/**
 * The composition root: the one place that wires the front end, the
 * executor, the content store and the outputs into `build()`.
 */
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { BuildError } from './build/build-error.ts';
import { checkReproducible as checkTwice, type ReproducibilityReport } from './build/check-reproducible.ts';
import { baseResolver, keepPulledBases, type PulledBase } from './build/base-resolver.ts';
import { CacheCollector, exportCaches } from './build/cache-export.ts';
import type { CacheExport, CacheImport } from './build/cache-spec.ts';
import { importCaches } from './build/cache-import.ts';
export { parseCacheFrom, parseCacheTo, type CacheExport, type CacheImport } from './build/cache-spec.ts';
import { imageNames, pushAll } from './build/push.ts';
import { layersNotIn, preflightOutputs, writeResult } from './build/outputs.ts';
import { PlatformEvents } from './build/platform-events.ts';
import { sandboxRunners } from './build/sandbox-runners.ts';
import { checkDirectiveOf, dumpAst, IgnoreMatcher, lintDockerfile, type LintWarning, lintViolationMessage, parseDockerfile, readDockerignore, ShellLexer, toInstructions } from './dockerfile/index.ts';
import { type BuildEvent, executeBuild, type ExecuteOptions, type Expander, pruneCache, type StageResult } from './executor/index.ts';
import type { CopyOptions } from './executor/copy.ts';
import { httpFetcher } from './executor/http-fetch.ts';
import type { Image, ImageFormat } from './image/index.ts';
import { withFormat } from './image/index.ts';
import { type Compression, type Descriptor, hostPlatform as ociHostPlatform, normalizeArch, type Platform } from './oci/index.ts';
import { formatPlatform, type Plan, planBuild, unusedBuildArgsMessage } from './plan/index.ts';
import type { ImageRef } from './ref/index.ts';
import type { RegistryClient, Timeouts } from './registry/index.ts';
import { LocalStore, type TransportEvent } from './transport/index.ts';
import { type HostFilter, hostTree, SpillDir, walk } from './vfs/index.ts';

export type { BuildEvent } from './executor/index.ts';

export { BuildError } from './build/build-error.ts';
export { copyFromImage, runImage } from './build/image-commands.ts';
export { sweepHome } from './build/sweep-home.ts';
export { fsck, type FsckProblem, type FsckResult } from './build/fsck.ts';
export type { ReproducibilityReport } from './build/check-reproducible.ts';

/** Where a build's result goes (buildx `-o` words). */
export type OutputSpec =
  | { type: 'oci'; dest: string; tar: boolean }
  | { type: 'docker'; dest: string }
  | { type: 'local'; dest: string }
  | { type: 'tar'; dest: string }
  /**
   * buildx's `type=image`: the image under `names` (none: the `-t` tags) in
   * the local store, and with `push` in their registries (`--push`).
   */
  | { type: 'image'; names: readonly string[]; push: boolean };

/** What a build reports: the executor's events, and its pushes. */
export type BuildProgress =
  | BuildEvent
  /** A blob of a base image fetched, or of the result pushed (see TransportEvent). */
  | { kind: 'transfer'; direction: 'pull' | 'push'; ref: string; event: TransportEvent }
  /** The image is in the registry under `ref`: the manifest's digest and size. */
  | { kind: 'pushed'; ref: string; digest: string; size: number };

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
  /** The target platform (default: this machine's); see `platforms`. */
  platform?: Platform;
  /** Several target platforms (`--platform a,b`): the result is an image index with one image per platform. */
  platforms?: readonly Platform[];
  onEvent?: (event: BuildProgress) => void;
  /** Where base images come from when the local store does not have them, and pushes go; none: local store only. */
  registry?: RegistryClient;
  /** Resolve base image tags against their registry even when the local store has them (`--pull`). */
  pull?: boolean;
  /** Build secrets for `RUN --mount=type=secret` (`--secret id=…`), by id. */
  secrets?: ReadonlyMap<string, Buffer>;
  /** Run every step, whatever the build cache holds (`--no-cache`); the cache is still written. */
  noCache?: boolean;
  /** Run every step of these stages (names or indexes; `--no-cache-filter`). */
  noCacheFilter?: readonly string[];
  /** Other local stores (folders like `home`) where base images are looked for, read-only, after `home`'s. */
  baseStores?: readonly string[];
  /**
   * Network timeouts of `ADD <url>` downloads (default 30 s to connect, 60 s
   * for the response, 60 s of silence in a body); registry calls take
   * `registry`'s own (the CLI's networkTimeouts gives both the same values).
   */
  timeouts?: Partial<Timeouts>;
  /** `--cache-to`: where the build's cache entries are exported after it succeeds (lib/build/cache-spec.ts). */
  cacheTo?: readonly CacheExport[];
  /** `--cache-from`: caches asked, in this order, when the local cache misses. */
  cacheFrom?: readonly CacheImport[];
}

export interface BuildResult {
  /** The image; of a multi-platform build, the first platform's. */
  image: Image;
  /** A multi-platform build's image index: its descriptor and platforms (`os/arch[/variant]`), in order. */
  index?: { descriptor: Descriptor; platforms: string[] };
  /** The names the image has in the local store. */
  refs: ImageRef[];
  /** Where it was pushed: each name with the manifest's digest. */
  pushed: ImageRef[];
}

/** The platform kiln runs on, in OCI terms. */
export function hostPlatform(): Platform {
  return ociHostPlatform();
}

/**
 * Builds an image from a Dockerfile: parse, plan, execute, then write every
 * output (each atomically) and record the image in the local store under its
 * tags. Bad input fails before anything is written to an output. With
 * several `platforms` each gets its own plan and run (sharing the build
 * cache, so steps that do not depend on the target, as a
 * `FROM --platform=$BUILDPLATFORM` stage's, run once) and the result is an
 * image index.
 */
export async function build(opts: BuildOptions): Promise<BuildResult> {
  const { contextDir, dockerfilePath, fileName } = locateInputs(opts);
  const { refs, push } = imageNames(opts);
  const platforms = targetPlatforms(opts);
  await preflightOutputs(opts.outputs ?? [], platforms);
  const fronts = platforms.map((platform) => frontEnd(dockerfilePath, fileName, { ...opts, platform }));
  const { lexer } = fronts[0]!;
  const emit = opts.onEvent ?? (() => {});
  // Every platform's warnings, each once; a build arg is unused when no platform's plan used it.
  for (const w of uniqueWarnings(fronts.flatMap((f) => f.warnings))) emit({ kind: 'warning', message: `${w.rule}: ${w.message}`, location: w.location });
  const unused = fronts[0]!.plan.unusedBuildArgs.filter((a) => fronts.every((f) => f.plan.unusedBuildArgs.includes(a)));
  if (unused.length > 0) emit({ kind: 'warning', message: unusedBuildArgsMessage(unused) });
  const expander: Expander = {
    word: (w, env) => lexer.processWord(w, env).word,
    words: (w, env) => lexer.processWords(w, env),
  };
  const store = new LocalStore(opts.home);
  const format = opts.format ?? 'oci';
  mkdirSync(opts.home, { recursive: true });
  const spill = SpillDir.create(opts.home);
  const caches = new CacheCollector();
  const warn = (message: string): void => emit({ kind: 'warning', message });
  const remote = opts.cacheFrom?.length ? await importCaches(opts.cacheFrom, { client: opts.registry, store: store.content, warn }) : undefined;
  const pulled: PulledBase[] = [];
  try {
    // COPY/ADD read their options from the same object: `fetch` rides along (CopyOptions).
    const execOpts: ExecuteOptions & CopyOptions = {
      file: fileName,
      context: { root: contextDir, filter: contextFilter(contextDir, dockerfilePath) },
      store: store.content,
      expander,
      now: opts.now ?? new Date(),
      epoch: opts.epoch,
      format,
      compression: opts.compression ?? 'gzip',
      compressionLevel: opts.compressionLevel ?? (opts.compression === 'zstd' ? 3 : 6),
      emit,
      spill,
      resolver: baseResolver(store, opts, pulled),
      runners: sandboxRunners({ spill, home: opts.home, secrets: opts.secrets ?? new Map() }),
      cache: { dir: join(opts.home, 'cache'), noCache: opts.noCache ?? false, noCacheFilter: opts.noCacheFilter ?? [], onEntry: caches.onEntry, made: new Map(), ...(remote ? { remote } : {}) },
      fetch: httpFetcher({ timeouts: opts.timeouts }),
    };
    const events = new PlatformEvents(emit);
    const results: StageResult[] = [];
    for (const { plan } of fronts) results.push(await executeBuild(plan, fronts.length === 1 ? execOpts : { ...execOpts, emit: events.next(plan) }));
    const images = results.map((r) => (format === r.image.format ? r.image : withFormat(r.image, format)));
    const made = results.map((r, i) => ({ platform: platforms[i]!, image: images[i]!, tree: () => r.tree() }));
    const node = await writeResult(opts.outputs ?? [], made, refs, opts.epoch, format);
    // The local store keeps images whole (putImage fetches what a step never read: base layers, imported cache hits),
    // except an image being pushed: its unread layers stay where they are, and the push mounts them from there.
    const unread = push.length > 0 ? await layersNotIn(store, images) : 0;
    if (unread > 0) emit({ kind: 'warning', message: `the image is pushed but not kept in the local store: ${unread} of its layers were never downloaded (the push mounts them); kiln pull keeps a copy` });
    else if (images.length === 1) await store.putImage(images[0]!, refs);
    else await store.putIndex(node, refs);
    await keepPulledBases(store, pulled);
    const pushed = await pushAll(push, opts, emit, unread === 0 ? undefined : node);
    await exportCaches(opts.cacheTo ?? [], caches, fronts[0]!.plan.target.index, { client: opts.registry, store: store.content, imported: remote });
    const index = images.length === 1 ? undefined : { descriptor: node.descriptor, platforms: images.map((i) => formatPlatform(i.config)) };
    return { image: images[0]!, ...(index ? { index } : {}), refs: unread === 0 ? refs : [], pushed };
  } finally {
    spill.dispose();
  }
}

/** The target platforms: `platforms`, else `platform`, else this machine's; each once, in order. */
function targetPlatforms(opts: Pick<BuildOptions, 'platform' | 'platforms'>): Platform[] {
  const given = opts.platforms?.length ? opts.platforms : [opts.platform ?? hostPlatform()];
  const seen = new Map<string, Platform>();
  for (const p of given) {
    // Normalized as buildx does: linux/arm is linux/arm/v7, linux/arm64/v8 is linux/arm64.
    const { architecture, variant } = normalizeArch(p.architecture, p.variant ?? '');
    const { variant: _, ...rest } = p;
    const n: Platform = { ...rest, architecture, ...(variant !== '' ? { variant } : {}) };
    if (!seen.has(formatPlatform(n))) seen.set(formatPlatform(n), n);
  }
  return [...seen.values()];
}

/** Warnings once each (the same line, rule and message from several platforms' plans), in line order. */
function uniqueWarnings(warnings: readonly LintWarning[]): LintWarning[] {
  const seen = new Map<string, LintWarning>();
  for (const w of warnings) seen.set(`${w.location.file}:${w.location.line}:${w.rule}:${w.message}`, w);
  return [...seen.values()].sort((a, b) => a.location.line - b.location.line);
}

/**
 * `kiln build --check-reproducible`: builds twice in fresh temporary stores
 * (no cache; base images from `opts.home` or the registry) under another
 * umask, time zone, locale, checkout path and file mtimes, with the given
 * epoch or 0, and compares; see {@link ReproducibilityReport}. Tags and
 * outputs are ignored: nothing is written but to temporary folders.
 */
export function checkReproducible(opts: BuildOptions): Promise<ReproducibilityReport> {
  return checkTwice({ ...opts, tags: [], outputs: [] }, build);
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
