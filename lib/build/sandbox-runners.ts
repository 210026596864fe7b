/**
 * The composition root's RUN runner: lib/sandbox behind the executor's
 * StageRunner interface (the executor may not import the sandbox).
 */
import type { SourceLocation } from '../errors.ts';
import type { RunMountRequest, StageRunner } from '../executor/index.ts';
import { emulationFor, formatBinfmtPlatform, RootfsSession, resolveRunUser, type SandboxMount } from '../sandbox/index.ts';
import { type DirNode, emptyDir, resolvePath, setNode, type SpillDir } from '../vfs/index.ts';
import { BuildError } from './build-error.ts';
import { type CacheMountLease, CacheMounts } from './cache-mounts.ts';

/**
 * RUN through lib/sandbox: one rootfs session per stage (made on its first
 * RUN, kept across its RUN steps), USER resolved in the stage's own
 * /etc/passwd, mounts turned into sandbox mounts (cache folders under
 * $KILN_HOME/cache-mounts, secrets from the build's secrets, never written to
 * the rootfs).
 */
export function sandboxRunners(ctx: { spill: SpillDir; home: string; secrets: ReadonlyMap<string, Buffer> }): () => StageRunner {
  const caches = new CacheMounts(ctx.home);
  return () => {
    let session: RootfsSession | undefined;
    return {
      async run(tree, req, output) {
        // A foreign platform's binaries run only through a registered emulator: never try them without one.
        const emulation = emulationFor(req.platform);
        if (emulation.kind === 'missing') throw new BuildError('RUN_EMULATOR_MISSING', emulation.message, { location: req.location, platform: formatBinfmtPlatform(req.platform) });
        session ??= await RootfsSession.create(tree, { spill: ctx.spill, dir: ctx.home });
        await session.syncTo(tree);
        const user = resolveRunUser(session.tree, req.user);
        const env = [...req.env];
        const mounts: SandboxMount[] = [];
        const leases: CacheMountLease[] = [];
        try {
          for (const m of req.mounts) {
            if (m.type !== 'cache') {
              mounts.push(...sandboxMount(m, ctx, env, req.location));
              continue;
            }
            const lease = await caches.lease(m);
            leases.push(lease);
            mounts.push({ type: 'cache', target: m.target, hostDir: lease.dir, readonly: m.readonly });
          }
          if (req.pipes.length > 0) mounts.push({ type: 'bind', target: '/dev/pipes', readonly: true, source: { kind: 'tree', node: pipesTree(req.pipes) } });
          await session.run({ argv: req.argv, env, cwd: req.cwd, user: { uid: user.uid, gid: user.gid, additionalGids: user.additionalGids }, network: req.network, mounts, onStdout: output, onStderr: output });
        } finally {
          for (const l of leases) l.release();
        }
        return session.capture();
      },
      async dispose() {
        session?.dispose();
      },
    };
  };
}

function sandboxMount(m: RunMountRequest, ctx: { home: string; secrets: ReadonlyMap<string, Buffer> }, env: string[], location: SourceLocation): SandboxMount[] {
  switch (m.type) {
    case 'bind': {
      const node = m.path === '/' ? m.tree : resolvePath(m.tree, m.path, { followFinal: true }).node;
      if (node === undefined) throw new BuildError('MOUNT_SOURCE_NOT_FOUND', `mount source ${m.path} not found`, { location });
      return [{ type: 'bind', target: m.target, readonly: m.readonly, source: { kind: 'tree', node } }];
    }
    case 'cache':
      throw new BuildError('INTERNAL', 'cache mounts are leased, not made here', { location });
    case 'tmpfs':
      return [{ type: 'tmpfs', target: m.target, ...(m.size > 0 ? { size: m.size } : {}) }];
    case 'secret': {
      const data = ctx.secrets.get(m.id);
      if (data === undefined) {
        if (m.required) throw new BuildError('SECRET_MISSING', `secret ${m.id} is required but was not given (--secret id=${m.id},src=FILE)`, { location });
        return [];
      }
      if (m.env !== undefined) env.push(`${m.env}=${data.toString('utf8')}`);
      return m.target === undefined ? [] : [{ type: 'secret', target: m.target, data, uid: m.uid, gid: m.gid, mode: m.mode }];
    }
    case 'ssh': {
      const socket = process.env.SSH_AUTH_SOCK;
      if (socket === undefined) {
        if (m.required) throw new BuildError('SSH_AGENT_MISSING', 'RUN --mount=type=ssh needs an SSH agent (SSH_AUTH_SOCK)', { location });
        return [];
      }
      const target = m.target ?? `/run/buildkit/ssh_agent.${m.id}`;
      env.push(`SSH_AUTH_SOCK=${target}`);
      return [{ type: 'ssh', target, socket }];
    }
  }
}

function pipesTree(pipes: readonly { name: string; data: Buffer }[]): DirNode {
  let tree = emptyDir();
  for (const p of pipes) tree = setNode(tree, [p.name], { kind: 'file', meta: { mode: 0o755, uid: 0, gid: 0, mtime: 0 }, size: p.data.length, content: { kind: 'bytes', data: p.data } });
  return tree;
}
