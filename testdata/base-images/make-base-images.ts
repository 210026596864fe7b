/**
 * Builds the offline base images from Debian packages, with kiln itself.
 *
 *   node --import tsx testdata/base-images/make-base-images.ts [--home DIR [--load NAME]...] [--out DIR] [--force]
 *
 * busybox (tagged busybox:latest and alpine:latest), the Go toolchain
 * image (golang:1.9-alpine) and an arm64 busybox (busybox:arm64) become OCI
 * layouts under testdata/fixtures/base-images (or --out), with a fourth
 * layout holding the two-platform busybox index (amd64 + arm64), all
 * described by stamp.json. Cached: when the .debs, this folder's files and
 * the outputs are unchanged, a run only checks that. With --home, images
 * are also put into that kiln local store (`kiln copy`; skipped when it
 * already holds them): busybox and golang, or the images --load names.
 * See README.md.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { createGunzip } from 'node:zlib';
import { type DebFile, debVersion, ensureDebs, extractDeb, extractDebs, foreignApt } from './debs.ts';
import { writeIndexLayout } from './index-layout.ts';
import { withLock } from './lock.ts';
import { busyboxApplets, busyboxRootfs, foreignBusyboxApplets, goRootfs } from './recipes.ts';
import { type Rootfs, newestSourceMtime, writeRootfsTar } from './rootfs.ts';
import {
  APT_ARM64_DIR, type BaseImageName, type BaseImageRecord, type BaseIndexName, type BaseIndexRecord, DEBS_DIR, FIXTURES, type ImagePlatform, OUT_DIR,
  SCRIPT_DIR, STAMP_FILE, type Stamp, TOP, readStamp,
} from './stamp.ts';

const KILN = join(TOP, 'cli', 'kiln.js');
const log = (s: string): void => void process.stderr.write(`base-images: ${s}\n`);

interface ImageSpec {
  name: BaseImageName;
  dockerfile: string;
  tags: string[];
  registryNames: string[];
  /** The platform its config must state; other than the host's, it is passed as `kiln build --platform`. */
  platform: ImagePlatform;
}

const LINUX_AMD64: ImagePlatform = { os: 'linux', architecture: 'amd64' };
const LINUX_ARM64: ImagePlatform = { os: 'linux', architecture: 'arm64' };

const SPECS: Record<BaseImageName, ImageSpec> = {
  busybox: { name: 'busybox', dockerfile: 'busybox.Dockerfile', tags: ['busybox:latest', 'alpine:latest'], registryNames: ['library/busybox:latest', 'library/alpine:latest'], platform: LINUX_AMD64 },
  golang: { name: 'golang', dockerfile: 'golang.Dockerfile', tags: ['golang:1.9-alpine'], registryNames: ['library/golang:1.9-alpine'], platform: LINUX_AMD64 },
  // Pushed to registries only inside busybox-multi; its own name keeps it apart from busybox:latest in a local store.
  'busybox-arm64': { name: 'busybox-arm64', dockerfile: 'busybox.Dockerfile', tags: ['busybox:arm64'], registryNames: [], platform: LINUX_ARM64 },
};

/** What a local store gets by default with --home: the images the single-platform tests build FROM. */
const LOADED_BY_DEFAULT: readonly BaseImageName[] = ['busybox', 'golang'];

interface IndexSpec {
  name: BaseIndexName;
  layoutRef: string;
  /** Its images, in index order. */
  images: BaseImageName[];
  registryNames: string[];
}

const INDEX_SPECS: Record<BaseIndexName, IndexSpec> = {
  'busybox-multi': { name: 'busybox-multi', layoutRef: 'latest', images: ['busybox', 'busybox-arm64'], registryNames: ['library/busybox:latest', 'library/alpine:latest'] },
};

/** The busybox-static .deb for arm64: its own apt lists and cache under testdata/fixtures, the .deb beside the amd64 ones. */
const ARM64_APT = foreignApt('arm64', ['busybox-static'], APT_ARM64_DIR);

/** Every committed input of the build but the README, as relative path → sha256. */
function scriptInputs(): [string, string][] {
  const out: [string, string][] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (name !== 'README.md') out.push([relative(SCRIPT_DIR, path), createHash('sha256').update(readFileSync(path)).digest('hex')]);
    }
  };
  walk(SCRIPT_DIR);
  return out;
}

