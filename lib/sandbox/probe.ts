import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { SandboxError } from './errors.ts';
import type { BackendName, IdMapping } from './types.ts';

/** `auto` picks bubblewrap when it works, else unshare + chroot when root. */
export type BackendChoice = 'auto' | BackendName;

/** The host programs a backend uses (absolute paths). */
export interface SandboxTools {
  bwrap?: string;
  setpriv?: string;
  unshare?: string;
  mount?: string;
  sh?: string;
  ip?: string;
  getfattr?: string;
  setfattr?: string;
}

/** What {@link probeSandbox} found: the backend runs will use and how ids map. */
export interface SandboxInfo {
  backend: BackendName;
  idMapping: IdMapping;
  tools: SandboxTools;
}

const SEARCH = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/** The absolute path of `name` in PATH or the usual directories, if executable. */
export function findTool(name: string): string | undefined {
  const dirs = [...(process.env['PATH'] ?? '').split(delimiter).filter((d) => d.startsWith('/')), ...SEARCH];
  for (const d of dirs) {
    const p = join(d, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

const cache = new Map<BackendChoice, SandboxInfo>();

/**
 * Chooses the sandbox backend once per process: bubblewrap when it can
 * start a sandbox here (as root, or rootless with user namespaces), else
 * unshare + chroot when running as root. Forcing a backend that cannot
 * work, or having none, is SANDBOX_UNAVAILABLE with what to install or
 * enable. Runs one trivial bwrap (a few ms) the first time.
 */
export function probeSandbox(choice: BackendChoice = 'auto'): SandboxInfo {
  const hit = cache.get(choice);
  if (hit !== undefined) return hit;
  const privileged = process.getuid?.() === 0;
  const tools: SandboxTools = {};
  for (const name of ['bwrap', 'setpriv', 'unshare', 'mount', 'sh', 'ip', 'getfattr', 'setfattr'] as const) {
    const p = findTool(name);
    if (p !== undefined) tools[name] = p;
  }
  const idMapping: IdMapping = privileged ? 'host' : 'single';
  let backend: BackendName | undefined;
  const bwrapProblem = checkBwrap(tools, privileged);
  const chrootProblem = checkChroot(tools, privileged);
  if (choice === 'bwrap' || (choice === 'auto' && bwrapProblem === undefined)) {
    if (bwrapProblem !== undefined) throw new SandboxError('SANDBOX_UNAVAILABLE', bwrapProblem, { backend: 'bwrap' });
    backend = 'bwrap';
  } else {
    if (chrootProblem !== undefined) {
      const why = choice === 'chroot' ? chrootProblem : `${bwrapProblem}; and ${chrootProblem}`;
      throw new SandboxError('SANDBOX_UNAVAILABLE', `no sandbox for RUN: ${why}`, { backend: choice });
    }
    backend = 'chroot';
  }
  const info: SandboxInfo = { backend, idMapping, tools };
  cache.set(choice, info);
  return info;
}

function checkBwrap(tools: SandboxTools, privileged: boolean): string | undefined {
  if (tools.bwrap === undefined) return 'bubblewrap is not installed (apt-get install -y bubblewrap)';
  if (privileged && tools.setpriv === undefined) return 'setpriv (util-linux) is missing';
  const args = ['--ro-bind', '/', '/', '--unshare-pid', '--unshare-ipc', '--unshare-uts', ...(privileged ? [] : ['--unshare-user', '--uid', '0', '--gid', '0']), '--', 'true'];
  const r = spawnSync(tools.bwrap, args, { encoding: 'utf8', timeout: 10_000 });
  if (r.status === 0) return undefined;
  const msg = (r.stderr || r.error?.message || `exit ${r.status}`).trim();
  return privileged
    ? `bubblewrap cannot start a sandbox: ${msg}`
    : `bubblewrap cannot start a rootless sandbox: ${msg} (enable unprivileged user namespaces: sysctl kernel.unprivileged_userns_clone=1 and user.max_user_namespaces > 0)`;
}

function checkChroot(tools: SandboxTools, privileged: boolean): string | undefined {
  if (!privileged) return 'unshare + chroot needs root (run kiln as root, or install bubblewrap for rootless builds)';
  const missing = (['unshare', 'setpriv', 'mount', 'sh'] as const).filter((t) => tools[t] === undefined);
  if (missing.length > 0) return `unshare + chroot needs ${missing.join(', ')} (util-linux, mount, dash)`;
  return undefined;
}
