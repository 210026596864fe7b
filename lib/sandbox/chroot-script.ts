import { DEFAULT_CAPS } from './bwrap-args.ts';
import type { PlannedMount } from './mounts.ts';
import type { SandboxTools } from './probe.ts';
import type { RunUser } from './types.ts';

export interface ChrootInput {
  root: string;
  mounts: readonly PlannedMount[];
  cwd: string;
  hostname: string;
  network: 'default' | 'none' | 'host';
  user: RunUser;
  tools: Required<Pick<SandboxTools, 'unshare' | 'setpriv' | 'mount' | 'sh'>> & Pick<SandboxTools, 'ip'>;
}

/** Single-quotes a word for sh. */
export function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * The unshare + chroot backend (root only): `unshare` makes new mount, pid,
 * uts, ipc (and, for `none`, network) namespaces and runs a host `sh` that
 * mounts /proc, a minimal /dev (tmpfs with the host's null, zero, full,
 * random, urandom and tty bound in, devpts, shm), the run's binds and
 * tmpfs, sets the hostname, then execs `setpriv` (gid and groups, and for
 * root the default capability bounding set) → `unshare --root --wd
 * [--setuid]` → the command, which is given as "$@" so it is never
 * re-parsed by the shell. Returns the program and its arguments.
 */
export function chrootCommand(input: ChrootInput, argv: readonly string[]): string[] {
  const t = input.tools;
  const ns = ['--mount', '--uts', '--ipc', '--pid', '--fork', '--kill-child', '--propagation', 'private'];
  if (input.network === 'none') ns.push('--net');
  return [t.unshare, ...ns, '--', t.sh, '-c', script(input), 'kiln-sandbox', ...argv];
}

function script(input: ChrootInput): string {
  const { tools: t, root } = input;
  const at = (target: string): string => shQuote(root + target);
  // Host tools by the host's PATH; the command gets its own PATH back before exec.
  const lines = ['set -e', 'kiln_path=$PATH', 'PATH=/usr/sbin:/usr/bin:/sbin:/bin'];
  if (input.network === 'none' && t.ip !== undefined) lines.push(`${t.ip} link set lo up`);
  lines.push(`printf %s ${shQuote(input.hostname)} > /proc/sys/kernel/hostname`);
  for (const m of input.mounts) lines.push(...mountLines(m, at(m.target), at(m.target.slice(0, m.target.lastIndexOf('/'))), t.mount));
  const u = input.user;
  const groups = u.additionalGids.length > 0 ? ['--groups', u.additionalGids.join(',')] : ['--clear-groups'];
  const setpriv = [t.setpriv, '--regid', String(u.gid), ...groups];
  if (u.uid === 0) setpriv.push('--inh-caps=-all', `--bounding-set=-all,${DEFAULT_CAPS.map((c) => `+${c.slice(4).toLowerCase()}`).join(',')}`);
  const chroot = [t.unshare, '--root', root, '--wd', input.cwd, ...(u.uid === 0 ? [] : ['--setuid', String(u.uid)])];
  lines.push('PATH=$kiln_path');
  lines.push(`exec ${[...setpriv, '--', ...chroot].map(shQuote).join(' ')} -- "$@"`);
  return lines.join('\n');
}

function mountLines(m: PlannedMount, dst: string, parent: string, mount: string): string[] {
  const mk = m.kind === 'dir' ? `mkdir -p ${dst}` : `[ -e ${dst} ] || { mkdir -p ${parent} && : > ${dst}; }`;
  const q = shQuote(mount);
  switch (m.type) {
    case 'proc':
      return [`mkdir -p ${dst}`, `${q} -t proc -o nosuid,nodev,noexec proc ${dst}`];
    case 'dev':
      return [
        `mkdir -p ${dst}`,
        `${q} -t tmpfs -o nosuid,mode=755,size=65536k tmpfs ${dst}`,
        `for d in null zero full random urandom tty; do : > ${dst}/$d; ${q} --bind /dev/$d ${dst}/$d; done`,
        `mkdir ${dst}/pts ${dst}/shm`,
        `${q} -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts ${dst}/pts`,
        `${q} -t tmpfs -o nosuid,nodev,noexec,mode=1777,size=65536k shm ${dst}/shm`,
        `ln -s pts/ptmx ${dst}/ptmx; ln -s /proc/self/fd ${dst}/fd; ln -s /proc/self/fd/0 ${dst}/stdin; ln -s /proc/self/fd/1 ${dst}/stdout; ln -s /proc/self/fd/2 ${dst}/stderr`,
      ];
    case 'tmpfs':
      return [mk, `${q} -t tmpfs -o nosuid,nodev,mode=1777${m.size === undefined ? '' : `,size=${m.size}`} tmpfs ${dst}`];
    case 'bind': {
      const out = [mk, `${q} --bind ${shQuote(m.source!)} ${dst}`];
      if (m.readonly) out.push(`${q} -o remount,bind,ro ${dst}`);
      return out;
    }
  }
}
