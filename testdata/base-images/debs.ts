/**
 * The Debian packages the base images are made of: fetched once with
 * `apt-get download` into a cache folder (apt verifies them against the
 * signed archive index), identified by file name and sha256, unpacked with
 * `dpkg -x`. The host's packages (amd64) come through the system's apt
 * setup; a foreign architecture's (arm64) through apt-get run with its own
 * lists and cache folders, so /etc/apt and /var/lib/apt stay untouched.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** Every package the amd64 images need. */
export const PACKAGES = ['busybox-static', 'golang-1.19-go', 'golang-1.19-src', 'libc6'] as const;
export type PackageName = (typeof PACKAGES)[number];

/** The images' own architecture: the host's apt setup gives it (the Go recipe's paths are x86_64's). */
export const HOST_ARCH = 'amd64';

export interface DebFile {
  pkg: PackageName;
  /** Debian architecture the file is for as its name says: `amd64`, `arm64` or `all`. */
  arch: string;
  /** The file name as apt writes it (the epoch's `:` is `%3a`). */
  file: string;
  path: string;
  sha256: string;
  size: number;
  mtimeMs: number;
}

/** Hashes computed before, by file name: reused while size and mtime are unchanged. */
export type KnownDebs = ReadonlyMap<string, Pick<DebFile, 'sha256' | 'size' | 'mtimeMs'>>;

/** How apt-get fetches one architecture's packages. */
export interface AptTarget {
  arch: string;
  packages: readonly PackageName[];
  /** `-o` options for every apt-get call: none for the host's setup; a foreign architecture's own state folders. */
  options: readonly string[];
  /** A foreign target's private apt folders (the lists are empty until its first `update`); undefined for the host. */
  state?: { listsDir: string; cacheDir: string };
}

/** The host's packages, through the system's apt setup. */
export const HOST_APT: AptTarget = { arch: HOST_ARCH, packages: PACKAGES, options: [] };

/**
 * `packages` for the foreign `arch`, with apt's lists and cache in
 * `stateDir` (`lists/`, `cache/`): `apt-get update` there downloads that
 * architecture's indexes from the sources in /etc/apt without writing to
 * /var/lib/apt, /var/cache/apt or /etc/apt.
 */
export function foreignApt(arch: string, packages: readonly PackageName[], stateDir: string): AptTarget {
  const listsDir = join(stateDir, 'lists');
  const cacheDir = join(stateDir, 'cache');
  return {
    arch,
    packages,
    state: { listsDir, cacheDir },
    options: [`APT::Architecture=${arch}`, `APT::Architectures=${arch}`, `Dir::State::Lists=${listsDir}`, `Dir::Cache=${cacheDir}`].flatMap((o) => ['-o', o]),
  };
}

function exec(cmd: string, args: readonly string[], cwd?: string): { ok: boolean; out: string } {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', maxBuffer: 64 << 20, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  if (r.error !== undefined) return { ok: false, out: r.error.message };
  return { ok: r.status === 0, out: `${r.stdout}${r.stderr}` };
}

/** The Debian version in a .deb's file name (`1%3a1.35.0-4_amd64.deb` → `1:1.35.0-4`). */
export function debVersion(file: string): string {
  return decodeURIComponent(file.split('_')[1] ?? '');
}

function newer(a: string, b: string): boolean {
  return exec('dpkg', ['--compare-versions', debVersion(a), 'gt', debVersion(b)]).ok;
}

/**
 * The cached .deb of `pkg` for `arch` in `dir` (the newest version when
 * there are several), if any. amd64 and arm64 files of one package share
 * the folder and differ only in the name's last part, so it is matched
 * whole: `<pkg>_<version>_<arch|all>.deb`.
 */
function cached(dir: string, pkg: PackageName, arch: string): string | undefined {
  const files = readdirSync(dir).filter((f) => {
    const parts = f.split('_');
    return parts.length === 3 && parts[0] === pkg && (parts[2] === `${arch}.deb` || parts[2] === 'all.deb');
  });
  return files.reduce<string | undefined>((best, f) => (best === undefined || newer(f, best) ? f : best), undefined);
}

