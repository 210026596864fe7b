import { type DirNode, readTreeFile } from '../vfs/index.ts';
import { SandboxError } from './errors.ts';
import type { RunUser } from './types.ts';

/** A resolved RUN user, with the home directory runc gives HOME when the env has none. */
export interface ResolvedUser extends RunUser {
  home: string;
}

const MAX_ID = 2 ** 31 - 1;
// BuildKit's openUserFile refuses larger files.
const MAX_USER_FILE = 10 << 20;

/**
 * Resolves a Dockerfile USER value for RUN the way BuildKit does
 * (executor/oci GetUser → moby/sys/user GetExecUser, then containerd's
 * ensureAdditionalGids): `uid:gid` with both numeric (or `root`) is taken as
 * is; otherwise the user (name, or number matched against the uid column)
 * is looked up in the tree's /etc/passwd — a number with no entry is used
 * as is with gid 0 — and, when no group is given, every /etc/group entry
 * listing the user's name adds a supplementary group. The primary gid is
 * always the first additional gid. An empty spec is root. Names that
 * cannot be found are USER_UNKNOWN / GROUP_UNKNOWN.
 */
export function resolveRunUser(tree: DirNode, spec: string): ResolvedUser {
  const fast = spec === '' ? { uid: 0, gid: 0 } : parseUidGid(spec);
  let user: { uid: number; gid: number; sgids: number[]; name?: string };
  if (fast !== undefined) user = { ...fast, sgids: [] };
  else user = lookup(tree, spec);
  const passwd = readDb(tree, '/etc/passwd');
  const home = passwd?.find((r) => Number(r[2]) === user.uid && r[2] !== '')?.[5] || '/';
  const additionalGids = user.sgids.includes(user.gid) ? user.sgids : [user.gid, ...user.sgids];
  return { uid: user.uid, gid: user.gid, additionalGids, home };
}

function lookup(tree: DirNode, spec: string): { uid: number; gid: number; sgids: number[] } {
  const i = spec.indexOf(':');
  const userArg = i < 0 ? spec : spec.slice(0, i);
  const groupArg = i < 0 ? '' : spec.slice(i + 1);
  const uidArg = parseNumber(userArg);
  const passwd = readDb(tree, '/etc/passwd');
  const row = passwd?.find((r) => (uidArg !== undefined ? Number(r[2]) === uidArg && r[2] !== '' : r[0] === userArg));
  let uid = 0;
  let gid = 0;
  let name: string | undefined;
  if (row !== undefined) {
    name = row[0];
    uid = Number(row[2]);
    gid = Number(row[3] ?? 0) || 0;
  } else if (userArg !== '') {
    if (uidArg === undefined) throw new SandboxError('USER_UNKNOWN', `unable to find user ${userArg}: no matching entries in passwd file`, { user: userArg });
    uid = uidArg;
  }
  const sgids: number[] = [];
  if (groupArg !== '' || name !== undefined) {
    const groups = readDb(tree, '/etc/group') ?? [];
    const gidArg = parseNumber(groupArg);
    if (groupArg !== '') {
      const g = groups.find((r) => (gidArg !== undefined ? Number(r[2]) === gidArg && r[2] !== '' : r[0] === groupArg));
      if (g !== undefined) gid = Number(g[2]);
      else if (gidArg !== undefined) gid = gidArg;
      else throw new SandboxError('GROUP_UNKNOWN', `unable to find group ${groupArg}: no matching entries in group file`, { group: groupArg });
    } else {
      for (const g of groups) if ((g[3] ?? '').split(',').includes(name!)) sgids.push(Number(g[2]));
    }
  }
  return { uid, gid, sgids };
}

/** BuildKit's ParseUIDGID fast path: both parts numeric (or `root`). */
function parseUidGid(spec: string): { uid: number; gid: number } | undefined {
  const i = spec.indexOf(':');
  if (i < 0) return undefined;
  const uid = parseId(spec.slice(0, i));
  const gid = parseId(spec.slice(i + 1));
  return uid === undefined || gid === undefined ? undefined : { uid, gid };
}

function parseId(s: string): number | undefined {
  return s === 'root' ? 0 : parseNumber(s);
}

function parseNumber(s: string): number | undefined {
  if (!/^\d+$/.test(s)) return undefined;
  const n = Number(s);
  return n <= MAX_ID ? n : undefined;
}

/** The colon-separated rows of a passwd/group file (comments and blank lines skipped); undefined when the file is missing. */
function readDb(tree: DirNode, path: string): string[][] | undefined {
  let bytes: Buffer | undefined;
  try {
    bytes = readTreeFile(tree, path, MAX_USER_FILE);
  } catch (cause) {
    throw new SandboxError('USER_UNKNOWN', `cannot read ${path}: ${(cause as Error).message}`, { cause });
  }
  if (bytes === undefined) return undefined;
  return bytes
    .toString('utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => l.split(':'));
}
