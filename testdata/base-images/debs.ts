/**
 * The Debian packages the base images are made of: fetched once with
 * `apt-get download` into a cache folder (apt verifies them against the
 * signed archive index), identified by file name and sha256, unpacked with
 * `dpkg -x`.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** Every package either image needs. */
export const PACKAGES = ['busybox-static', 'golang-1.19-go', 'golang-1.19-src', 'libc6'] as const;
export type PackageName = (typeof PACKAGES)[number];

export interface DebFile {
  pkg: PackageName;
  /** The file name as apt writes it (the epoch's `:` is `%3a`). */
  file: string;
  path: string;
  sha256: string;
  size: number;
  mtimeMs: number;
}

/** Hashes computed before, by file name: reused while size and mtime are unchanged. */
export type KnownDebs = ReadonlyMap<string, Pick<DebFile, 'sha256' | 'size' | 'mtimeMs'>>;

function exec(cmd: string, args: readonly string[], cwd?: string): { ok: boolean; out: string } {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', maxBuffer: 64 << 20, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  if (r.error !== undefined) return { ok: false, out: r.error.message };
  return { ok: r.status === 0, out: `${r.stdout}${r.stderr}` };
}

function newer(a: string, b: string): boolean {
  // `1:1.35.0-4` in a file name is `1%3a1.35.0-4`
  const version = (file: string): string => decodeURIComponent(file.split('_')[1] ?? '');
  return exec('dpkg', ['--compare-versions', version(a), 'gt', version(b)]).ok;
}

/** The cached .deb of `pkg` in `dir` (the newest version when there are several), if any. */
function cached(dir: string, pkg: PackageName): string | undefined {
  const files = readdirSync(dir).filter((f) => f.startsWith(`${pkg}_`) && f.endsWith('.deb'));
  return files.reduce<string | undefined>((best, f) => (best === undefined || newer(f, best) ? f : best), undefined);
}

/** `apt-get download` into a temp folder, then renames into `dir`, so a cut-off download never looks cached. */
function download(dir: string, pkgs: readonly PackageName[], log: (s: string) => void): void {
  const tmp = mkdtempSync(join(dir, '.download-'));
  try {
    // As root apt drops to the `_apt` user, who cannot write here; downloading as root is what it falls back to anyway.
    const sandbox = process.getuid?.() === 0 ? ['-o', 'APT::Sandbox::User=root'] : [];
    const args = [...sandbox, '-qq', 'download', ...pkgs];
    log(`apt-get download ${pkgs.join(' ')}`);
    let r = exec('apt-get', args, tmp);
    if (!r.ok) {
      // The package lists may be missing or out of date (a file 404s after a point release).
      log(`apt-get download failed; apt-get update and retry:\n${r.out.trim()}`);
      const up = exec('apt-get', ['-qq', 'update']);
      if (!up.ok) throw new Error(`apt-get update failed${process.getuid?.() === 0 ? '' : ' (it needs root)'}:\n${up.out}`);
      r = exec('apt-get', args, tmp);
      if (!r.ok) throw new Error(`apt-get download ${pkgs.join(' ')} failed:\n${r.out}`);
    }
    for (const f of readdirSync(tmp)) renameSync(join(tmp, f), join(dir, f));
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/**
 * Makes sure every package is in `dir` (downloading only what is missing)
 * and describes each. A file `known` lists with the same size and mtime is
 * not hashed again (85 MB: a quarter second, most of a cached run).
 */
export function ensureDebs(dir: string, log: (s: string) => void, known: KnownDebs = new Map()): DebFile[] {
  mkdirSync(dir, { recursive: true });
  const missing = PACKAGES.filter((p) => cached(dir, p) === undefined);
  if (missing.length > 0) download(dir, missing, log);
  return PACKAGES.map((pkg) => {
    const file = cached(dir, pkg);
    if (file === undefined) throw new Error(`apt-get download did not leave a ${pkg}_*.deb in ${dir}`);
    const path = join(dir, file);
    const { size, mtimeMs } = statSync(path);
    const old = known.get(file);
    if (old !== undefined && old.size === size && old.mtimeMs === mtimeMs) return { pkg, file, path, sha256: old.sha256, size, mtimeMs };
    return { pkg, file, path, sha256: createHash('sha256').update(readFileSync(path)).digest('hex'), size, mtimeMs };
  });
}

/** Unpacks each package's files with `dpkg -x` into `<dest>/<package>`; returns those folders by package. */
export function extractDebs(debs: readonly DebFile[], dest: string): Record<PackageName, string> {
  const out = {} as Record<PackageName, string>;
  for (const deb of debs) {
    const dir = join(dest, deb.pkg);
    mkdirSync(dir, { recursive: true });
    const r = exec('dpkg', ['-x', deb.path, dir]);
    if (!r.ok) throw new Error(`dpkg -x ${deb.file} failed:\n${r.out}`);
    out[deb.pkg] = dir;
  }
  return out;
}
