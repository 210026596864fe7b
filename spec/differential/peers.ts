/**
 * Differential kit: kiln and buildah 1.28 side by side. Both pull their bases
 * (the kit's offline busybox, also named alpine) from one local registry
 * standing in for Docker Hub, each keeps its own fresh store for the whole
 * test file (kiln: KILN_HOME; buildah: vfs --root/--runroot), and each final
 * image is written as an OCI layout and unpacked by the same unpacker (umoci,
 * as root so ownership is kept), so the comparison is about the builders only.
 * KILN_DIFFERENTIAL_CLI names another kiln.js to compare (default: this checkout's).
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, statfsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ImageConfig, Index, Manifest } from '../../lib/oci/types.ts';
import { ensureBaseImages } from '../helpers/base-images.ts';
import { ensureTools } from '../helpers/debian-tools.ts';
import { KILN } from '../helpers/kiln.ts';
import { removeAtExit } from '../helpers/managed-process.ts';
import { type RunningRegistry, startRegistry } from '../helpers/registry.ts';
import { dockerRef, skopeoCopy } from '../helpers/skopeo.ts';
import type { DiffCase } from './corpus.ts';
import { type RootfsFacts, rootfsFacts } from './rootfs-facts.ts';
import { type BuildahConfig, writeBuildahConfig } from '../helpers/buildah-config.ts';

export type PeerName = 'kiln' | 'buildah';

/** One builder's result for one case. */
export interface PeerImage {
  peer: PeerName;
  rootfs: RootfsFacts;
  config: ImageConfig;
  /** Layers in the manifest. */
  layerCount: number;
}

export interface Peers {
  registry: RunningRegistry;
  build(peer: PeerName, c: DiffCase): Promise<PeerImage>;
  /** Stops the registry and removes every temp folder. */
  stop(): Promise<void>;
}

const PEER_TOOLS: Readonly<Record<string, string>> = {
  '/usr/bin/buildah': 'buildah',
  '/usr/bin/umoci': 'umoci',
};

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a program to completion without blocking the event loop (so builds can overlap). */
function exec(cmd: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(cmd, args, { env, encoding: 'utf8', maxBuffer: 256 << 20 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
      resolve({ code, stdout, stderr });
    });
  });
}

