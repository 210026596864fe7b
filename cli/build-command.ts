import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { build, type BuildOptions, checkReproducible, formatRef, KilnError, type OutputSpec, parseCacheFrom, parseCacheTo } from '../lib/index.ts';
import { parseArgs, parseCsvOption, UsageError } from './args.ts';
import { BuildDisplay } from './build-progress.ts';
import { progressMode } from './progress.ts';
import { networkTimeouts, platformsFlag, REGISTRY_SPECS, registryClient } from './registry-options.ts';
import type { Io } from './main.ts';

const SPECS = [
  { name: 'file', short: 'f', value: true },
  { name: 'tag', short: 't', value: true, repeat: true },
  { name: 'output', short: 'o', value: true, repeat: true },
  { name: 'build-arg', value: true, repeat: true },
  { name: 'target', value: true },
  { name: 'quiet', short: 'q' },
  { name: 'oci-mediatypes', value: true },
  { name: 'iidfile', value: true },
  { name: 'metadata-file', value: true },
  { name: 'pull' },
  { name: 'no-cache' },
  { name: 'no-cache-filter', value: true, repeat: true },
  { name: 'cache-to', value: true, repeat: true },
  { name: 'cache-from', value: true, repeat: true },
  { name: 'secret', value: true, repeat: true },
  { name: 'platform', value: true, repeat: true },
  { name: 'push' },
  { name: 'compression', value: true },
  { name: 'compression-level', value: true },
  { name: 'reproducible' },
  { name: 'check-reproducible' },
  { name: 'progress', value: true },
  ...REGISTRY_SPECS,
];

export async function buildCommand(argv: readonly string[], io: Io, home: string): Promise<number> {
  const args = parseArgs(argv, SPECS);
  if (args.positional.length !== 1) throw new UsageError(`requires exactly 1 argument (the build context), got ${args.positional.length}`);
  const buildArgs: Record<string, string> = {};
  for (const kv of args.values.get('build-arg') ?? []) {
    const eq = kv.indexOf('=');
    if (eq < 0) {
      // docker: `--build-arg NAME` takes NAME's value from the environment
      if (io.env[kv] !== undefined) buildArgs[kv] = io.env[kv]!;
    } else buildArgs[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  const epochText = buildArgs.SOURCE_DATE_EPOCH ?? io.env.SOURCE_DATE_EPOCH;
  const given = epochText === undefined || epochText === '' ? undefined : parseEpoch(epochText);
  // --reproducible: an epoch of 0 unless one is set
  const epoch = given ?? (args.flags.has('reproducible') ? 0 : undefined);
  const { compression, compressionLevel } = compressionFlags(args.values.get('compression')?.[0], args.values.get('compression-level')?.[0]);
  const mode = args.flags.has('quiet') ? 'quiet' : progressMode(args.values.get('progress')?.[0], process.stderr.isTTY === true);
  const quiet = mode === 'quiet';
  const outputs = (args.values.get('output') ?? []).map(parseOutput);
  if (args.flags.has('push')) outputs.push({ type: 'image', names: [], push: true });
  const ociText = args.values.get('oci-mediatypes')?.[0] ?? 'true';
  if (ociText !== 'true' && ociText !== 'false') throw new UsageError(`invalid argument ${JSON.stringify(ociText)} for --oci-mediatypes (true or false)`);
  const started = Date.now();
  const registry = registryClient(args, io);
  const display = new BuildDisplay(mode, io.err);
  const check = args.flags.has('check-reproducible');
  if (check && (outputs.length > 0 || args.values.has('tag') || args.values.has('iidfile') || args.values.has('metadata-file') || args.values.has('cache-to') || args.values.has('cache-from'))) {
    await registry.close();
    throw new UsageError('--check-reproducible builds into temporary stores only: it takes no -t, -o, --push, --iidfile, --metadata-file, --cache-to or --cache-from');
  }
  const platforms = platformsFlag(args);
  if (check && platforms.length > 1) {
    await registry.close();
    throw new UsageError('--check-reproducible checks one platform\'s image: give one --platform');
  }
  const options: BuildOptions = {
    registry,
    timeouts: networkTimeouts(args, io),
    pull: args.flags.has('pull'),
    noCache: args.flags.has('no-cache'),
    noCacheFilter: (args.values.get('no-cache-filter') ?? []).flatMap((v) => v.split(',')).filter((v) => v !== ''),
    cacheTo: parseCacheTo(args.values.get('cache-to') ?? []),
    cacheFrom: parseCacheFrom(args.values.get('cache-from') ?? []),
    secrets: parseSecrets(args.values.get('secret') ?? [], io),
    platforms,
    contextDir: args.positional[0]!,
    ...(args.values.has('file') ? { dockerfile: args.values.get('file')![0]! } : {}),
    tags: args.values.get('tag') ?? [],
    outputs,
    ...(args.values.has('target') ? { target: args.values.get('target')![0]! } : {}),
    buildArgs,
    home,
    ...(epoch !== undefined ? { epoch } : {}),
    format: ociText === 'true' ? 'oci' : 'docker',
    compression,
    ...(compressionLevel !== undefined ? { compressionLevel } : {}),
    onEvent: quiet ? undefined : display.onEvent,
  };
  const done = (): Promise<void> => {
    display.finish();
    return registry.close();
  };
  if (check) {
    const report = await checkReproducible(options).finally(done);
    if (report.difference !== undefined) {
      throw new KilnError('NOT_REPRODUCIBLE', `two builds of the same inputs differ (${report.digests[0]} vs ${report.digests[1]}): ${report.difference}`);
    }
    if (quiet) io.out(`${report.digests[0]}\n`);
    else io.err(`reproducible: both builds gave ${report.digests[0]}\n`);
    return 0;
  }
  const result = await build(options).finally(done);
  // A multi-platform build's ID is its index's digest, as buildx reports it.
  const id = result.index?.descriptor.digest ?? result.image.configDescriptor.digest;
  const iidfile = args.values.get('iidfile')?.[0];
  if (iidfile !== undefined) writeSmallFile(iidfile, id);
  const metadataFile = args.values.get('metadata-file')?.[0];
  if (metadataFile !== undefined) writeSmallFile(metadataFile, `${JSON.stringify(buildMetadata(result), null, 2)}\n`);
  if (quiet) {
    io.out(`${id}\n`);
    return 0;
  }
  if (result.index !== undefined) io.err(`writing image index ${id} (${result.index.platforms.join(', ')}) done\n`);
  else io.err(`writing image ${id} done\n`);
  for (const r of result.refs) io.err(`naming to ${formatRef(r)} done\n`);
  for (const r of result.pushed) io.err(`pushed ${formatRef(r)}\n`);
  io.err(`built in ${((Date.now() - started) / 1000).toFixed(1)}s\n`);
  return 0;
}

/** buildx's --metadata-file keys for an image result (for an index: its descriptor and digest, no config). */
function buildMetadata(result: Awaited<ReturnType<typeof build>>): Record<string, unknown> {
  const name = result.refs.length > 0 ? { 'image.name': result.refs.map((r) => formatRef(r)).join(',') } : {};
  if (result.index !== undefined) {
    const { mediaType, digest, size } = result.index.descriptor;
    return { 'containerimage.descriptor': { mediaType, digest, size }, 'containerimage.digest': digest, ...name };
  }
  const { descriptor, configDescriptor } = result.image;
  return {
    'containerimage.config.digest': configDescriptor.digest,
    'containerimage.descriptor': { mediaType: descriptor.mediaType, digest: descriptor.digest, size: descriptor.size },
    'containerimage.digest': descriptor.digest,
    ...name,
  };
}

/** Writes a small result file atomically (temp name, then rename), as every kiln output. */
function writeSmallFile(path: string, text: string): void {
  const tmp = `${path}.kiln-tmp-${process.pid}`;
  try {
    writeFileSync(tmp, text);
    renameSync(tmp, path);
  } catch (cause) {
    rmSync(tmp, { force: true });
    throw new KilnError('OUTPUT_UNWRITABLE', `cannot write ${path}: ${(cause as Error).message}`, { cause });
  }
}

/** buildx's `--secret id=ID[,src=FILE|,env=VAR]` (a bare `id` reads the variable of that name). */
function parseSecrets(specs: readonly string[], io: Io): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const spec of specs) {
    const o = parseCsvOption(spec.includes('=') ? spec : `id=${spec}`);
    const id = o.get('id');
    if (!id) throw new UsageError(`--secret ${JSON.stringify(spec)} needs id=`);
    const src = o.get('src') ?? o.get('source');
    const envName = o.get('env') ?? (src === undefined ? id : undefined);
    if (src !== undefined) {
      try {
        out.set(id, readFileSync(src));
      } catch (cause) {
        throw new KilnError('SECRET_UNREADABLE', `cannot read secret ${id} from its file: ${(cause as Error).message}`, { cause });
      }
    } else if (envName !== undefined && io.env[envName] !== undefined) out.set(id, Buffer.from(io.env[envName]!, 'utf8'));
  }
  return out;
}

