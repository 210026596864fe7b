/**
 * Test kit for the sandbox: a busybox rootfs built from Debian's
 * busybox-static (apt-get download, dpkg -x, applet links from
 * `busybox --list-full`, /etc/passwd and /etc/group with root, a user 1000
 * and a group 2000 that lists it), cached in the OS temp directory between
 * runs, read as a vfs tree with small additions each test needs.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { DirNode, Meta, Node } from '../../lib/vfs/index.ts';
import { clampMtimes, hostTree, setNode } from '../../lib/vfs/index.ts';
import { ensureTools } from '../helpers/debian-tools.ts';

export const SANDBOX_TOOLS: Readonly<Record<string, string>> = {
  '/usr/bin/bwrap': 'bubblewrap',
  '/usr/bin/getfattr': 'attr',
  '/usr/bin/newuidmap': 'uidmap',
  '/usr/bin/dpkg-deb': 'dpkg',
};

const CACHE = join(tmpdir(), 'kiln-test-busybox-rootfs-v1');

/** Builds (once) and returns the host directory of the busybox rootfs. */
export async function busyboxRootfs(): Promise<string> {
  await ensureTools(SANDBOX_TOOLS);
  if (existsSync(join(CACHE, 'bin', 'busybox'))) return CACHE;
  const work = mkdtempSync(join(tmpdir(), 'kiln-busybox-build-'));
  try {
    execFileSync('apt-get', ['download', 'busybox-static'], { cwd: work, stdio: 'ignore' });
    const deb = readdirSync(work).find((n) => n.endsWith('.deb'));
    if (deb === undefined) throw new Error('apt-get download busybox-static gave no .deb');
    const x = join(work, 'x');
    execFileSync('dpkg', ['-x', join(work, deb), x]);
    const root = join(work, 'rootfs');
    mkdirSync(join(root, 'bin'), { recursive: true });
    renameSync(join(x, 'bin', 'busybox'), join(root, 'bin', 'busybox'));
    const applets = execFileSync(join(root, 'bin', 'busybox'), ['--list-full'], { encoding: 'utf8' }).split('\n').filter(Boolean);
    for (const a of applets) {
      const p = join(root, a);
      if (existsSync(p)) continue;
      mkdirSync(dirname(p), { recursive: true });
      symlinkSync('/bin/busybox', p);
    }
    mkdirSync(join(root, 'etc'));
    writeFileSync(join(root, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\n');
    writeFileSync(join(root, 'etc', 'group'), 'root:x:0:\nuser:x:1000:\nextra:x:2000:user\n');
    mkdirSync(join(root, 'tmp'), { mode: 0o1777 });
    execFileSync('chmod', ['1777', join(root, 'tmp')]);
    mkdirSync(join(root, 'root'), { mode: 0o700 });
    try {
      renameSync(root, CACHE); // atomic: a cache that exists is complete
    } catch (err) {
      // another test process finished first
      if (!existsSync(join(CACHE, 'bin', 'busybox'))) throw err;
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return CACHE;
}

const M: Meta = { mode: 0o644, uid: 0, gid: 0, mtime: 1_600_000_000 };

/** A file node with in-memory bytes. */
export function bytesFile(text: string, meta: Partial<Meta> = {}): Node {
  const data = Buffer.from(text);
  return { kind: 'file', meta: { ...M, ...meta }, size: data.length, content: { kind: 'bytes', data } };
}

/** A directory node. */
export function dirNode(children: Record<string, Node>, meta: Partial<Meta> = {}): DirNode {
  return { kind: 'dir', meta: { ...M, mode: 0o755, ...meta }, children: new Map(Object.entries(children)) };
}

/** The busybox rootfs as a tree (owners 0, mtimes at most 2020-09-13 so a RUN's changes always show), plus `extra` nodes at the given paths (parents must exist or be added first). */
export async function busyboxTree(extra: Record<string, Node> = {}): Promise<DirNode> {
  let tree = clampMtimes(hostTree(await busyboxRootfs()), 1_600_000_000);
  tree = setNode(tree, ['home'], dirNode({ user: dirNode({}, { uid: 1000, gid: 1000 }) }));
  for (const [path, node] of Object.entries(extra)) tree = setNode(tree, path.split('/'), node);
  return tree;
}

/** Available backends on this machine, in the order the tests run them. */
export function backends(): ('bwrap' | 'chroot')[] {
  return process.getuid?.() === 0 ? ['bwrap', 'chroot'] : ['bwrap'];
}
