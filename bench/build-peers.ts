/**
 * What sections 6 and 7 share: a local registry standing in for Docker Hub
 * with the offline base images, and three builders of one Dockerfile — kiln,
 * buildah and Docker BuildKit — each able to empty its own store ("cold") and
 * to build once, timed. A round builds cold, then again with nothing changed
 * (the no-op rebuild), and checks that the rebuild was a cache hit (same
 * image ID) and that the cold build pulled its bases from the registry.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statfsSync } from 'node:fs';
import { join } from 'node:path';
import { ensureBaseImages } from '../spec/helpers/base-images.ts';
import { removeAtExit } from '../spec/helpers/managed-process.ts';
import { type RunningRegistry, startRegistry } from '../spec/helpers/registry.ts';
import { dockerRef, skopeoCopy } from '../spec/helpers/skopeo.ts';
import { daemonUsage, type Dockerd, DOCKER_CLI, resetDocker, startDockerd } from './dockerd.ts';
import { type Contender, measureRounds, type Sample, scrub, timeCommand } from './measure.ts';
import { renderTable, type Row, row, skippedRow } from './report.ts';
import { type BenchEnv, shellLine } from './section.ts';
import { summarize } from './stats.ts';
import { writeBuildahConfig } from '../spec/helpers/buildah-config.ts';

/** What is built: `docker build -t tag -f dockerfile context`. */
export interface BuildJob {
  /** Scratch folder of the section: config and image-ID files, and the stores when /dev/shm has no room (see {@link storesDir}). */
  dir: string;
  tag: string;
  dockerfile: string;
  context: string;
  /** Base images the Dockerfile names, pushed to the registry. */
  bases: readonly ('busybox' | 'golang')[];
  /** More kiln builders with extra flags, measured cold only (each with a store of its own). */
  kilnVariants?: readonly KilnVariant[];
}

/** A kiln build with extra flags, as one more cold-only builder (e.g. `--compression=uncompressed`). */
export interface KilnVariant {
  /** Sample-name prefix, not `kiln`. */
  key: string;
  /** Table label. */
  label: string;
  /** Added to `kiln build` after `-q`. */
  flags: readonly string[];
  /** What its cold build does, for the notes. */
  cold: string;
}

/** One builder of the job. */
export interface Builder {
  /** Sample-name prefix: `kiln`, `buildah`, `docker`. */
  key: string;
  /** Table label. */
  label: string;
  /** What one cold build of this builder starts from and does, for the notes. */
  cold: string;
  /** Empties the builder's store and cache (untimed). */
  reset(): void;
  /** One build, timed; the image ID goes to `iidFile`. */
  build(iidFile: string): Sample;
  /** The commands, for the report. */
  commands: string[];
  /** Only the cold build is measured (no rebuild row). */
  coldOnly?: boolean;
}

/** The registry, the builders that can run, and rows for those that cannot. */
export interface BuildPeers {
  registry: RunningRegistry;
  builders: Builder[];
  skipped: Row[];
  /** True when the builders' stores are on tmpfs (see {@link storesDir}). */
  storesOnTmpfs: boolean;
  stop(): Promise<void>;
}

const SHM = '/dev/shm';
const TMPFS_MAGIC = 0x01021994;
/** Room the three builders' stores need at once (the seed build: about 3.5 GB), with a margin. */
const SHM_NEEDED = 6 * 2 ** 30;

/**
 * Where the builders keep their stores, build caches and temp files: a
 * fresh folder on tmpfs (/dev/shm) when there is room, else `fallback`.
 * On this machine's ext4 disk, creating files right after tens of thousands
 * were deleted is slow (ext4's inode allocator skips inodes deleted in the
 * last minutes; the bench deletes a store before every cold build, and other
 * processes delete files too): measured, a cold BuildKit COPY of the
 * 20,000-file context took 25–32 s there against 5 s on tmpfs, and buildah's
 * no-op rebuild 17 s against 3.5 s, while kiln, which writes few files, hardly
 * changed. On tmpfs the builders compare on their own work.
 */
export function storesDir(fallback: string): { dir: string; tmpfs: boolean; forget: () => void } {
  try {
    const fs = statfsSync(SHM);
    if (fs.type === TMPFS_MAGIC && fs.bavail * fs.bsize >= SHM_NEEDED) {
      const dir = mkdtempSync(join(SHM, 'kiln-bench-stores-'));
      return { dir, tmpfs: true, forget: removeAtExit(dir) };
    }
  } catch {
    // no /dev/shm here
  }
  mkdirSync(fallback, { recursive: true });
  return { dir: fallback, tmpfs: false, forget: () => undefined };
}