function cacheKey(debs: readonly DebFile[]): string {
  const debIds = debs.map((d) => [d.file, d.sha256]);
  return createHash('sha256').update(JSON.stringify({ inputs: scriptInputs(), debs: debIds })).digest('hex');
}

/** Runs the kiln CLI; throws with its output when it fails. */
function kiln(args: readonly string[], env: NodeJS.ProcessEnv): string {
  const r = spawnSync(process.execPath, [KILN, ...args], { env: { ...process.env, ...env }, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`kiln ${args.join(' ')} failed (${r.status ?? r.signal}):\n${r.stdout}${r.stderr}`);
  return r.stdout;
}

interface Desc { digest: string; size: number; mediaType: string; annotations?: Record<string, string> }

function blobPath(layout: string, digest: string): string {
  return join(layout, 'blobs', ...digest.split(':'));
}

async function gunzippedSize(path: string): Promise<number> {
  let size = 0;
  for await (const chunk of createReadStream(path).pipe(createGunzip())) size += (chunk as Buffer).length;
  return size;
}

/** Reads back what kiln wrote: the one image in `layout`. */
async function describeLayout(layout: string): Promise<Pick<BaseImageRecord, 'layoutRef' | 'manifestDigest' | 'configDigest' | 'compressedSize' | 'uncompressedSize' | 'platform'>> {
  const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as { manifests: Desc[] };
  const [entry] = index.manifests;
  if (entry === undefined || index.manifests.length !== 1) throw new Error(`${layout}: expected one image, found ${index.manifests.length}`);
  const manifest = JSON.parse(readFileSync(blobPath(layout, entry.digest), 'utf8')) as { config: Desc; layers: Desc[] };
  const config = JSON.parse(readFileSync(blobPath(layout, manifest.config.digest), 'utf8')) as ImagePlatform;
  let uncompressedSize = 0;
  for (const layer of manifest.layers) {
    const path = blobPath(layout, layer.digest);
    uncompressedSize += layer.mediaType.endsWith('+gzip') ? await gunzippedSize(path) : statSync(path).size;
  }
  return {
    layoutRef: entry.annotations?.['org.opencontainers.image.ref.name'] ?? '',
    manifestDigest: entry.digest,
    configDigest: manifest.config.digest,
    compressedSize: entry.size + manifest.config.size + manifest.layers.reduce((n, l) => n + l.size, 0),
    uncompressedSize,
    platform: { os: config.os, architecture: config.architecture, ...(config.variant === undefined ? {} : { variant: config.variant }) },
  };
}

/** Writes the rootfs tar and Dockerfile into a context folder and builds it with kiln into an OCI layout at `dest`. */
async function buildImage(spec: ImageSpec, fs: Rootfs, work: string, dest: string, buildArgs: Record<string, string>): Promise<BaseImageRecord> {
  const started = Date.now();
  const ctx = join(work, `ctx-${spec.name}`);
  mkdirSync(ctx);
  const epoch = newestSourceMtime(fs);
  const tar = await writeRootfsTar(fs, join(ctx, 'rootfs.tar'), epoch);
  writeFileSync(join(ctx, 'Dockerfile'), readFileSync(join(SCRIPT_DIR, spec.dockerfile)));
  const args = ['build', '-f', join(ctx, 'Dockerfile'), ...spec.tags.flatMap((t) => ['-t', t]), '-o', `type=oci,dest=${dest},tar=false`];
  // The host's images are built without --platform, as before there was an arm64 one (same digests).
  if (platformText(spec.platform) !== platformText(LINUX_AMD64)) args.push('--platform', platformText(spec.platform));
  for (const [k, v] of Object.entries(buildArgs)) args.push('--build-arg', `${k}=${v}`);
  kiln([...args, ctx], { KILN_HOME: join(work, 'home'), SOURCE_DATE_EPOCH: String(epoch) });
  rmSync(ctx, { recursive: true, force: true });
  const described = await describeLayout(dest);
  if (platformText(described.platform) !== platformText(spec.platform)) {
    throw new Error(`kiln built ${spec.name} for ${platformText(described.platform)}, not ${platformText(spec.platform)}`);
  }
  log(`built ${spec.name} ${described.manifestDigest} (${tar.entries} entries, ${((Date.now() - started) / 1000).toFixed(1)} s)`);
  return { name: spec.name, layout: spec.name, tags: spec.tags, registryNames: spec.registryNames, epoch, rootfsEntries: tar.entries, ...described };
}

function platformText(p: ImagePlatform): string {
  return `${p.os}/${p.architecture}${p.variant === undefined ? '' : `/${p.variant}`}`;
}

/** Writes the index layout `spec` names into `outDir`, over the images already there. */
function buildIndex(spec: IndexSpec, images: Record<BaseImageName, BaseImageRecord>, outDir: string): BaseIndexRecord {
  const parts = spec.images.map((name) => ({ layout: join(outDir, images[name].layout), manifestDigest: images[name].manifestDigest, platform: images[name].platform }));
  const written = writeIndexLayout(join(outDir, spec.name), parts, spec.layoutRef);
  log(`wrote ${spec.name} ${written.digest} (${spec.images.map((n) => platformText(images[n].platform)).join(', ')})`);
  return {
    name: spec.name,
    layout: spec.name,
    layoutRef: spec.layoutRef,
    registryNames: spec.registryNames,
    ...written,
    manifests: spec.images.map((name) => ({ image: name, manifestDigest: images[name].manifestDigest, platform: images[name].platform })),
  };
}

/** The arm64 busybox's root filesystem: the arm64 binary with the amd64 one's applet list (see foreignBusyboxApplets). */
function arm64BusyboxRootfs(hostDeb: DebFile, hostDir: string, arm64Deb: DebFile, work: string): Rootfs {
  const arm64Dir = extractDeb(arm64Deb, join(work, 'debs-arm64', arm64Deb.pkg));
  const applets = foreignBusyboxApplets(
    { version: debVersion(hostDeb.file), applets: busyboxApplets(join(hostDir, 'bin', 'busybox')) },
    { version: debVersion(arm64Deb.file), arch: arm64Deb.arch },
  );
  return busyboxRootfs(arm64Dir, join(SCRIPT_DIR, 'etc'), applets);
}

interface Debs {
  /** The host's (amd64) packages. */
  host: DebFile[];
  arm64: DebFile[];
}

const allDebs = (debs: Debs): DebFile[] => [...debs.host, ...debs.arm64];

/** Builds every image and index into a fresh folder next to `outDir`, then swaps them in and writes the stamp last. */
async function buildAll(debs: Debs, key: string, outDir: string): Promise<Stamp> {
  const started = Date.now();
  mkdirSync(dirname(outDir), { recursive: true });
  const work = mkdtempSync(join(dirname(outDir), '.base-images-work-'));
  try {
    const pkgs = extractDebs(debs.host, join(work, 'debs'));
    const hostBusybox = debs.host.find((d) => d.pkg === 'busybox-static')!;
    const arm64Busybox = debs.arm64.find((d) => d.pkg === 'busybox-static')!;
    const busyboxArm64 = arm64BusyboxRootfs(hostBusybox, pkgs['busybox-static'], arm64Busybox, work);
    log(`unpacked the .debs (${((Date.now() - started) / 1000).toFixed(1)} s)`);
    const busybox = busyboxRootfs(pkgs['busybox-static'], join(SCRIPT_DIR, 'etc'));
    const goVersion = readFileSync(join(pkgs['golang-1.19-go'], 'usr/lib/go-1.19/VERSION'), 'utf8').trim().replace(/^go/, '');
    const newOut = join(work, 'out');
    mkdirSync(newOut);
    const images: Record<BaseImageName, BaseImageRecord> = {
      busybox: await buildImage(SPECS.busybox, busybox, work, join(newOut, 'busybox'), {}),
      golang: await buildImage(SPECS.golang, goRootfs(busybox, pkgs), work, join(newOut, 'golang'), { GOLANG_VERSION: goVersion }),
      'busybox-arm64': await buildImage(SPECS['busybox-arm64'], busyboxArm64, work, join(newOut, 'busybox-arm64'), {}),
    };
    // Blobs are hard-linked from the layouts above: build it in newOut, where they are, and move it with them.
    const indexes: Record<BaseIndexName, BaseIndexRecord> = { 'busybox-multi': buildIndex(INDEX_SPECS['busybox-multi'], images, newOut) };
    const stamp: Stamp = { key, debs: allDebs(debs).map(debRecord), images, indexes, buildMs: Date.now() - started };
    mkdirSync(outDir, { recursive: true });
    rmSync(join(outDir, STAMP_FILE), { force: true });
    for (const name of [...Object.keys(images), ...Object.keys(indexes)]) {
      rmSync(join(outDir, name), { recursive: true, force: true });
      renameSync(join(newOut, name), join(outDir, name));
    }
    writeStamp(outDir, stamp);
    return stamp;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function debRecord(d: DebFile): Stamp['debs'][number] {
  return { file: d.file, sha256: d.sha256, size: d.size, mtimeMs: d.mtimeMs };
}

/** Replaces the stamp atomically (temp file + rename). */
function writeStamp(outDir: string, stamp: Stamp): void {
  const tmp = join(outDir, `.${STAMP_FILE}.${process.pid}`);
  writeFileSync(tmp, `${JSON.stringify(stamp, null, 2)}\n`);
  renameSync(tmp, join(outDir, STAMP_FILE));
}

/** The local store's index entries as name → manifest digest (the store is an OCI layout, see lib/transport/local-store.ts). */
function storeNames(home: string): Map<string, string> {
  const path = join(home, 'index.json');
  if (!existsSync(path)) return new Map();
  const index = JSON.parse(readFileSync(path, 'utf8')) as { manifests: Desc[] };
  return new Map(index.manifests.map((m) => [m.annotations?.['org.opencontainers.image.ref.name'] ?? '', m.digest]));
}

/** Puts each image of `names` under each of its tags into the local store at `home`, unless it already names that image. */
function loadIntoHome(home: string, outDir: string, stamp: Stamp, names: readonly BaseImageName[]): void {
  const have = storeNames(home);
  for (const image of names.map((n) => stamp.images[n])) {
    for (const tag of image.tags) {
      if (have.get(`docker.io/library/${tag}`) === image.manifestDigest) continue;
      kiln(['copy', '--quiet', `oci:${join(outDir, image.layout)}:${image.layoutRef}`, tag], { KILN_HOME: home });
      log(`loaded ${tag} into ${home}`);
    }
  }
}

async function main(): Promise<void> {
  const started = Date.now();
  const { values } = parseArgs({ options: { home: { type: 'string' }, out: { type: 'string' }, force: { type: 'boolean' }, load: { type: 'string', multiple: true } } });
  const outDir = resolve(values.out ?? OUT_DIR);
  const load = (values.load ?? LOADED_BY_DEFAULT).map((n) => {
    if (!(n in SPECS)) throw new Error(`--load ${n}: not an image (${Object.keys(SPECS).join(', ')})`);
    return n as BaseImageName;
  });
  if (values.load !== undefined && values.home === undefined) throw new Error('--load needs --home');
  mkdirSync(FIXTURES, { recursive: true });
  // One lock for all output folders: they share the .deb cache.
  await withLock(join(FIXTURES, '.base-images.lock'), async () => {
    let stamp = readStamp(outDir);
    const known = new Map(stamp?.debs.map((d) => [d.file, d]));
    const debs: Debs = { host: ensureDebs(DEBS_DIR, log, known), arm64: ensureDebs(DEBS_DIR, log, known, ARM64_APT) };
    const key = cacheKey(allDebs(debs));
    if (values.force === true || stamp?.key !== key) stamp = await buildAll(debs, key, outDir);
    else {
      log(`cached in ${outDir}`);
      const debRecords = allDebs(debs).map(debRecord);
      // Same contents, new mtimes (a re-download, a copy): remember them so the next run need not hash again.
      if (JSON.stringify(debRecords) !== JSON.stringify(stamp.debs)) writeStamp(outDir, { ...stamp, debs: debRecords });
    }
    if (values.home !== undefined) loadIntoHome(resolve(values.home), outDir, stamp, load);
  });
  log(`done in ${((Date.now() - started) / 1000).toFixed(2)} s`);
}

try {
  await main();
} catch (err) {
  log(`failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
}
