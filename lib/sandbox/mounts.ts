import { execFileSync } from 'node:child_process';
import { chmodSync, lchownSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type DirNode, getNode, materialize, resolvePath } from '../vfs/index.ts';
import { hostsFile, resolvConf, DEFAULT_HOSTNAME } from './etc-files.ts';
import { SandboxError } from './errors.ts';
import type { RunSpec } from './types.ts';
import { writeNode } from './write-node.ts';

/** One mount of a run, with its target resolved inside the rootfs and its host source ready. */
export interface PlannedMount {
  type: 'bind' | 'tmpfs' | 'proc' | 'dev';
  /** Absolute, symlink-free path inside the rootfs. */
  target: string;
  /** Whether the mountpoint is a directory or a file (bind of a file or socket). */
  kind: 'dir' | 'file';
  source?: string;
  readonly: boolean;
  size?: number;
}

export interface MountPlan {
  mounts: PlannedMount[];
  /** Paths (relative, deepest last) that a mountpoint may create because the tree lacks them. */
  stubs: string[];
}

/**
 * Resolves every mount of a run against the tree the rootfs holds and
 * prepares its host source in `runDir`: /dev, /proc, /etc/hosts and
 * /etc/resolv.conf (read-only binds of generated files, as BuildKit), then
 * the RUN's mounts in order. Targets are resolved with symlinks confined to
 * the rootfs, so no backend ever follows an image's symlink out of it.
 * Tree sources are materialized; read-write binds of host paths are copied
 * (writes discarded); secrets are written 0400 (or their mode) for the run
 * only. A target that is not absolute, passes through a file, or would put
 * a directory on a file (or the reverse) is MOUNT_INVALID.
 */
export async function planMounts(tree: DirNode, spec: RunSpec, runDir: string, privileged: boolean): Promise<MountPlan> {
  const network = spec.network ?? 'default';
  const hosts = join(runDir, 'hosts');
  const resolv = join(runDir, 'resolv.conf');
  writeFileSync(hosts, hostsFile(spec.hostname ?? DEFAULT_HOSTNAME, spec.extraHosts), { mode: 0o644 });
  writeFileSync(resolv, resolvConf(network), { mode: 0o644 });
  const plan: MountPlan = { mounts: [], stubs: [] };
  const add = (m: Omit<PlannedMount, 'target'> & { target: string }): void => {
    plan.mounts.push({ ...m, target: resolveTarget(tree, m.target, m.kind, plan.stubs) });
  };
  add({ type: 'dev', target: '/dev', kind: 'dir', readonly: false });
  add({ type: 'proc', target: '/proc', kind: 'dir', readonly: false });
  add({ type: 'bind', target: '/etc/hosts', kind: 'file', source: hosts, readonly: true });
  add({ type: 'bind', target: '/etc/resolv.conf', kind: 'file', source: resolv, readonly: true });
  let i = 0;
  for (const m of spec.mounts ?? []) {
    const dest = join(runDir, `m${i++}`);
    switch (m.type) {
      case 'bind':
        if (m.source.kind === 'tree') {
          const node = m.source.node;
          if (node.kind === 'dir') await materialize(node, dest);
          else writeNode(node, dest, { privileged, links: new Map() });
          add({ type: 'bind', target: m.target, kind: node.kind === 'dir' ? 'dir' : 'file', source: dest, readonly: m.readonly });
        } else {
          const kind = hostKind(m.source.path, m.target);
          // Writes to a read-write bind are discarded (BuildKit mounts a copy-on-write snapshot): bind a copy.
          if (!m.readonly) execFileSync('cp', ['-a', '--reflink=auto', '--', m.source.path, dest]);
          add({ type: 'bind', target: m.target, kind, source: m.readonly ? m.source.path : dest, readonly: m.readonly });
        }
        break;
      case 'cache':
        add({ type: 'bind', target: m.target, kind: hostKind(m.hostDir, m.target), source: m.hostDir, readonly: m.readonly ?? false });
        break;
      case 'tmpfs':
        add({ type: 'tmpfs', target: m.target, kind: 'dir', readonly: false, ...(m.size === undefined ? {} : { size: m.size }) });
        break;
      case 'secret':
        writeFileSync(dest, m.data, { mode: 0o600 });
        if (privileged) lchownSync(dest, m.uid ?? 0, m.gid ?? 0);
        chmodSync(dest, m.mode ?? 0o400);
        add({ type: 'bind', target: m.target, kind: 'file', source: dest, readonly: true });
        break;
      case 'ssh':
        add({ type: 'bind', target: m.target, kind: 'file', source: m.socket, readonly: false });
        break;
    }
  }
  return plan;
}

function hostKind(path: string, target: string): 'dir' | 'file' {
  try {
    return statSync(path).isDirectory() ? 'dir' : 'file';
  } catch (cause) {
    throw new SandboxError('MOUNT_INVALID', `the source of the mount at ${target} does not exist: ${path}`, { cause, target });
  }
}

/**
 * The symlink-free absolute path of `target` inside the tree; the missing
 * components along it are added to `stubs` (a backend creates them as
 * mountpoints; they are removed after the run).
 */
export function resolveTarget(tree: DirNode, target: string, kind: 'dir' | 'file', stubs: string[]): string {
  if (!target.startsWith('/')) throw new SandboxError('MOUNT_INVALID', `mount target ${JSON.stringify(target)} is not absolute`, { target });
  let comps: string[];
  try {
    comps = resolvePath(tree, target, { followFinal: true }).path;
  } catch (cause) {
    throw new SandboxError('MOUNT_INVALID', `cannot mount at ${target}: ${(cause as Error).message}`, { cause, target });
  }
  if (comps.length === 0) throw new SandboxError('MOUNT_INVALID', 'cannot mount over the root directory', { target });
  const existing = getNode(tree, comps);
  if (existing !== undefined && (existing.kind === 'dir') !== (kind === 'dir')) {
    throw new SandboxError('MOUNT_INVALID', `cannot mount a ${kind === 'dir' ? 'directory' : 'file'} at ${target}: /${comps.join('/')} is a ${existing.kind === 'dir' ? 'directory' : 'file'}`, { target });
  }
  for (let i = 1; i <= comps.length; i++) {
    const rel = comps.slice(0, i).join('/');
    if (getNode(tree, comps.slice(0, i)) === undefined && !stubs.includes(rel)) stubs.push(rel);
  }
  return `/${comps.join('/')}`;
}
