import { cleanPath, type DirNode } from '../vfs/index.ts';
import { bwrapArgs, type UserNamespaceMode } from './bwrap-args.ts';
import { chrootCommand } from './chroot-script.ts';
import { DEFAULT_HOSTNAME } from './etc-files.ts';
import { SandboxError } from './errors.ts';
import { planMounts } from './mounts.ts';
import type { SandboxInfo } from './probe.ts';
import { spawnSandbox } from './spawn.ts';
import { removeStubs } from './stubs.ts';
import type { RunOptions, RunResult, RunSpec } from './types.ts';
import { resolveRunUser } from './users.ts';

/** BuildKit's default PATH (util/system DefaultPathEnvUnix), for an env without one. */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface RootfsContext {
  root: string;
  /** What the rootfs holds (mountpoints are resolved against it). */
  tree: DirNode;
  info: SandboxInfo;
  /** A private, empty directory for this run's generated files. */
  runDir: string;
  /** Called right before the command starts (see RootfsSession). */
  fence: () => void;
}

/** Prepares the mounts, runs the command with the chosen backend, removes the mountpoints it created. */
export async function runInRootfs(ctx: RootfsContext, spec: RunSpec, opts: RunOptions): Promise<RunResult> {
  if (spec.argv.length === 0) throw new SandboxError('ARGV_EMPTY', 'RUN has no command');
  const env = runEnv(ctx.tree, spec);
  const cwd = cleanPath(spec.cwd);
  const hostname = spec.hostname ?? DEFAULT_HOSTNAME;
  const network = spec.network ?? 'default';
  const privileged = ctx.info.idMapping === 'host';
  const plan = await planMounts(ctx.tree, spec, ctx.runDir, privileged);
  let command: string[];
  let userns: UserNamespaceMode = 'none';
  const t = ctx.info.tools;
  if (ctx.info.backend === 'bwrap') {
    userns = !privileged ? 'single' : spec.user.uid === 0 ? 'none' : 'block';
    const args = bwrapArgs({ root: ctx.root, mounts: plan.mounts, cwd, hostname, network, userns, user: spec.user, argv: spec.argv });
    command = privileged ? [t.setpriv!, ...setprivIds(spec), '--', t.bwrap!, ...args] : [t.bwrap!, ...args];
  } else {
    const tools = { unshare: t.unshare!, setpriv: t.setpriv!, mount: t.mount!, sh: t.sh!, ...(t.ip === undefined ? {} : { ip: t.ip }) };
    command = chrootCommand({ root: ctx.root, mounts: plan.mounts, cwd, hostname, network, user: spec.user, tools }, spec.argv);
  }
  let result;
  try {
    ctx.fence();
    result = await spawnSandbox({
      command: command[0]!,
      args: command.slice(1),
      env,
      blockUserns: userns === 'block',
      ...(spec.onStdout === undefined ? {} : { onStdout: spec.onStdout }),
      ...(spec.onStderr === undefined ? {} : { onStderr: spec.onStderr }),
      ...(spec.signal === undefined ? {} : { signal: spec.signal }),
    });
  } finally {
    removeStubs(ctx.root, ctx.tree, plan.stubs);
  }
  if (result.aborted || result.exitCode === null) {
    const signal = result.aborted ? 'SIGKILL' : result.signal;
    throw new SandboxError('RUN_SIGNALED', `the command was killed (${signal}${result.aborted ? ', aborted' : ''})`, { signal, tail: result.tail });
  }
  if (result.exitCode !== 0 && opts.check !== false) {
    const shown = result.tail === '' ? '' : `:\n${result.tail}`;
    throw new SandboxError('RUN_FAILED', `${JSON.stringify(spec.argv)} exited with code ${result.exitCode}${shown}`, { exitCode: result.exitCode, tail: result.tail });
  }
  return { exitCode: result.exitCode, tail: result.tail };
}

/** setpriv's ids for a privileged bwrap: the RUN's gid and groups, and its uid when it is not root. */
function setprivIds(spec: RunSpec): string[] {
  const u = spec.user;
  const ids = u.uid === 0 ? [] : ['--reuid', String(u.uid)];
  ids.push('--regid', String(u.gid));
  if (u.additionalGids.length > 0) ids.push('--groups', u.additionalGids.join(','));
  else ids.push('--clear-groups');
  return ids;
}

/**
 * The command's environment: the spec's `KEY=VALUE` entries (the last of
 * a repeated key wins; an entry without `=` is dropped), PATH defaulted as
 * BuildKit does, HOME from the user's /etc/passwd entry (else `/`) when
 * missing, as runc does.
 */
export function runEnv(tree: DirNode, spec: RunSpec): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of spec.env) {
    const i = e.indexOf('=');
    if (i > 0) env[e.slice(0, i)] = e.slice(i + 1);
  }
  env['PATH'] ??= DEFAULT_PATH;
  if (env['HOME'] === undefined) {
    let home = '/';
    try {
      home = resolveRunUser(tree, `${spec.user.uid}`).home;
    } catch {
      // unreadable passwd: `/`
    }
    env['HOME'] = home;
  }
  return env;
}
