import type { DirNode, Node } from '../vfs/index.ts';

/** Which program isolates the command: bubblewrap, or `unshare` + chroot (root only). */
export type BackendName = 'bwrap' | 'chroot';

/**
 * How ids on disk relate to the ids of the image:
 * - `host`: kiln runs as root (really, or as root of a user namespace with a
 *   full range, see {@link rootlessUserNamespace}): disk ids are image ids.
 * - `single`: kiln runs as an unprivileged user with one id mapped; files
 *   are owned by that user on disk and capture infers owners (see capture).
 */
export type IdMapping = 'host' | 'single';

/** The user a RUN executes as: ids already resolved (see {@link resolveRunUser}). */
export interface RunUser {
  uid: number;
  gid: number;
  /** Supplementary groups; BuildKit puts the primary gid first (resolveRunUser does). */
  additionalGids: readonly number[];
}

/** Where a bind mount's content comes from. */
export type BindSource =
  /** A host file or directory (never written: `readonly: false` binds a private copy). */
  | { kind: 'host'; path: string }
  /** A tree (a stage, an image, the context, selected by `source=`), materialized for the run. */
  | { kind: 'tree'; node: Node };

/**
 * One `RUN --mount`, with the executor's choices already made. Every
 * `target` is an absolute image path, resolved inside the rootfs
 * (symlinks confined to it); nothing mounted ever reaches the captured tree.
 */
export type SandboxMount =
  /** `type=bind`: read-only, or read-write with the writes discarded after the run (BuildKit). */
  | { type: 'bind'; target: string; source: BindSource; readonly: boolean }
  /** `type=cache`: a host directory the caller owns (created with uid/gid/mode, locked for sharing=locked); writes persist. */
  | { type: 'cache'; target: string; hostDir: string; readonly?: boolean }
  /** `type=tmpfs`, `size` in bytes. */
  | { type: 'tmpfs'; target: string; size?: number }
  /** `type=secret` as a file (default target /run/secrets/<id>, mode 0400, owner 0:0): the bytes never touch the rootfs. */
  | { type: 'secret'; target: string; data: Buffer; uid?: number; gid?: number; mode?: number }
  /** `type=ssh`: the host agent socket bound at `target` (the caller sets SSH_AUTH_SOCK). */
  | { type: 'ssh'; target: string; socket: string };

/** `--add-host` entries appended to the generated /etc/hosts. */
export interface ExtraHost {
  host: string;
  ip: string;
}

/**
 * One RUN. The executor builds the final argv: shell form wrapped with
 * SHELL (`['/bin/sh', '-c', cmd]`), exec form as written, a heredoc with a
 * shebang as a file bound under /dev/pipes/ (see README). argv[0] is looked
 * up in the PATH of `env` inside the sandbox.
 */
export interface RunSpec {
  argv: readonly string[];
  /** `KEY=VALUE` entries (ENV + visible ARGs). PATH is added when missing (BuildKit's default); HOME from /etc/passwd when missing (as runc). */
  env: readonly string[];
  /** Absolute working directory; created (0755 root:root) when missing, as BuildKit does. */
  cwd: string;
  user: RunUser;
  /** `default` and `host` share the host's network; `none` has only a loopback interface. Default: `default`. */
  network?: 'default' | 'none' | 'host';
  /** Default `buildkitsandbox` (BuildKit's). */
  hostname?: string;
  extraHosts?: readonly ExtraHost[];
  mounts?: readonly SandboxMount[];
  /** Output as it comes (chunks, not lines). */
  onStdout?: (chunk: Buffer) => void;
  onStderr?: (chunk: Buffer) => void;
  /** Aborting kills the whole sandbox (RUN_SIGNALED). */
  signal?: AbortSignal;
}

export interface RunResult {
  exitCode: number;
  /** The last lines of stdout and stderr interleaved (at most ~4 KiB). */
  tail: string;
}

export interface RunOptions {
  /** When false, a non-zero exit is returned instead of thrown as RUN_FAILED. Default true. */
  check?: boolean;
}

