import type { PlannedMount } from './mounts.ts';
import type { RunUser } from './types.ts';

/**
 * Capabilities a root RUN keeps: containerd's default set, which BuildKit
 * uses (and Docker's defaults).
 */
export const DEFAULT_CAPS = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID',
  'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE',
] as const;

/**
 * How bubblewrap gets its user namespace:
 * - `none`: kiln is root and the RUN is root: no user namespace, the default capabilities;
 * - `block`: kiln is root and the RUN is not: bwrap is started as the RUN's
 *   user (setpriv, with its groups) and waits on fd 4 until kiln has written
 *   an identity map of all of kiln's ids into the namespace it made (its pid
 *   comes on fd 3), so files keep their real owners;
 * - `single`: rootless: bwrap maps the RUN's ids to the calling user alone.
 */
export type UserNamespaceMode = 'none' | 'block' | 'single';

export interface BwrapInput {
  root: string;
  mounts: readonly PlannedMount[];
  cwd: string;
  hostname: string;
  network: 'default' | 'none' | 'host';
  userns: UserNamespaceMode;
  user: RunUser;
  argv: readonly string[];
}

/** The bwrap arguments for one run (without the program itself). */
export function bwrapArgs(input: BwrapInput): string[] {
  const a: string[] = ['--die-with-parent', '--new-session', '--unshare-pid', '--unshare-ipc', '--unshare-uts', '--unshare-cgroup-try'];
  if (input.network === 'none') a.push('--unshare-net');
  a.push('--hostname', input.hostname);
  if (input.userns === 'block') a.push('--unshare-user', '--info-fd', '3', '--userns-block-fd', '4');
  if (input.userns === 'single') a.push('--unshare-user', '--uid', String(input.user.uid), '--gid', String(input.user.gid));
  a.push('--bind', input.root, '/');
  for (const m of input.mounts) a.push(...mountArgs(m));
  a.push('--chdir', input.cwd);
  if (input.userns === 'none') {
    a.push('--cap-drop', 'ALL');
    for (const c of DEFAULT_CAPS) a.push('--cap-add', c);
  }
  a.push('--', ...input.argv);
  return a;
}

function mountArgs(m: PlannedMount): string[] {
  switch (m.type) {
    case 'dev':
      return ['--dev', m.target];
    case 'proc':
      return ['--proc', m.target];
    case 'tmpfs':
      return ['--perms', '1777', ...(m.size === undefined ? [] : ['--size', String(m.size)]), '--tmpfs', m.target];
    case 'bind':
      return [m.readonly ? '--ro-bind' : '--bind', m.source!, m.target];
  }
}