/** `--compression=gzip|zstd|uncompressed` (buildx's words) and `--compression-level` (gzip 0–9, zstd 1–22). */
function compressionFlags(kind: string | undefined, level: string | undefined): { compression: 'gzip' | 'zstd' | 'none'; compressionLevel: number | undefined } {
  const compression = kind === undefined || kind === 'gzip' ? 'gzip' : kind === 'zstd' ? 'zstd' : kind === 'uncompressed' ? 'none' : undefined;
  if (compression === undefined) throw new UsageError(`invalid --compression ${JSON.stringify(kind)}: gzip, zstd or uncompressed`);
  if (level === undefined) return { compression, compressionLevel: undefined };
  const n = /^\d+$/.test(level) ? Number(level) : NaN;
  const [lo, hi] = compression === 'zstd' ? [1, 22] : [0, 9];
  if (compression === 'none' || !(n >= lo && n <= hi)) {
    throw new UsageError(compression === 'none' ? '--compression-level needs gzip or zstd compression' : `invalid --compression-level ${JSON.stringify(level)} for ${compression}: ${lo} to ${hi}`);
  }
  return { compression, compressionLevel: n };
}

function parseEpoch(s: string): number {
  if (!/^\d+$/.test(s)) throw new KilnError('EPOCH_INVALID', `SOURCE_DATE_EPOCH must be a whole number of seconds, not ${JSON.stringify(s)}`);
  return Number(s);
}

function parseOutput(s: string): OutputSpec {
  const o = parseCsvOption(s);
  const type = o.get('type');
  if (type === 'image' || type === 'registry') {
    // buildx: type=registry is type=image,push=true; more names than one come from -t
    const name = o.get('name');
    const names = name === undefined || name === '' ? [] : [name];
    const push = type === 'registry' || o.get('push') === 'true';
    return { type: 'image', names, push };
  }
  const dest = o.get('dest');
  if (dest === undefined || dest === '') throw new UsageError(`output ${JSON.stringify(s)} needs dest=PATH`);
  switch (type) {
    case 'oci': return { type: 'oci', dest, tar: o.get('tar') !== 'false' };
    case 'docker': return { type: 'docker', dest };
    case 'local': return { type: 'local', dest };
    case 'tar': return { type: 'tar', dest };
    default: throw new UsageError(`unsupported output type ${JSON.stringify(type)} (oci, docker, local, tar, image, registry)`);
  }
}