/** `apt-get update` for `apt`: the system's lists for the host, the target's own folders otherwise. */
function update(apt: AptTarget, sandbox: readonly string[], log: (s: string) => void): void {
  if (apt.state !== undefined) {
    // apt does not create these itself.
    mkdirSync(join(apt.state.listsDir, 'partial'), { recursive: true });
    mkdirSync(join(apt.state.cacheDir, 'archives', 'partial'), { recursive: true });
  }
  log(`apt-get update${apt.state === undefined ? '' : ` (${apt.arch}, lists in ${apt.state.listsDir})`}`);
  const up = exec('apt-get', [...sandbox, ...apt.options, '-qq', 'update']);
  if (!up.ok) throw new Error(`apt-get update failed${process.getuid?.() === 0 || apt.state !== undefined ? '' : ' (it needs root)'}:\n${up.out}`);
}

/** Whether a foreign target's lists folder holds no package index yet. */
function listsEmpty(apt: AptTarget): boolean {
  if (apt.state === undefined) return false;
  const { listsDir } = apt.state;
  return !existsSync(listsDir) || !readdirSync(listsDir).some((f) => /_Packages(\.|$)/.test(f));
}

/** `apt-get download` into a temp folder, then renames into `dir`, so a cut-off download never looks cached. */
function download(dir: string, pkgs: readonly PackageName[], apt: AptTarget, log: (s: string) => void): void {
  const tmp = mkdtempSync(join(dir, '.download-'));
  try {
    // As root apt drops to the `_apt` user, who cannot write here; downloading as root is what it falls back to anyway.
    const sandbox = process.getuid?.() === 0 ? ['-o', 'APT::Sandbox::User=root'] : [];
    const args = [...sandbox, ...apt.options, '-qq', 'download', ...pkgs];
    if (listsEmpty(apt)) update(apt, sandbox, log);
    log(`apt-get download ${pkgs.join(' ')} (${apt.arch})`);
    let r = exec('apt-get', args, tmp);
    if (!r.ok) {
      // The package lists may be missing or out of date (a file 404s after a point release).
      log(`apt-get download failed; apt-get update and retry:\n${r.out.trim()}`);
      // The system's own update runs as before (apt drops to _apt, who owns /var/lib/apt/lists); a private lists folder is root's.
      update(apt, apt.state === undefined ? [] : sandbox, log);
      r = exec('apt-get', args, tmp);
      if (!r.ok) throw new Error(`apt-get download ${pkgs.join(' ')} (${apt.arch}) failed:\n${r.out}`);
    }
    for (const f of readdirSync(tmp)) renameSync(join(tmp, f), join(dir, f));
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/**
 * Makes sure every package of `apt` is in `dir` (downloading only what is
 * missing, so no network once they are there) and describes each. A file
 * `known` lists with the same size and mtime is not hashed again (85 MB: a
 * quarter second, most of a cached run).
 */
export function ensureDebs(dir: string, log: (s: string) => void, known: KnownDebs = new Map(), apt: AptTarget = HOST_APT): DebFile[] {
  mkdirSync(dir, { recursive: true });
  const missing = apt.packages.filter((p) => cached(dir, p, apt.arch) === undefined);
  if (missing.length > 0) download(dir, missing, apt, log);
  return apt.packages.map((pkg) => {
    const file = cached(dir, pkg, apt.arch);
    if (file === undefined) throw new Error(`apt-get download did not leave a ${pkg}_*_${apt.arch}.deb in ${dir}`);
    const path = join(dir, file);
    const arch = file.slice(file.lastIndexOf('_') + 1, -'.deb'.length);
    const { size, mtimeMs } = statSync(path);
    const old = known.get(file);
    if (old !== undefined && old.size === size && old.mtimeMs === mtimeMs) return { pkg, arch, file, path, sha256: old.sha256, size, mtimeMs };
    return { pkg, arch, file, path, sha256: createHash('sha256').update(readFileSync(path)).digest('hex'), size, mtimeMs };
  });
}

/** Unpacks one package's files with `dpkg -x` into `dir`; returns `dir`. */
export function extractDeb(deb: DebFile, dir: string): string {
  mkdirSync(dir, { recursive: true });
  const r = exec('dpkg', ['-x', deb.path, dir]);
  if (!r.ok) throw new Error(`dpkg -x ${deb.file} failed:\n${r.out}`);
  return dir;
}

/** Unpacks each package into `<dest>/<package>`; returns those folders by package. */
export function extractDebs(debs: readonly DebFile[], dest: string): Record<PackageName, string> {
  const out = {} as Record<PackageName, string>;
  for (const deb of debs) {
    if (deb.pkg in out) throw new Error(`two ${deb.pkg} packages to unpack into ${dest}`);
    out[deb.pkg] = extractDeb(deb, join(dest, deb.pkg));
  }
  return out;
}