/**
 * Starts the registry (bases pushed), and dockerd when the `dockerd` peer
 * was found; prepares kiln, buildah (when found) and BuildKit for `job`.
 * Never fails for a missing peer (it becomes a skipped row); the caller must `stop()`.
 */
export async function startBuildPeers(env: BenchEnv, job: BuildJob): Promise<BuildPeers> {
  mkdirSync(job.dir, { recursive: true });
  const stores = storesDir(join(job.dir, 'stores'));
  const registry = await startRegistry({ mode: 'open' });
  let dockerd: Dockerd | undefined;
  const stop = async (): Promise<void> => {
    await dockerd?.stop();
    await registry.stop();
    rmSync(stores.dir, { recursive: true, force: true });
    stores.forget();
  };
  try {
    await pushBases(registry, job.bases);
    const builders: Builder[] = [kilnBuilder(env, job, registry, stores.dir), ...(job.kilnVariants ?? []).map((v) => kilnBuilder(env, job, registry, stores.dir, v))];
    const skipped: Row[] = [];
    const buildah = env.peers.get('buildah');
    if (buildah?.ok) builders.push(buildahBuilder(job, registry, stores.dir));
    else skipped.push(skippedRow('buildah bud', buildah?.ok === false ? buildah.reason : 'not probed'));
    const docker = env.peers.get('dockerd');
    if (docker?.ok) {
      const started = await startDockerd(join(stores.dir, 'dockerd'), registry.host);
      if (started.ok) {
        dockerd = started.dockerd;
        builders.push(dockerBuilder(job, dockerd));
      } else skipped.push(skippedRow('docker build (BuildKit)', started.reason.replaceAll('|', '\\|')));
    } else skipped.push(skippedRow('docker build (BuildKit)', docker?.ok === false ? docker.reason : 'not probed'));
    // The report names the tmpfs folder $STORES, as it names the scratch folder $WORK.
    if (stores.tmpfs) for (const b of builders) b.commands = b.commands.map((c) => c.replaceAll(stores.dir, '$STORES'));
    return { registry, builders, skipped, storesOnTmpfs: stores.tmpfs, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

export async function pushBases(registry: RunningRegistry, bases: readonly ('busybox' | 'golang')[]): Promise<void> {
  const images = await ensureBaseImages();
  for (const b of bases) {
    const image = images[b];
    for (const name of image.registryNames) {
      const { digest } = await skopeoCopy(image.ociRef, dockerRef(registry, name), { registry });
      if (digest !== image.manifestDigest) throw new Error(`pushing ${name}: the registry got ${digest}, not ${image.manifestDigest}`);
    }
  }
}

function kilnBuilder(env: BenchEnv, job: BuildJob, registry: RunningRegistry, stores: string, variant?: KilnVariant): Builder {
  const key = variant?.key ?? 'kiln';
  const home = join(stores, `${key}-home`);
  // TMPDIR: where kiln materializes RUN's root filesystems and spills layer contents.
  const tmp = join(stores, `${key}-tmp`);
  mkdirSync(tmp, { recursive: true });
  const vars: NodeJS.ProcessEnv = { ...process.env, KILN_HOME: home, TMPDIR: tmp, DOCKER_CONFIG: join(job.dir, 'kiln-docker-config'), KILN_REGISTRY_MIRRORS: '' };
  delete vars.SOURCE_DATE_EPOCH;
  const argv = (iid: string): string[] => [process.execPath, env.kilnCli, 'build', '-q', ...(variant?.flags ?? []), '--registry-mirror', `docker.io=${registry.url}`, '-t', job.tag, '--iidfile', iid, '-f', job.dockerfile, job.context];
  const timeFile = join(job.dir, 'time.out');
  return {
    key,
    label: variant?.label ?? '**kiln build**',
    cold: variant?.cold ?? 'kiln: an empty `KILN_HOME` (no local store, no build cache); pulls the bases, builds, and writes gzip-compressed layers into its store',
    reset: () => scrub(home),
    build: (iid) => timeCommand(argv(iid), { env: vars, timeFile }),
    commands: [shellLine(argv('IIDFILE'), { KILN_HOME: home, TMPDIR: tmp })],
    ...(variant !== undefined ? { coldOnly: true } : {}),
  };
}

function buildahBuilder(job: BuildJob, registry: RunningRegistry, stores: string): Builder {
  const root = join(stores, 'buildah-root');
  const runroot = join(stores, 'buildah-runroot');
  const tmp = join(stores, 'buildah-tmp');
  mkdirSync(tmp, { recursive: true });
  // Docker Hub is mirrored by the bench's registry; nothing else is reachable.
  const { registriesConf, policy, authFile, dockerConfig } = writeBuildahConfig(join(job.dir, 'buildah-conf'), registry.host);
  const vars: NodeJS.ProcessEnv = { ...process.env, CONTAINERS_REGISTRIES_CONF: registriesConf, REGISTRY_AUTH_FILE: authFile, DOCKER_CONFIG: dockerConfig, TMPDIR: tmp };
  const argv = (iid: string): string[] => [
    'buildah', '--root', root, '--runroot', runroot, '--storage-driver', 'vfs',
    'bud', '-q', '--isolation', 'chroot', '--layers', '--identity-label=false', '--format', 'docker', '--signature-policy', policy,
    '-t', job.tag, '--iidfile', iid, '-f', job.dockerfile, job.context,
  ];
  const timeFile = join(job.dir, 'time.out');
  return {
    key: 'buildah',
    label: 'buildah bud',
    cold: 'buildah: empty `--root`/`--runroot` (vfs); pulls the bases, builds, and commits uncompressed layers into its store (it compresses only when pushing)',
    reset: () => {
      scrub(root, runroot);
      mkdirSync(root);
      mkdirSync(runroot);
    },
    build: (iid) => timeCommand(argv(iid), { env: vars, timeFile }),
    commands: [shellLine(argv('IIDFILE'), { CONTAINERS_REGISTRIES_CONF: registriesConf, TMPDIR: tmp })],
  };
}

function dockerBuilder(job: BuildJob, d: Dockerd): Builder {
  const argv = (iid: string): string[] => [DOCKER_CLI, 'build', '-q', '--network=none', '-t', job.tag, '--iidfile', iid, '-f', job.dockerfile, job.context];
  const timeFile = join(job.dir, 'time.out');
  return {
    key: 'docker',
    label: 'docker build (BuildKit)',
    cold: 'BuildKit: dockerd already running (its start is not timed), after `docker builder prune -af` and removing every image (the bases too); pulls the bases through the registry mirror, receives the context, builds, and exports uncompressed layers into the vfs image store',
    reset: () => {
      resetDocker(d);
      scrub();
    },
    // The work happens in the daemon: add its CPU time and peak RSS to the CLI's.
    build: (iid) => {
      const usage = daemonUsage(d);
      return usage(timeCommand(argv(iid), { env: d.env, timeFile }));
    },
    commands: [
      `${shellLine([DOCKER_CLI, 'builder', 'prune', '-af'], { DOCKER_HOST: d.env.DOCKER_HOST! })}   # untimed, before each cold build, then \`docker image rm -f\` of every image`,
      shellLine(argv('IIDFILE'), { DOCKER_BUILDKIT: '1', DOCKER_HOST: d.env.DOCKER_HOST! }),
    ],
  };
}

const BLOB_GET = /"GET \/v2\/[^"]*\/blobs\/sha256:[0-9a-f]{64}[^"]*" 200 /g;

/**
 * The registry's log from `from` on, once it holds still. It arrives through
 * a pipe that only the event loop reads, a little after the client's request
 * ended (and not at all while a spawnSync blocks the loop): wait until its
 * length holds for 100 ms, 3 s at most.
 */
export async function settledLog(registry: RunningRegistry, from = 0): Promise<string> {
  let last = -1;
  for (let i = 0; i < 30 && registry.logs().length !== last; i++) {
    last = registry.logs().length;
    await new Promise((r) => setTimeout(r, 100));
  }
  return registry.logs().slice(from);
}

/** The registry's successful blob GETs so far. */
async function settledBlobGets(registry: RunningRegistry): Promise<number> {
  return (await settledLog(registry)).match(BLOB_GET)?.length ?? 0;
}

function readIid(file: string): string {
  return readFileSync(file, 'utf8').trim();
}

/**
 * Each builder becomes one contender whose run is a cold build (after an
 * untimed reset and `sync`) and then the same build again: samples
 * `KEY cold` and `KEY warm` (only `KEY cold` for a cold-only builder).
 * Throws when a cold build did not fetch any blob from the registry or a
 * rebuild gave another image ID (not a cache hit).
 */
export async function measureColdWarm(env: BenchEnv, peers: BuildPeers, job: BuildJob, runs: number, warmup: number, what: string): Promise<Map<string, Sample[]>> {
  const contenders: Contender[] = peers.builders.map((b) => ({
    name: b.key,
    before: () => b.reset(),
    run: async () => {
      const coldIid = join(job.dir, `${b.key}-cold.iid`);
      const warmIid = join(job.dir, `${b.key}-warm.iid`);
      const gets = await settledBlobGets(peers.registry);
      const cold = b.build(coldIid);
      if ((await settledBlobGets(peers.registry)) === gets) throw new Error(`${what}: the cold ${b.key} build fetched no blob from the registry: not cold`);
      if (b.coldOnly === true) return { [`${b.key} cold`]: cold };
      scrub();
      const warm = b.build(warmIid);
      if (readIid(coldIid) === '' || readIid(coldIid) !== readIid(warmIid)) throw new Error(`${what}: the ${b.key} rebuild gave image ${readIid(warmIid)}, the build before ${readIid(coldIid)}: not a cache hit`);
      return { [`${b.key} cold`]: cold, [`${b.key} warm`]: warm };
    },
    after: () => scrub(),
  }));
  env.log(`${what}: ${contenders.length} builders × ${runs} runs${warmup > 0 ? ` (+${warmup} warm-up)` : ''}, cold build + no-op rebuild each`);
  return measureRounds(contenders, { runs, warmup, onRound: (r, n) => env.log(`  round ${r + 1}/${n}`) });
}

/** The cold rows, then the rebuild rows, each compared with kiln's row of its kind. */
export function coldWarmTable(title: string, peers: BuildPeers, samples: Map<string, Sample[]>, bytes?: number): string {
  const rows: Row[] = [];
  for (const [kind, label] of [['cold', 'cold'], ['warm', 'no-op rebuild']] as const) {
    const kiln = samples.get(`kiln ${kind}`);
    const kilnMs = kiln === undefined ? undefined : summarize(kiln.map((s) => s.ms)).median;
    for (const b of peers.builders) {
      if (kind === 'warm' && b.coldOnly === true) continue;
      const extra = { ...(bytes !== undefined ? { bytes } : {}), ...(b.key !== 'kiln' && kilnMs !== undefined ? { kilnMs } : {}) };
      rows.push(row(`${b.label}, ${label}`, samples.get(`${b.key} ${kind}`), extra));
    }
    rows.push(...peers.skipped.map((s) => ({ ...s, label: `${s.label}, ${label}` })));
  }
  return renderTable({ title, rows, cpu: true, rss: true, mbps: bytes !== undefined });
}

/** The notes under a cold/warm table: what "cold" means per builder, and how the numbers were taken. */
export function coldWarmNotes(peers: BuildPeers, warmup: number): string {
  const docker = peers.builders.some((b) => b.key === 'docker');
  const rounds = warmup === 0 ? 'no warm-up round' : `after ${warmup} untimed warm-up round${warmup > 1 ? 's' : ''}`;
  const coldOnly = peers.builders.filter((b) => b.coldOnly === true).map((b) => b.label);
  const onlyCold = coldOnly.length === 0 ? '' : ` ${coldOnly.join(', ')}: the cold build only, with a store of its own.`;
  return [
    `kiln / this compares each row with the **kiln** row of the same kind (cold with cold, rebuild with rebuild). Every round (${rounds}) runs each builder twice in a row: cold, then the same build with nothing changed; the rebuild must give the same image ID (\`--iidfile\`), so it was a cache hit, and every cold build must have fetched blobs from the registry (checked in its access log).${onlyCold} \`sync\` before each build, untimed.`,
    '',
    peers.storesOnTmpfs
      ? "Every builder's store, build cache and temp files are on tmpfs (/dev/shm; kiln's KILN_HOME and TMPDIR, buildah's --root, --runroot and TMPDIR, dockerd's data-root and exec-root; \$STORES in the commands): on this machine's ext4 disk, creating files soon after the bench deleted a 20,000-file store is several times slower (ext4's inode allocator), which hit buildah and BuildKit, which write every file of the context, far more than kiln, which writes a few blobs. The context and testdata/seed are on disk, in the page cache."
      : 'The stores are on disk (no tmpfs with 6 GB free at /dev/shm): file creation there can be slowed by the deletions before each cold build (see build-peers.ts).',
    '',
    'What "cold" includes:',
    ...peers.builders.map((b) => `- ${b.cold}.`),
    '',
    "kiln's CLI start (node + loading the CLI bundle, section 1) is part of every kiln row, and most of a kiln no-op rebuild.",
    ...(docker ? ['', 'For docker, CPU and peak RSS are of the CLI plus the daemon: dockerd and its children, CPU from /proc/PID/stat (reaped children included), peak RSS the largest VmHWM after resetting it (`clear_refs`) before the build; dockerd alone sits at ~100 MiB idle.'] : []),
  ].join('\n');
}