async function mustExec(what: string, cmd: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<Ran> {
  const r = await exec(cmd, args, env);
  if (r.code !== 0) throw new Error(`${what}: ${cmd} ${args.join(' ')} failed (${r.code}):\n${r.stderr.slice(-4000)}`);
  return r;
}

const blob = (layout: string, digest: string): Buffer => readFileSync(join(layout, 'blobs', ...digest.split(':')));

/** The only manifest of an OCI layout, its ref name and config. */
function readLayout(layout: string): { ref: string; manifest: Manifest; config: ImageConfig } {
  const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as Index;
  if (index.manifests.length !== 1) throw new Error(`${layout}: expected one manifest, found ${index.manifests.length}`);
  const desc = index.manifests[0]!;
  const ref = desc.annotations?.['org.opencontainers.image.ref.name'];
  if (ref === undefined) throw new Error(`${layout}: the manifest has no ref name`);
  const manifest = JSON.parse(blob(layout, desc.digest).toString('utf8')) as Manifest;
  const config = JSON.parse(blob(layout, manifest.config.digest).toString('utf8')) as ImageConfig;
  return { ref, manifest, config };
}

/** `umoci unpack` of the layout's image, then the facts of its rootfs; removes both folders. */
async function unpackFacts(layout: string, ref: string, work: string): Promise<RootfsFacts> {
  const bundle = `${layout}.rootfs`;
  try {
    // `raw unpack`: the root filesystem only (no runtime config.json, which fails on a USER not in /etc/passwd).
    await mustExec('unpacking', 'umoci', ['raw', 'unpack', '--image', `${layout}:${ref}`, bundle], { ...process.env, TMPDIR: work });
    return rootfsFacts(bundle);
  } finally {
    await rm(bundle, { recursive: true, force: true });
    await rm(layout, { recursive: true, force: true });
  }
}

/** --target and --build-arg flags; `{{registry}}` in a build arg's value is the kit registry's host:port. */
const buildFlags = (c: DiffCase, registry: RunningRegistry): string[] => [
  ...(c.target === undefined ? [] : ['--target', c.target]),
  ...Object.entries(c.buildArgs).flatMap(([k, v]) => ['--build-arg', `${k}=${v.replaceAll('{{registry}}', registry.host)}`]),
];

interface PeerDirs extends BuildahConfig {
  work: string;
  /** buildah's --root/--runroot folders (in memory when /dev/shm has room: vfs copies whole trees at every step). */
  buildahStores: string;
  kilnHome: string;
}

const SHM = '/dev/shm';
const SHM_NEEDED = 2 * 2 ** 30;

/** A folder for buildah's stores: in /dev/shm when it is a tmpfs with room (halves buildah's system time), else under `work`. */
function buildahStoresDir(prefix: string, work: string): string {
  try {
    const fs = statfsSync(SHM);
    if (fs.bavail * fs.bsize >= SHM_NEEDED) return mkdtempSync(join(SHM, prefix));
  } catch {
    // no /dev/shm here
  }
  const dir = join(work, 'buildah');
  mkdirSync(dir);
  return dir;
}

function makeDirs(prefix: string, registry: RunningRegistry): PeerDirs {
  const work = mkdtempSync(join(tmpdir(), prefix));
  mkdirSync(join(work, 'out'));
  return { work, buildahStores: buildahStoresDir(prefix, work), kilnHome: join(work, 'kiln-home'), ...writeBuildahConfig(work, registry.host) };
}

async function buildKiln(c: DiffCase, dirs: PeerDirs, registry: RunningRegistry): Promise<PeerImage> {
  const layout = join(dirs.work, 'out', `kiln-${c.name}`);
  const env: NodeJS.ProcessEnv = { ...process.env, KILN_HOME: dirs.kilnHome, DOCKER_CONFIG: dirs.dockerConfig };
  delete env.SOURCE_DATE_EPOCH;
  const args = [
    process.env.KILN_DIFFERENTIAL_CLI ?? KILN, 'build', '--registry-mirror', `docker.io=${registry.url}`,
    '-t', `diff-${c.name}`, '-o', `type=oci,dest=${layout},tar=false`, ...buildFlags(c, registry), '-f', join(c.dir, 'Dockerfile'), c.dir,
  ];
  await mustExec(`kiln build of ${c.name}`, process.execPath, args, env);
  const { ref, manifest, config } = readLayout(layout);
  return { peer: 'kiln', rootfs: await unpackFacts(layout, ref, dirs.work), config, layerCount: manifest.layers.length };
}

/**
 * buildah's stores, one per concurrent build. With vfs every step ends in a
 * sleep to the next full second (containers/storage drivers/fsdiff.go), so
 * builds must overlap to be fast; separate stores keep them from contending
 * for one store's locks.
 */
class BuildahSlots {
  private readonly free: number[];
  private readonly waiting: ((slot: number) => void)[] = [];

  constructor(count: number) {
    this.free = Array.from({ length: count }, (_, i) => i);
  }

  async with<T>(fn: (slot: number) => Promise<T>): Promise<T> {
    const slot = this.free.pop() ?? (await new Promise<number>((resolve) => this.waiting.push(resolve)));
    try {
      return await fn(slot);
    } finally {
      const next = this.waiting.shift();
      if (next === undefined) this.free.push(slot);
      else next(slot);
    }
  }
}

async function buildBuildah(c: DiffCase, dirs: PeerDirs, registry: RunningRegistry, slot: number): Promise<PeerImage> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    CONTAINERS_REGISTRIES_CONF: dirs.registriesConf,
    REGISTRY_AUTH_FILE: dirs.authFile,
    DOCKER_CONFIG: dirs.dockerConfig,
    TMPDIR: dirs.work,
  };
  const global = ['--root', join(dirs.buildahStores, `root-${slot}`), '--runroot', join(dirs.buildahStores, `runroot-${slot}`), '--storage-driver', 'vfs'];
  const tag = `localhost/diff-${c.name}:latest`;
  await mustExec(`buildah bud of ${c.name}`, 'buildah', [
    ...global, 'bud', '--isolation', 'chroot', '--layers', '--identity-label=false', '--format', 'docker',
    '--signature-policy', dirs.policy, ...buildFlags(c, registry), '-t', tag, '-f', join(c.dir, 'Dockerfile'), c.dir,
  ], env);
  // The Docker-format config as committed: `buildah push … oci:` would convert it and drop Healthcheck, Shell and OnBuild.
  const inspect = JSON.parse((await mustExec('buildah inspect', 'buildah', [...global, 'inspect', '--type', 'image', tag], env)).stdout) as {
    Config: string;
    FromImageID: string;
  };
  const configId = createHash('sha256').update(inspect.Config).digest('hex');
  if (configId !== inspect.FromImageID) throw new Error(`buildah inspect ${tag}: its Config does not hash to the image ID ${inspect.FromImageID}`);
  const config = JSON.parse(inspect.Config) as ImageConfig;
  const layout = join(dirs.work, 'out', `buildah-${c.name}`);
  await mustExec('buildah push', 'buildah', [...global, 'push', '--signature-policy', dirs.policy, tag, `oci:${layout}:diff`], env);
  const { manifest } = readLayout(layout);
  return { peer: 'buildah', rootfs: await unpackFacts(layout, 'diff', dirs.work), config, layerCount: manifest.layers.length };
}

/**
 * Installs buildah and umoci when missing (root), starts an open registry,
 * pushes the kit's busybox there as `library/busybox:latest` and
 * `library/alpine:latest`, and prepares fresh stores for both builders under
 * one temp folder (`prefix`); `buildahSlots` buildah builds may run at once.
 * The caller must `stop()` it.
 */
export async function startPeers(prefix: string, opts: { buildahSlots: number }): Promise<Peers> {
  if (process.getuid?.() !== 0) throw new Error('the differential suite needs root: buildah with chroot isolation, and umoci keeping owners as it unpacks');
  await ensureTools(PEER_TOOLS);
  const [images, registry] = await Promise.all([ensureBaseImages(), startRegistry({ mode: 'open' })]);
  for (const name of images.busybox.registryNames) await skopeoCopy(images.busybox.ociRef, dockerRef(registry, name), { registry });
  const dirs = makeDirs(prefix, registry);
  const forget = [removeAtExit(dirs.work), removeAtExit(dirs.buildahStores)];
  const slots = new BuildahSlots(opts.buildahSlots);
  return {
    registry,
    build: (peer, c) => (peer === 'kiln' ? buildKiln(c, dirs, registry) : slots.with((slot) => buildBuildah(c, dirs, registry, slot))),
    stop: async () => {
      await registry.stop();
      await rm(dirs.buildahStores, { recursive: true, force: true });
      await rm(dirs.work, { recursive: true, force: true });
      for (const f of forget) f();
    },
  };
}
