import { type DirNode, readTreeFile } from '../vfs/index.ts';
import { BuildStepError } from './errors.ts';
import type { SourceLocation } from '../errors.ts';

export interface Owner {
  uid: number;
  gid: number;
}

/**
 * Resolves `user[:group]` (names or numeric ids) against the stage's own
 * /etc/passwd and /etc/group, as BuildKit does for `--chown`, WORKDIR and
 * USER: a numeric user without a group gets the user's primary group from
 * /etc/passwd, or 0 when the user is not listed there. An unknown name gives
 * USER_UNKNOWN / GROUP_UNKNOWN.
 */
export function resolveOwner(tree: DirNode, spec: string, location: SourceLocation): Owner {
  const [user = '', group] = splitOnce(spec, ':');
  const passwd = parseDb(readTreeFile(tree, '/etc/passwd'));
  let uid: number;
  let gid: number;
  if (/^\d+$/.test(user)) {
    uid = Number(user);
    const row = passwd.find((r) => r[2] === user);
    gid = row ? Number(row[3]) : 0;
  } else {
    const row = passwd.find((r) => r[0] === user);
    if (row === undefined) throw new BuildStepError('USER_UNKNOWN', `unable to find user ${user}: no matching entries in passwd file`, { location, user });
    uid = Number(row[2]);
    gid = Number(row[3]);
  }
  if (group !== undefined) {
    if (/^\d+$/.test(group)) gid = Number(group);
    else {
      const row = parseDb(readTreeFile(tree, '/etc/group')).find((r) => r[0] === group);
      if (row === undefined) throw new BuildStepError('GROUP_UNKNOWN', `unable to find group ${group}: no matching entries in group file`, { location, group });
      gid = Number(row[2]);
    }
  }
  return { uid, gid };
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
