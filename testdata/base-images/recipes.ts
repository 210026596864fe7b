/**
 * What goes into each base image's root filesystem, from the unpacked
 * Debian packages (see README.md for the layout choices).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PackageName } from './debs.ts';
import { Rootfs } from './rootfs.ts';

/** The applet paths `busybox --list-full` prints (`bin/sh`, `usr/bin/wc`, …), from running the package's static binary here. */
export function busyboxApplets(busybox: string): string[] {
  const r = spawnSync(busybox, ['--list-full'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${busybox} --list-full failed: ${r.stderr}`);
  return r.stdout.split('\n').filter((l) => l !== '');
}

/**
 * The applet list for a busybox binary of another architecture, which
 * cannot run here without emulation: the host package's list, given that
 * both .debs are the same Debian version. Debian builds busybox-static of
 * one version from one source package and one static configuration on
 * every architecture, so the same version has the same applets; another
 * version may not, and is refused. (spec/base-images/arm64.test.ts checks
 * the list against the arm64 binary's own under qemu-user where installed.)
 */
export function foreignBusyboxApplets(host: { version: string; applets: readonly string[] }, foreign: { version: string; arch: string }): string[] {
  if (host.version !== foreign.version) {
    throw new Error(
      `busybox-static ${foreign.arch} is version ${foreign.version} but the host's is ${host.version}: ` +
        `the ${foreign.arch} applet list is taken from the host binary's --list-full, which only holds for the same version ` +
        '(delete the older .deb from testdata/fixtures/debs, or get both to one version)',
    );
  }
  return [...host.applets];
}

/**
 * busybox: the static binary at /bin/busybox (from the busybox-static
 * package unpacked at `pkgDir`) and every applet of `applets` (default: what
 * that binary's `--list-full` prints) as an absolute symlink to it at the
 * path `busybox --install -s` would use (as Alpine lays them out), the
 * account files in `etcDir`, and the usual empty top-level directories.
 */
export function busyboxRootfs(pkgDir: string, etcDir: string, applets?: readonly string[]): Rootfs {
  const fs = new Rootfs();
  for (const d of ['bin', 'dev', 'etc', 'home', 'proc', 'run', 'sbin', 'sys', 'usr/bin', 'usr/sbin', 'usr/local/bin', 'var']) fs.dir(d);
  fs.dir('root', 0o700);
  fs.dir('tmp', 0o1777);
  const busybox = join(pkgDir, 'bin', 'busybox');
  fs.file('bin/busybox', busybox, 0o755);
  for (const applet of applets ?? busyboxApplets(busybox)) {
    // /linuxrc is the initrd's init: meaningless in a container.
    if (applet === 'linuxrc' || applet === 'bin/busybox') continue;
    fs.symlink(applet, '/bin/busybox');
  }
  // Read now, as data: the checkout's mtimes must not reach the image.
  fs.data('etc/passwd', readFileSync(join(etcDir, 'passwd')), 0o644);
  fs.data('etc/group', readFileSync(join(etcDir, 'group')), 0o644);
  fs.data('etc/shadow', readFileSync(join(etcDir, 'shadow')), 0o640);
  return fs;
}

/** Folders of golang-1.19-go's /usr/lib/go-1.19 that are Debian's compatibility symlinks or not wanted. */
const GO_LIB_SKIP = new Set(['api', 'misc', 'src', 'test', 'pkg/include', 'pkg/linux_amd64/cmd']);

/**
 * The Go image: the busybox tree plus glibc's loader and libc.so.6 (Debian's
 * `go` is dynamically linked; the compiler, linker and friends are static)
 * and one GOROOT at /usr/local/go merged from Debian's split layout:
 * /usr/lib/go-1.19 (bin, pkg) and the two packages' /usr/share/go-1.19
 * (src, pkg/include, api, misc). Left out: the precompiled toolchain
 * packages (pkg/linux_amd64/cmd, 140 MB, only for building the toolchain),
 * Go's own test suite (test/) and every src/**\/testdata folder.
 */
export function goRootfs(busybox: Rootfs, pkgs: Record<PackageName, string>): Rootfs {
  const fs = busybox.clone();
  const libc = pkgs.libc6;
  fs.file('lib/x86_64-linux-gnu/ld-linux-x86-64.so.2', join(libc, 'lib/x86_64-linux-gnu/ld-linux-x86-64.so.2'));
  fs.file('lib/x86_64-linux-gnu/libc.so.6', join(libc, 'lib/x86_64-linux-gnu/libc.so.6'));
  fs.symlink('lib64/ld-linux-x86-64.so.2', '/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2');
  const goroot = 'usr/local/go';
  fs.tree(join(pkgs['golang-1.19-go'], 'usr/lib/go-1.19'), goroot, { skip: (rel) => GO_LIB_SKIP.has(rel) });
  fs.tree(join(pkgs['golang-1.19-go'], 'usr/share/go-1.19'), goroot);
  fs.tree(join(pkgs['golang-1.19-src'], 'usr/share/go-1.19'), goroot, {
    skip: (rel, isDir) => isDir && (rel === 'test' || rel.endsWith('/testdata')),
  });
  // As the official golang images: a GOPATH anyone may write to.
  fs.dir('go', 0o777).dir('go/src', 0o777).dir('go/bin', 0o777);
  return fs;
}
