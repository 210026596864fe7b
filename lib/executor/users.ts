import { type DirNode, readTreeFile } from '../vfs/index.ts';
import { BuildStepError } from './errors.ts';
import type { SourceLocation } from '../errors.ts';

export interface Owner {
  uid: number;
  gid: number;
}

/**
 * Resolves `user[:group]` the way BuildKit's file operations do (llb.WithUser
 * and the solver's readUser), which is what `COPY --chown` and the directory
 * WORKDIR creates for USER use: `root` and numbers are ids, and a user given
 * by id alone gets the same number as group (`1000` is 1000:1000); a name
 * is looked up in the stage's own /etc/passwd (its primary group) or
 * /etc/group. Where BuildKit silently falls back to 0 for a name it cannot
 * find, kiln stops with USER_UNKNOWN / GROUP_UNKNOWN. (A RUN as USER resolves
 * differently: the primary group of a numeric user; not handled here.)
 */
export function resolveOwner(tree: DirNode, spec: string, location: SourceLocation): Owner {
  const [user = '', group] = splitOnce(spec, ':');
  let uid: number;
  let gid: number;
  const userId = parseId(user);
  if (userId !== undefined) {
    uid = userId;
    gid = userId;
  } else {
    const row = parseDb(readTreeFile(tree, '/etc/passwd')).find((r) => r[0] === user);
    if (row === undefined) throw new BuildStepError('USER_UNKNOWN', `unable to find user ${user}: no matching entries in passwd file`, { location, user });
    uid = Number(row[2]);
    gid = Number(row[3]);
  }
  if (group !== undefined) {
    const groupId = parseId(group);
    if (groupId !== undefined) gid = groupId;
    else {
      const row = parseDb(readTreeFile(tree, '/etc/group')).find((r) => r[0] === group);
      if (row === undefined) throw new BuildStepError('GROUP_UNKNOWN', `unable to find group ${group}: no matching entries in group file`, { location, group });
      gid = Number(row[2]);
    }
  }
  return { uid, gid };
}

/** llb's parseUID: `root` is 0, a decimal number is itself; anything else is a name. */
function parseId(s: string): number | undefined {
  if (s === 'root') return 0;
  return /^\d+$/.test(s) && Number(s) < 2 ** 31 ? Number(s) : undefined;
}

function splitOnce(s: string, sep: string): [string, string?] {
  const i = s.indexOf(sep);
  return i < 0 ? [s] : [s.slice(0, i), s.slice(i + 1)];
}

function parseDb(bytes: Buffer | undefined): string[][] {
  if (bytes === undefined) return [];
  return bytes
    .toString('utf8')
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith('#'))
    .map((l) => l.split(':'));
}
